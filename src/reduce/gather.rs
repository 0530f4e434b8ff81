//! Gathering a submitted run: merge every valid part exactly, and say precisely which slices are
//! missing or corrupt, with their log files.

use std::path::PathBuf;

use super::Accumulator;
use super::part::{self, Expected, Part, Problem};
use super::task_results::TaskOutcome;
use crate::executor::task::expected_task_part;
use crate::plan;
use crate::run_dir::RunDir;
use crate::spec::TasksSpec;

/// What the parts of a run add up to: `total` from every valid part, and the slices without one.
pub struct Gathered<T> {
    pub total: T,
    pub missing: Vec<u32>,
    /// Slice and reason.
    pub corrupt: Vec<(u32, String)>,
}

impl<T> Gathered<T> {
    pub fn complete(&self) -> bool {
        self.missing.is_empty() && self.corrupt.is_empty()
    }

    /// Slices to run again: missing or corrupt, in order.
    pub fn unusable(&self) -> Vec<u32> {
        let mut slices: Vec<u32> = self
            .missing
            .iter()
            .copied()
            .chain(self.corrupt.iter().map(|(s, _)| *s))
            .collect();
        slices.sort_unstable();
        slices
    }
}

/// Reads every slice's part; `absorb` takes in a valid one or says why it cannot be used.
fn gather_parts<'a, T>(
    run_dir: &'a RunDir,
    total: T,
    expected: impl Fn(u32) -> Expected<'a>,
    mut absorb: impl FnMut(&mut T, Part) -> Result<(), String>,
) -> Gathered<T> {
    let mut gathered = Gathered {
        total,
        missing: Vec::new(),
        corrupt: Vec::new(),
    };
    for index in 0..run_dir.spec.split.ranks {
        match part::read(&run_dir.parts(), &expected(index)) {
            Ok(part) => {
                if let Err(reason) = absorb(&mut gathered.total, part) {
                    gathered.corrupt.push((index, reason));
                }
            }
            Err(Problem::Missing) => gathered.missing.push(index),
            Err(Problem::Corrupt(reason)) => gathered.corrupt.push((index, reason)),
        }
    }
    gathered
}

/// Merges the exact accumulators of a compute run.
pub fn gather(run_dir: &RunDir, samples: u64, shift: f64) -> Gathered<Accumulator> {
    let spec = &run_dir.spec;
    let slices = spec.split.ranks;
    let histogram = spec.reduce.histogram;
    gather_parts(
        run_dir,
        Accumulator::new(shift, histogram),
        |index| {
            let slice = plan::slice(samples, slices, index);
            Expected {
                job_hash: &run_dir.job_hash,
                slice: index,
                slices,
                start: slice.start,
                end: slice.end,
            }
        },
        |total, part| {
            let acc = part
                .accumulator(histogram)
                .map_err(|problem| match problem {
                    Problem::Corrupt(reason) => reason,
                    Problem::Missing => "no accumulator".into(),
                })?;
            if acc.shift.to_bits() != shift.to_bits() {
                return Err("computed with another shift".into());
            }
            total.merge(&acc);
            Ok(())
        },
    )
}

/// Collects the task outcomes of a task run; a part must hold exactly its slice's tasks.
pub fn gather_tasks(run_dir: &RunDir, tasks: &TasksSpec) -> Gathered<Vec<TaskOutcome>> {
    let slices = run_dir.spec.split.ranks;
    gather_parts(
        run_dir,
        Vec::new(),
        |index| expected_task_part(run_dir, tasks, index),
        |total, part| {
            let ids: Vec<u64> = part.tasks.iter().map(|o| o.task).collect();
            if ids != plan::tasks_of_slice(tasks.count, slices, part.slice) {
                return Err("holds other tasks than this slice's".into());
            }
            total.extend(part.tasks);
            Ok(())
        },
    )
}

/// The log files of one slice (any job of the run: `logs/<job>_<slice>.out` and `.err`).
pub fn logs_of(run_dir: &RunDir, slice: u32) -> Vec<PathBuf> {
    let stem = format!("_{slice}.");
    let mut logs: Vec<PathBuf> = std::fs::read_dir(run_dir.logs())
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                let name = n.to_string_lossy();
                name.strip_suffix("out")
                    .or_else(|| name.strip_suffix("err"))
                    .is_some_and(|rest| rest.ends_with(&stem))
            })
        })
        .collect();
    logs.sort();
    logs
}

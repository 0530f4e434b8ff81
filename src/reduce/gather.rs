//! Gathering a submitted run: merge every valid part exactly, and say precisely which slices are
//! missing or corrupt, with their log files.

use std::path::PathBuf;

use super::Accumulator;
use super::part::{self, Expected, Problem};
use crate::plan;
use crate::run_dir::RunDir;

pub struct Gathered {
    pub total: Accumulator,
    pub missing: Vec<u32>,
    /// Slice and reason.
    pub corrupt: Vec<(u32, String)>,
}

impl Gathered {
    pub fn complete(&self) -> bool {
        self.missing.is_empty() && self.corrupt.is_empty()
    }
}

pub fn gather(run_dir: &RunDir, shift: f64) -> Gathered {
    let spec = &run_dir.spec;
    let slices = spec.split.ranks;
    let mut gathered = Gathered {
        total: Accumulator::new(shift, spec.reduce.histogram),
        missing: Vec::new(),
        corrupt: Vec::new(),
    };
    for index in 0..slices {
        let slice = plan::slice(spec.compute.samples, slices, index);
        let expected = Expected {
            job_hash: &run_dir.job_hash,
            slice: index,
            slices,
            start: slice.start,
            end: slice.end,
            histogram: spec.reduce.histogram,
        };
        match part::read(&run_dir.parts(), &expected) {
            Ok(acc) if acc.shift.to_bits() == shift.to_bits() => gathered.total.merge(&acc),
            Ok(_) => gathered
                .corrupt
                .push((index, "computed with another shift".into())),
            Err(Problem::Missing) => gathered.missing.push(index),
            Err(Problem::Corrupt(reason)) => gathered.corrupt.push((index, reason)),
        }
    }
    gathered
}

/// The log files of one slice (any array job of the run: `logs/<job>_<slice>.out`).
pub fn logs_of(run_dir: &RunDir, slice: u32) -> Vec<PathBuf> {
    let suffix = format!("_{slice}.out");
    let mut logs: Vec<PathBuf> = std::fs::read_dir(run_dir.logs())
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with(&suffix))
        })
        .collect();
    logs.sort();
    logs
}

//! Submission: prepare a run directory with a scheduler's files, hand it to the scheduler,
//! follow it in the queue, cancel it. Each scheduler is a [`Backend`] ([`slurm`], [`condor`]);
//! which one a run uses is in its manifest. [`survey`] says where every slice stands.

pub mod backend;
pub mod condor;
pub mod queue;
pub mod slurm;
pub mod survey;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::diagnostic::AppError;
use crate::jobfile::inputs::Resolved;
use crate::plan::JobPlan;
pub use crate::run_dir::manifest::Scheduler;
use crate::run_dir::manifest::{self, Manifest};
use crate::run_dir::parts::PartsSeen;
use crate::run_dir::{PLAN_FILE, RunDir};
use crate::spec::{JobSpec, SlurmMode};
use backend::{Backend, RenderInput};
use queue::QueueEntry;
use survey::Survey;

pub fn backend(scheduler: Scheduler) -> &'static dyn Backend {
    match scheduler {
        Scheduler::Slurm => &slurm::Slurm,
        Scheduler::Condor => &condor::Condor,
    }
}

/// How a run is to be submitted.
pub struct Request<'a> {
    pub spec: &'a JobSpec,
    pub source: &'a str,
    pub run_dir: &'a Path,
    pub scheduler: Scheduler,
    pub mode: SlurmMode,
    pub plan: &'a JobPlan,
    pub threads_per_slice: usize,
    /// A task job's working directory and inputs, frozen into the run directory.
    pub resolved: Option<&'a Resolved>,
    /// The workflow step this run is, in `<workflow run dir>/steps/<step>`.
    pub step: Option<&'a str>,
}

/// Creates the run directory with its manifest, plan and the scheduler's files. If anything
/// fails, the directory is removed again.
pub fn prepare(request: &Request) -> Result<RunDir, AppError> {
    let binary = this_binary()?;
    let workdir = match request.resolved {
        Some(resolved) => resolved.workdir.clone(),
        None => std::env::current_dir()
            .map_err(|e| AppError::Run(format!("cannot read the current directory: {e}")))?,
    };
    let run_dir = RunDir::create(request.run_dir, request.spec, request.source, |job_hash| {
        Manifest {
            format: manifest::FORMAT,
            hpcsub: env!("CARGO_PKG_VERSION").to_string(),
            job: request.spec.name.clone(),
            job_hash: job_hash.to_string(),
            scheduler: request.scheduler,
            mode: request.mode,
            slices: request.spec.split.slices,
            threads_per_slice: request.threads_per_slice,
            workdir,
            binary,
            created: crate::run_dir::now_utc(),
            step: request.step.map(str::to_string),
            submissions: Vec::new(),
        }
    })?;
    let written = (|| {
        run_dir.write(
            PLAN_FILE,
            &serde_json::to_string_pretty(request.plan).expect("a plan serializes"),
        )?;
        if let Some(resolved) = request.resolved {
            run_dir.freeze_inputs(resolved)?;
        }
        let input = RenderInput {
            spec: &run_dir.spec,
            manifest: &run_dir.manifest,
            run_dir: &run_dir.path,
        };
        for file in backend(request.scheduler).render(&input)? {
            run_dir.write(&file.name, &file.contents)?;
        }
        Ok(())
    })();
    match written {
        Ok(()) => Ok(run_dir),
        Err(err) => {
            run_dir.discard();
            Err(err)
        }
    }
}

/// Looks at the queue once, as every command does.
pub fn queue(run: &RunDir) -> Result<Vec<QueueEntry>, AppError> {
    Ok(backend(run.manifest.scheduler).poll(run, &[])?.entries)
}

/// Where every slice of `run` stands, given its parts (`None` for an MPI-mode run) and what the
/// queue holds.
pub fn survey(run: &RunDir, parts: Option<&PartsSeen>, queue: &[QueueEntry]) -> Survey {
    let backend = backend(run.manifest.scheduler);
    survey::survey(&run.manifest, parts, &run.result_seen(), queue, &|slice| {
        backend.reason_in_logs(run, slice)
    })
}

/// Waits until the jobs `waited` have left the queue, with back-off; `on_poll` sees the queue
/// after each look. Leaving the queue says nothing about success: the caller surveys the parts.
/// Gives up after five failed looks in a row.
pub fn wait(
    run: &RunDir,
    waited: &[String],
    mut on_poll: impl FnMut(&[QueueEntry]),
) -> Result<(), AppError> {
    wait_all(&[(run, waited.to_vec())], |_, entries| on_poll(entries))
}

/// [`wait`] for several runs at once (the steps of a workflow, whose jobs queue together):
/// `on_poll` sees the index of the run and its queue after each look at it, until every run's
/// jobs have left the queue.
pub fn wait_all(
    runs: &[(&RunDir, Vec<String>)],
    mut on_poll: impl FnMut(usize, &[QueueEntry]),
) -> Result<(), AppError> {
    const MAX_FAILURES_IN_A_ROW: u32 = 5;
    let mut interval = Duration::from_millis(250);
    let mut ended = vec![false; runs.len()];
    let mut failures = vec![0; runs.len()];
    loop {
        for (index, (run, waited)) in runs.iter().enumerate() {
            if ended[index] {
                continue;
            }
            match backend(run.manifest.scheduler).poll(run, waited) {
                Ok(poll) => {
                    failures[index] = 0;
                    on_poll(index, &poll.entries);
                    ended[index] = poll.ended;
                }
                Err(err) => {
                    failures[index] += 1;
                    if failures[index] >= MAX_FAILURES_IN_A_ROW {
                        return Err(AppError::Run(format!(
                            "the queue could not be read {MAX_FAILURES_IN_A_ROW} times in a row: {err}"
                        )));
                    }
                }
            }
        }
        if ended.iter().all(|&e| e) {
            return Ok(());
        }
        std::thread::sleep(interval);
        interval = (interval * 2).min(Duration::from_secs(10));
    }
}

/// The absolute path of this binary, which the scripts run.
pub fn this_binary() -> Result<PathBuf, AppError> {
    std::env::current_exe()
        .map_err(|e| AppError::Run(format!("cannot find the hpcsub binary: {e}")))
}

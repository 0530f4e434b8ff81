//! `hpcsub run`: the whole job here on threads, or as one rank of an MPI job; a workflow's steps
//! in order.

use std::path::PathBuf;

use super::job::{self, JobArgs};
use super::local::{Logs, RunOutcome, run_compute, run_tasks};
use super::outcome::Global;
use super::steps;
use crate::diagnostic::AppError;
use crate::executor::ranks;
use crate::spec::{Document, Work};

/// Run a job here, on all cores (or --threads).
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  hpcsub run jobs/quadratic.yaml\n  hpcsub run jobs/pi.yaml --threads 1 --samples 10M --json\n  mpirun -n 2 target/release/hpcsub run jobs/quadratic.yaml   # the MPI build: 2 ranks"
)]
pub struct Args {
    #[command(flatten)]
    job: JobArgs,
    /// Run as an MPI rank even if no MPI launcher is detected (needs the `mpi` build).
    #[arg(long)]
    mpi: bool,
    /// Task jobs: keep each task's stdout and stderr in DIR (default: a temporary directory,
    /// kept only if a task fails).
    #[arg(long, value_name = "DIR")]
    logs: Option<PathBuf>,
    /// Workflows: the run directory, where each step leaves its result; a step whose
    /// definition, inputs and needed results are unchanged since it ran there is not run again
    /// (default: runs/<name>-<UTC timestamp>).
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// Workflows: run STEP again even if its result could be kept (repeatable).
    #[arg(long, value_name = "STEP")]
    pub force: Vec<String>,
}

impl Args {
    /// A plain in-process run of `job`, as `scale` times it.
    pub fn for_scale(job: JobArgs) -> Args {
        Args {
            job,
            mpi: false,
            logs: None,
            run_dir: None,
            force: Vec::new(),
        }
    }
}

pub fn run(args: &Args, global: Global) -> Result<RunOutcome, AppError> {
    let ranks = ranks::decide(args.mpi);
    let loaded = job::load_document(&args.job.job)?;
    let mut spec = match loaded.document {
        Document::Job(spec) => *spec,
        Document::Workflow(workflow) => {
            if args.logs.is_some() {
                return Err(AppError::Usage(
                    "--logs is for jobs of one step; each step of a workflow keeps its logs in the run directory (--run-dir)".into(),
                ));
            }
            let request = steps::RunRequest {
                run_dir: args.run_dir.as_deref(),
                force: &args.force,
                threads: args.job.threads,
            };
            return steps::run(
                &workflow,
                &loaded.source,
                &loaded.resolved,
                &request,
                ranks,
                global,
            );
        }
    };
    if args.run_dir.is_some() || !args.force.is_empty() {
        return Err(AppError::Usage(
            "--run-dir and --force are for workflows (`steps:`); a job of one step keeps no run directory when run here".into(),
        ));
    }
    job::apply(
        &mut spec,
        args.job.threads,
        args.job.samples.as_deref(),
        args.job.seed,
    )?;
    match &spec.work {
        Work::Compute(compute) => {
            if args.logs.is_some() {
                return Err(AppError::Usage(
                    "--logs is for task jobs (it keeps each task's stdout and stderr); this job has `compute:`"
                        .into(),
                ));
            }
            run_compute(&spec, compute, ranks, global)
        }
        Work::Tasks(tasks) => {
            let workdir = loaded
                .resolved
                .into_iter()
                .flatten()
                .map(|r| r.workdir)
                .next()
                .expect("a task job is resolved");
            let logs = Logs::new(args.logs.as_ref(), &spec.name)?;
            let outputs = logs.path().join("outputs");
            run_tasks(&spec, tasks, &workdir, logs, &outputs, None, ranks, global)
        }
    }
}

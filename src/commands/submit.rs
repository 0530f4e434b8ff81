//! `hpcsub submit`: prepare a run directory and hand it to Slurm or HTCondor.

use std::path::PathBuf;

use serde::Serialize;

use super::job;
use super::outcome::{Global, Outcome, Status};
use super::steps;
use super::submitted::{Gathered, wait_and_gather};
use super::workflow_report::{Submitted, WorkflowHanded, WorkflowReport};
use crate::diagnostic::AppError;
use crate::plan;
use crate::run_dir::{self, RunDir};
use crate::spec::{Document, SlurmMode};
use crate::submit::{self, Request, Scheduler};

/// Write a run directory and its scripts, and submit them to Slurm or HTCondor.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  hpcsub submit jobs/quadratic.yaml --to slurm --wait\n  hpcsub submit jobs/pi.yaml --to condor --dry-run --run-dir runs/pi-test"
)]
pub struct Args {
    /// The job file (YAML).
    job: PathBuf,
    /// The scheduler.
    #[arg(long = "to", value_enum)]
    scheduler: Scheduler,
    /// Slurm: a job array and a gather (default), or one MPI job under `srun --mpi=pmix`
    /// (needs the MPI build). Overrides `slurm.mode`.
    #[arg(long, value_enum)]
    mode: Option<SlurmMode>,
    /// The run directory (default: runs/<name>-<UTC timestamp>).
    #[arg(long)]
    run_dir: Option<PathBuf>,
    #[command(flatten)]
    pub handing: Handing,
}

/// How `submit` and `resubmit` hand a run to the scheduler.
#[derive(clap::Args)]
pub struct Handing {
    /// Write the files the submission needs and print its commands, without submitting.
    #[arg(long)]
    pub dry_run: bool,
    /// Wait until the run has left the queue, then gather and print the result as `run` does.
    #[arg(long, conflicts_with = "dry_run")]
    pub wait: bool,
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum Handed {
    /// `--dry-run`: what would be submitted.
    DryRun {
        run_dir: String,
        slices: Vec<u32>,
        /// None yet: nothing was submitted.
        job_ids: Vec<String>,
        commands: Vec<Vec<String>>,
    },
    Submitted {
        run_dir: String,
        slices: Vec<u32>,
        job_ids: Vec<String>,
    },
    /// `--wait`: the run's gathered result.
    Finished(Box<Gathered>),
    /// A workflow: each step's run directory and jobs.
    Workflow(WorkflowHanded),
    /// `--wait` on a workflow: each step's gathered result.
    WorkflowFinished(WorkflowReport),
}

fn slice_list(slices: &[u32]) -> String {
    crate::run_dir::manifest::ranges(slices)
}

impl Outcome for Handed {
    fn text(&self) -> String {
        match self {
            Handed::DryRun {
                run_dir,
                slices,
                commands,
                ..
            } => {
                let lines: Vec<String> = commands
                    .iter()
                    .map(|c| {
                        format!(
                            "  (cd {} && {})",
                            submit::slurm::shell_quote(run_dir),
                            c.join(" ")
                        )
                    })
                    .collect();
                format!(
                    "{run_dir}\nslices {}; to submit (dry run, nothing was submitted):\n{}",
                    slice_list(slices),
                    lines.join("\n")
                )
            }
            Handed::Submitted {
                run_dir,
                slices,
                job_ids,
            } => format!(
                "{run_dir}\nsubmitted slices {} as jobs {} (the last one gathers)\n\
                 follow it: hpcsub status {run_dir}",
                slice_list(slices),
                job_ids.join(", ")
            ),
            Handed::Finished(gathered) => gathered.text(),
            Handed::Workflow(handed) => handed.text(),
            Handed::WorkflowFinished(report) => report.text(),
        }
    }

    fn status(&self) -> Status {
        match self {
            Handed::Finished(gathered) => gathered.status(),
            Handed::WorkflowFinished(report) => report.status(),
            _ => Status::Success,
        }
    }
}

impl From<Submitted> for Handed {
    fn from(submitted: Submitted) -> Handed {
        match submitted {
            Submitted::Handed(handed) => Handed::Workflow(handed),
            Submitted::Finished(report) => Handed::WorkflowFinished(report),
        }
    }
}

/// Submits `slices` of `run`: prints the commands for a dry run, else submits and, with
/// `--wait`, gathers once the jobs have left the queue.
pub fn hand(
    run: &mut RunDir,
    slices: Vec<u32>,
    handing: &Handing,
    global: Global,
) -> Result<Handed, AppError> {
    let backend = submit::backend(run.manifest.scheduler);
    let run_dir = run.path.display().to_string();
    if handing.dry_run {
        let commands = backend.commands(run, &slices)?;
        return Ok(Handed::DryRun {
            run_dir,
            slices,
            job_ids: Vec::new(),
            commands,
        });
    }
    backend.submit(run, &slices, &[], global.show())?;
    let job_ids = run.manifest.latest_job_ids();
    if handing.wait {
        return Ok(Handed::Finished(Box::new(wait_and_gather(
            run, &job_ids, global,
        )?)));
    }
    Ok(Handed::Submitted {
        run_dir,
        slices,
        job_ids,
    })
}

pub fn submit(args: &Args, global: Global) -> Result<Handed, AppError> {
    let loaded = job::load_document(&args.job)?;
    let spec = match &loaded.document {
        Document::Job(spec) => spec.as_ref(),
        Document::Workflow(workflow) => {
            if args.mode == Some(SlurmMode::Mpi) {
                return Err(AppError::Usage(
                    "a workflow is submitted as one job array per step; --mode mpi is for jobs of one step".into(),
                ));
            }
            return steps::submit(
                workflow,
                &loaded,
                args.scheduler,
                args.run_dir.as_deref(),
                args.handing.dry_run,
                args.handing.wait,
                global,
            )
            .map(Handed::from);
        }
    };
    let resolved = loaded.resolved.first().cloned().flatten();
    let mode = match (args.scheduler, args.mode) {
        (Scheduler::Condor, Some(_)) => {
            return Err(AppError::Usage(
                "--mode is for Slurm; on HTCondor a run is always a job array and a gather node"
                    .into(),
            ));
        }
        (Scheduler::Condor, None) => SlurmMode::Array,
        (Scheduler::Slurm, mode) => mode.unwrap_or(spec.slurm.mode),
    };
    if mode == SlurmMode::Mpi && !cfg!(feature = "mpi") {
        return Err(AppError::Usage(
            "MPI mode runs this binary under `srun --mpi=pmix`, but it was built without MPI \
             support; submit with the MPI build (`cargo build --release --features mpi`)"
                .into(),
        ));
    }
    let threads = plan::threads(spec).per_slice;
    let path = args
        .run_dir
        .clone()
        .unwrap_or_else(|| run_dir::default_path(spec));
    let mut run = submit::prepare(&Request {
        spec,
        source: &loaded.source,
        resolved: resolved.as_ref(),
        step: None,
        run_dir: &path,
        scheduler: args.scheduler,
        mode,
        plan: &plan::of_job(spec, threads),
        threads_per_slice: threads,
    })?;
    let _lock = crate::run_dir::lock(&run.path)?;
    let slices: Vec<u32> = (0..run.slices()).collect();
    match hand(&mut run, slices, &args.handing, global) {
        Err(err) if run.manifest.job_ids().is_empty() => {
            // Nothing is queued: leave nothing behind.
            run.discard();
            Err(err)
        }
        Err(err) => {
            let dir = run.path.display();
            Err(AppError::Run(format!(
                "{err}\nthe jobs submitted so far are recorded in {dir}: see `hpcsub status {dir}`, \
                 or `hpcsub cancel {dir}`"
            )))
        }
        handed => handed,
    }
}

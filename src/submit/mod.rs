//! Submission: write the run directory and its scripts, hand them to a scheduler, follow the
//! run in the queue, cancel it. [`slurm`] and [`condor`] each render and drive one scheduler;
//! this module chooses between them by what the run's plan records.

pub mod condor;
pub mod slurm;

use std::path::{Path, PathBuf};

use crate::diagnostic::AppError;
use crate::kernel::{Isa, Kernel};
use crate::plan;
use crate::run_dir::{JOBS_FILE, PLAN_FILE, RunDir};
use crate::spec::{JobSpec, SlurmMode, Work};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scheduler {
    Slurm,
    Condor,
}

impl Scheduler {
    fn name(self) -> &'static str {
        match self {
            Scheduler::Slurm => "Slurm",
            Scheduler::Condor => "HTCondor",
        }
    }
}

/// A run directory with its plan and scripts, and the commands that submit it.
pub struct Prepared {
    pub run_dir: RunDir,
    pub commands: Vec<Vec<String>>,
}

pub fn prepare(
    spec: &JobSpec,
    source: &str,
    run_dir: Option<&Path>,
    binary: &Path,
    scheduler: Scheduler,
) -> Result<Prepared, AppError> {
    let run_dir = RunDir::create(run_dir, spec, source)?;
    let threads = slurm::cpus_per_task(spec);
    let mut plan_json = match &spec.work {
        Work::Compute(compute) => {
            let kernel = Kernel::new(spec, compute, Isa::Portable);
            serde_json::to_value(plan::make(
                spec,
                compute,
                &kernel.program,
                threads,
                spec.split.ranks,
            ))
        }
        Work::Tasks(tasks) => {
            serde_json::to_value(plan::make_for_tasks(spec, tasks, threads, spec.split.ranks))
        }
    }
    .expect("a plan always serializes");
    plan_json["job_hash"] = run_dir.job_hash.clone().into();
    plan_json["scheduler"] = format!("{scheduler:?}").to_lowercase().into();
    plan_json["mode"] = format!("{:?}", spec.slurm.mode).to_lowercase().into();
    run_dir.write(
        PLAN_FILE,
        &serde_json::to_string_pretty(&plan_json).expect("JSON"),
    )?;
    let commands = match scheduler {
        Scheduler::Slurm => slurm::write_scripts(spec, binary, &run_dir)?,
        Scheduler::Condor => condor::write_files(spec, binary, &run_dir)?,
    };
    Ok(Prepared { run_dir, commands })
}

/// Runs a scheduler command in the run directory; its stdout.
fn run_in(
    dir: &Path,
    scheduler: Scheduler,
    program: &str,
    args: &[&str],
) -> Result<String, AppError> {
    let output = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| {
            AppError::Run(format!(
                "cannot run {program} ({e}): is {} installed here? With `--dry-run`, hpcsub writes \
                 the run directory and prints the commands instead",
                scheduler.name()
            ))
        })?;
    if !output.status.success() {
        return Err(AppError::Run(format!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Submits the run (all slices, or only `slices`) and a gather that runs once every one of them
/// has succeeded. Returns the job ids, which are added to `jobs.json`.
pub fn submit(run_dir: &RunDir, slices: Option<&[u32]>) -> Result<Vec<String>, AppError> {
    let ids = match scheduler(run_dir) {
        Scheduler::Slurm => slurm::submit(run_dir, slices)?,
        Scheduler::Condor => condor::submit(run_dir, slices)?,
    };
    let mut all_ids = recorded_job_ids(run_dir);
    all_ids.extend(ids.iter().cloned());
    run_dir.write(
        JOBS_FILE,
        &serde_json::json!({ "job_ids": all_ids }).to_string(),
    )?;
    Ok(ids)
}

/// What `resubmit --dry-run` would submit for `slices`: the files it needs are written, and
/// the commands returned.
pub fn resubmission(run_dir: &RunDir, slices: &[u32]) -> Result<Vec<Vec<String>>, AppError> {
    Ok(match scheduler(run_dir) {
        Scheduler::Slurm => slurm::resubmit_commands(run_dir, slices),
        Scheduler::Condor => vec![vec![
            "condor_submit_dag".into(),
            condor::write_resubmission(run_dir, slices)?,
        ]],
    })
}

fn recorded_plan(run_dir: &RunDir) -> serde_json::Value {
    std::fs::read_to_string(run_dir.path.join(PLAN_FILE))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// The scheduler the run was prepared for.
pub fn scheduler(run_dir: &RunDir) -> Scheduler {
    match recorded_plan(run_dir)["scheduler"].as_str() {
        Some("condor") => Scheduler::Condor,
        _ => Scheduler::Slurm,
    }
}

/// How the run was submitted, as recorded in its plan (`--mode` may override the job file).
pub fn slurm_mode(run_dir: &RunDir) -> SlurmMode {
    match recorded_plan(run_dir)["mode"].as_str() {
        Some("mpi") => SlurmMode::Mpi,
        _ => SlurmMode::Array,
    }
}

/// Every job id this run was submitted as, oldest first.
pub fn recorded_job_ids(run_dir: &RunDir) -> Vec<String> {
    std::fs::read_to_string(run_dir.path.join(JOBS_FILE))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|v| serde_json::from_value(v["job_ids"].clone()).ok())
        .unwrap_or_default()
}

/// The jobs of the run still in the queue, as (job id, state) with Slurm's state names; the
/// slices as `<job>_<slice>`.
pub fn queue_states(run_dir: &RunDir) -> Result<Vec<(String, String)>, AppError> {
    match scheduler(run_dir) {
        Scheduler::Slurm => slurm::queue_states(&recorded_job_ids(run_dir)),
        Scheduler::Condor => Ok(condor::queue_states_of(run_dir)),
    }
}

/// Waits until the jobs `job_ids` of the run have left the queue. Leaving the queue says
/// nothing about success; the caller looks at `parts/` and `result.json` for that.
/// `on_poll` gets the queue states after each poll.
pub fn wait_for_queue(
    run_dir: &RunDir,
    job_ids: &[String],
    on_poll: impl Fn(&[(String, String)]),
) -> Result<(), AppError> {
    match scheduler(run_dir) {
        Scheduler::Slurm => slurm::wait_for_queue(job_ids, on_poll),
        Scheduler::Condor => {
            condor::wait_for_dags(run_dir, job_ids, on_poll);
            Ok(())
        }
    }
}

/// Cancels every job of the run.
pub fn cancel(run_dir: &RunDir) -> Result<Vec<String>, AppError> {
    let ids = recorded_job_ids(run_dir);
    if !ids.is_empty() {
        let args: Vec<&str> = ids.iter().map(String::as_str).collect();
        let scheduler = scheduler(run_dir);
        let program = match scheduler {
            Scheduler::Slurm => "scancel",
            Scheduler::Condor => "condor_rm",
        };
        run_in(&run_dir.path, scheduler, program, &args)?;
    }
    Ok(ids)
}

/// The absolute path of this binary, which the scripts run.
pub fn this_binary() -> Result<PathBuf, AppError> {
    std::env::current_exe()
        .map_err(|e| AppError::Run(format!("cannot find the hpcsub binary: {e}")))
}

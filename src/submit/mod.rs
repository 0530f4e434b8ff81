//! Submission: write the run directory and its scripts, then hand them to a scheduler.

pub mod slurm;

use std::path::{Path, PathBuf};

use crate::diagnostic::AppError;
use crate::kernel::{Isa, Kernel};
use crate::plan;
use crate::run_dir::{PLAN_FILE, RunDir};
use crate::spec::JobSpec;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scheduler {
    Slurm,
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
    let kernel = Kernel::new(spec, Isa::Portable);
    let plan = plan::make(
        spec,
        &kernel.program,
        slurm::cpus_per_task(spec),
        spec.split.ranks,
    );
    let mut plan_json = serde_json::to_value(&plan).expect("a plan always serializes");
    plan_json["job_hash"] = run_dir.job_hash.clone().into();
    plan_json["scheduler"] = format!("{scheduler:?}").to_lowercase().into();
    run_dir.write(
        PLAN_FILE,
        &serde_json::to_string_pretty(&plan_json).expect("JSON"),
    )?;
    let commands = match scheduler {
        Scheduler::Slurm => {
            run_dir.write(
                "job.sbatch",
                &slurm::job_script(spec, binary, &run_dir.path),
            )?;
            run_dir.write(
                "gather.sbatch",
                &slurm::gather_script(spec, binary, &run_dir.path),
            )?;
            vec![
                vec!["sbatch".into(), "--parsable".into(), "job.sbatch".into()],
                vec![
                    "sbatch".into(),
                    "--parsable".into(),
                    "--dependency=afterok:<array job id>".into(),
                    "--kill-on-invalid-dep=yes".into(),
                    "gather.sbatch".into(),
                ],
            ]
        }
    };
    Ok(Prepared { run_dir, commands })
}

/// The absolute path of this binary, which the scripts run.
pub fn this_binary() -> Result<PathBuf, AppError> {
    std::env::current_exe()
        .map_err(|e| AppError::Run(format!("cannot find the hpcsub binary: {e}")))
}

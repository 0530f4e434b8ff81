//! Submission: write the run directory and its scripts, then hand them to a scheduler.

pub mod slurm;

use std::path::{Path, PathBuf};

use crate::diagnostic::AppError;
use crate::kernel::{Isa, Kernel};
use crate::plan;
use crate::run_dir::{JOBS_FILE, PLAN_FILE, RunDir};
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

/// Submits a prepared run: the array, then the gather once the whole array has succeeded. The job
/// ids are kept in `jobs.json` for `--wait`.
pub fn submit(prepared: &Prepared) -> Result<Vec<String>, AppError> {
    let dir = &prepared.run_dir.path;
    let sbatch = |args: &[&str]| -> Result<String, AppError> {
        let output = std::process::Command::new("sbatch")
            .arg("--parsable")
            .args(args)
            .current_dir(dir)
            .output()
            .map_err(|e| {
                AppError::Run(format!(
                    "cannot run sbatch ({e}): is Slurm installed here? `--dry-run` writes the run \
                     directory and prints the commands instead"
                ))
            })?;
        if !output.status.success() {
            return Err(AppError::Run(format!(
                "sbatch {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        // --parsable prints "id" or "id;cluster".
        let stdout = String::from_utf8_lossy(&output.stdout);
        Ok(stdout.trim().split(';').next().unwrap_or("").to_string())
    };
    let array = sbatch(&["job.sbatch"])?;
    let gather = sbatch(&[
        &format!("--dependency=afterok:{array}"),
        "--kill-on-invalid-dep=yes",
        "gather.sbatch",
    ])?;
    let ids = vec![array, gather];
    prepared.run_dir.write(
        JOBS_FILE,
        &serde_json::json!({ "job_ids": ids }).to_string(),
    )?;
    Ok(ids)
}

/// Waits until none of `job_ids` is in the queue any more: one `squeue` call per poll for the
/// whole run, with back-off. Leaving the queue says nothing about success; the caller looks at
/// `parts/` and `result.json` for that.
pub fn wait_for_queue(job_ids: &[String]) -> Result<(), AppError> {
    const MAX_FAILURES_IN_A_ROW: u32 = 5;
    let mut interval = std::time::Duration::from_millis(250);
    let mut failures = 0;
    loop {
        let output = std::process::Command::new("squeue")
            .args(["-h", "-o", "%i", "-j", &job_ids.join(",")])
            .output()
            .map_err(|e| AppError::Run(format!("cannot run squeue: {e}")))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.success() {
            failures = 0;
            if String::from_utf8_lossy(&output.stdout).trim().is_empty() {
                return Ok(());
            }
        } else if stderr.contains("Invalid job id") {
            // Slurm has forgotten the jobs: they left the queue long ago.
            return Ok(());
        } else {
            failures += 1;
            if failures >= MAX_FAILURES_IN_A_ROW {
                return Err(AppError::Run(format!(
                    "squeue failed {failures} times in a row: {}",
                    stderr.trim()
                )));
            }
        }
        std::thread::sleep(interval);
        interval = (interval * 2).min(std::time::Duration::from_secs(10));
    }
}

/// The absolute path of this binary, which the scripts run.
pub fn this_binary() -> Result<PathBuf, AppError> {
    std::env::current_exe()
        .map_err(|e| AppError::Run(format!("cannot find the hpcsub binary: {e}")))
}

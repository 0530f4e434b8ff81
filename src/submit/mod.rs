//! Submission: write the run directory and its scripts, then hand them to a scheduler.

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
        Scheduler::Slurm if spec.slurm.mode == SlurmMode::Mpi => {
            run_dir.write(
                "job.sbatch",
                &slurm::mpi_script(spec, binary, &run_dir.path),
            )?;
            vec![vec![
                "sbatch".into(),
                "--parsable".into(),
                "job.sbatch".into(),
            ]]
        }
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

fn run_in(dir: &Path, program: &str, args: &[&str]) -> Result<String, AppError> {
    let output = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| {
            AppError::Run(format!(
                "cannot run {program} ({e}): is Slurm installed here? `submit --dry-run` writes the \
                 run directory and prints the commands instead"
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

/// Submits the array (all slices, or only `slices`), then a gather that runs once every one of
/// them has succeeded. Above MaxArraySize the array goes in several pieces, each with its index
/// offset, and the gather depends on them all. Returns the job ids (arrays, then the gather) and
/// adds them to `jobs.json`.
pub fn submit(run_dir: &RunDir, slices: Option<&[u32]>) -> Result<Vec<String>, AppError> {
    let sbatch = |args: &[&str]| -> Result<String, AppError> {
        let mut all = vec!["--parsable"];
        all.extend_from_slice(args);
        // --parsable prints "id" or "id;cluster".
        Ok(run_in(&run_dir.path, "sbatch", &all)?
            .split(';')
            .next()
            .unwrap_or("")
            .to_string())
    };
    if slurm_mode(run_dir) == SlurmMode::Mpi {
        let _ = std::fs::remove_file(run_dir.path.join(crate::run_dir::RESULT_FILE));
        let ids = vec![sbatch(&["job.sbatch"])?];
        record_job_ids(run_dir, &ids)?;
        return Ok(ids);
    }
    let every: Vec<u32> = (0..run_dir.spec.split.ranks).collect();
    let slices = slices.unwrap_or(&every);
    let config = run_in(&run_dir.path, "scontrol", &["show", "config"])?;
    let max_array_size = slurm::max_array_size(&config).unwrap_or(1001);
    let mut ids = Vec::new();
    for (offset, indices) in slurm::array_pieces(slices, max_array_size) {
        let array = match run_dir.spec.slurm.array_limit {
            Some(limit) => format!("--array={indices}%{limit}"),
            None => format!("--array={indices}"),
        };
        let export = format!("--export=ALL,HPCSUB_SLICE_OFFSET={offset}");
        ids.push(sbatch(&[&array, &export, "job.sbatch"])?);
    }
    let dependency = format!("--dependency=afterok:{}", ids.join(":"));
    ids.push(sbatch(&[
        &dependency,
        "--kill-on-invalid-dep=yes",
        "gather.sbatch",
    ])?);
    record_job_ids(run_dir, &ids)?;
    Ok(ids)
}

fn record_job_ids(run_dir: &RunDir, ids: &[String]) -> Result<(), AppError> {
    let mut all_ids = recorded_job_ids(run_dir);
    all_ids.extend(ids.iter().cloned());
    run_dir.write(
        JOBS_FILE,
        &serde_json::json!({ "job_ids": all_ids }).to_string(),
    )?;
    Ok(())
}

/// How the run was submitted, as recorded in its plan (`--mode` may override the job file).
pub fn slurm_mode(run_dir: &RunDir) -> SlurmMode {
    let recorded = std::fs::read_to_string(run_dir.path.join(PLAN_FILE))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok());
    match recorded.as_ref().and_then(|plan| plan["mode"].as_str()) {
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

/// The queue state of every array task and gather of the run still in the queue:
/// (job id, state), one line per array task.
pub fn queue_states(job_ids: &[String]) -> Result<Vec<(String, String)>, AppError> {
    if job_ids.is_empty() {
        return Ok(Vec::new());
    }
    let output = std::process::Command::new("squeue")
        .args(["-h", "-r", "-o", "%i %T", "-j", &job_ids.join(",")])
        .output()
        .map_err(|e| AppError::Run(format!("cannot run squeue: {e}")))?;
    Ok(parse_states(&String::from_utf8_lossy(&output.stdout)))
}

/// `squeue -o "%i %T"` lines as (job id, state).
fn parse_states(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| line.trim().split_once(' '))
        .map(|(id, state)| (id.to_string(), state.to_string()))
        .collect()
}

/// Cancels every job of the run.
pub fn cancel(run_dir: &RunDir) -> Result<Vec<String>, AppError> {
    let ids = recorded_job_ids(run_dir);
    if !ids.is_empty() {
        let args: Vec<&str> = ids.iter().map(String::as_str).collect();
        run_in(&run_dir.path, "scancel", &args)?;
    }
    Ok(ids)
}

/// Waits until none of `job_ids` is in the queue any more: one `squeue` call per poll for the
/// whole run, with back-off. Leaving the queue says nothing about success; the caller looks at
/// `parts/` and `result.json` for that.
/// `on_poll` gets the queue states of the run's array tasks and jobs after each poll.
pub fn wait_for_queue(
    job_ids: &[String],
    on_poll: impl Fn(&[(String, String)]),
) -> Result<(), AppError> {
    const MAX_FAILURES_IN_A_ROW: u32 = 5;
    let mut interval = std::time::Duration::from_millis(250);
    let mut failures = 0;
    loop {
        let output = std::process::Command::new("squeue")
            .args(["-h", "-r", "-o", "%i %T", "-j", &job_ids.join(",")])
            .output()
            .map_err(|e| AppError::Run(format!("cannot run squeue: {e}")))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.success() {
            failures = 0;
            let states = parse_states(&String::from_utf8_lossy(&output.stdout));
            on_poll(&states);
            if states.is_empty() {
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

//! What each subcommand does, given already-parsed arguments. `main.rs` only parses. Compute
//! jobs are handled here; task jobs branch off to [`tasks`].

mod scale;
mod tasks;

pub use scale::{ScaleRequest, scale};

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::diagnostic::AppError;
use crate::executor::{launcher, local, task};
use crate::jobfile::{self, quantity};
use crate::kernel::{Isa, Kernel};
use crate::plan::{self, Plan};
use crate::progress::Progress;
use crate::reduce::{Summary, gather};
use crate::report::RunReport;
use crate::run_dir::{RESULT_FILE, RunDir};
use crate::spec::{ComputeSpec, JobSpec, MAX_THREADS, SlurmMode, Work};
use crate::submit::{self, Scheduler};

/// Values given on the command line that take precedence over the job file.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub threads: Option<usize>,
    pub samples: Option<String>,
    pub seed: Option<u64>,
    /// Where command tasks leave their stdout and stderr (`run` only).
    pub logs: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Output {
    pub json: bool,
    pub quiet: bool,
    /// Run as an MPI rank even if no launcher is detected (e.g. a singleton).
    pub force_mpi: bool,
}

/// Loads and validates the job, then applies the overrides with the same checks.
pub fn load_job(path: &Path, overrides: &Overrides) -> Result<JobSpec, AppError> {
    let (mut spec, _source) = jobfile::load(path)?;
    if let Some(text) = &overrides.samples {
        let samples =
            quantity::parse_count(text).map_err(|m| AppError::Usage(format!("--samples: {m}")))?;
        if samples == 0 {
            return Err(AppError::Usage("--samples must be at least 1".into()));
        }
        match &mut spec.work {
            Work::Compute(compute) => compute.samples = samples,
            Work::Tasks(_) => {
                return Err(AppError::Usage(
                    "--samples is for compute jobs; this job runs `tasks:`".into(),
                ));
            }
        }
    }
    if overrides.logs.is_some() && spec.compute().is_some() {
        return Err(AppError::Usage(
            "--logs is for task jobs (it keeps each task's stdout and stderr); this job has `compute:`"
                .into(),
        ));
    }
    if let Some(seed) = overrides.seed {
        spec.seed = seed;
    }
    if let Some(threads) = overrides.threads {
        if threads == 0 || threads > MAX_THREADS {
            return Err(AppError::Usage(format!(
                "--threads must be between 1 and {MAX_THREADS}, got {threads}"
            )));
        }
        spec.split.threads = Some(threads);
    }
    Ok(spec)
}

/// The CPUs this process may use (its affinity mask and CPU quota).
pub fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub fn threads_for(spec: &JobSpec) -> usize {
    spec.split.threads.unwrap_or_else(available_cpus)
}

/// The SIMD path: the best this CPU has, unless `HPCSUB_ISA` names another (for tests and
/// benchmarks that compare paths).
pub fn choose_isa() -> Result<Isa, AppError> {
    match std::env::var("HPCSUB_ISA") {
        Ok(name) if !name.is_empty() => {
            let isa = Isa::from_name(&name).ok_or_else(|| {
                AppError::Usage(format!(
                    "HPCSUB_ISA={name}: expected portable, avx2, avx512 or native"
                ))
            })?;
            if !isa.supported() {
                return Err(AppError::Usage(format!(
                    "HPCSUB_ISA={name}: this CPU does not support it"
                )));
            }
            Ok(isa)
        }
        _ => Ok(Isa::detect()),
    }
}

pub fn run(path: &Path, overrides: &Overrides, output: Output) -> Result<String, AppError> {
    // A launch of one process (mpirun -n 1, a one-task Slurm step) needs no MPI.
    let launch = launcher::current().filter(|l| l.size > 1);
    let spec = load_job(path, overrides)?;
    let compute = match &spec.work {
        Work::Compute(compute) => compute,
        Work::Tasks(tasks_spec) => {
            return tasks::run(&spec, tasks_spec, overrides, output, launch.as_ref());
        }
    };
    let started = Instant::now();
    let kernel = Kernel::new(&spec, compute, choose_isa()?);
    let threads = threads_for(&spec);
    let (ranks, acc) = if launch.is_some() || output.force_mpi {
        match run_mpi(
            &spec,
            compute.samples,
            &kernel,
            threads,
            output,
            launch.as_ref(),
        )? {
            Some(result) => result,
            None => return Ok(String::new()),
        }
    } else {
        let whole = plan::slice(compute.samples, 1, 0);
        let progress = Progress::new(compute.samples, !output.quiet);
        let acc = local::run_slice(&kernel, spec.reduce.histogram, &whole, threads, &progress);
        progress.finish();
        (1, acc)
    };
    let report = RunReport {
        spec: &spec,
        samples: compute.samples,
        ranks,
        threads,
        summary: Summary::from_accumulator(&acc),
        histogram: acc.histogram,
        elapsed_s: started.elapsed().as_secs_f64(),
    };
    Ok(if output.json {
        report.to_json().to_string()
    } else {
        report.to_table()
    })
}

/// The MPI run: `Some((ranks, total))` on rank 0, `None` on the other ranks, which print nothing.
#[cfg(feature = "mpi")]
fn run_mpi(
    spec: &JobSpec,
    samples: u64,
    kernel: &Kernel,
    threads: usize,
    output: Output,
    launch: Option<&launcher::Launch>,
) -> Result<Option<(u32, crate::reduce::Accumulator)>, AppError> {
    warn_if_bound(threads, launch);
    let outcome = crate::executor::mpi::run(spec, samples, kernel, threads, !output.quiet)?;
    Ok(outcome.accumulator.map(|acc| (outcome.size, acc)))
}

/// Warns on rank 0 when the launcher bound a rank to fewer CPUs than its threads.
#[cfg(feature = "mpi")]
fn warn_if_bound(threads: usize, launch: Option<&launcher::Launch>) {
    let cpus = available_cpus();
    if launch.is_none_or(|l| l.rank == 0) && threads > cpus {
        eprintln!(
            "warning: each rank runs {threads} threads but may use only {cpus} CPU{}: the launcher bound it \
             (Open MPI binds each rank to one core when there are 2 or fewer). Run `mpirun --bind-to none ...`, \
             or give each rank cores with `--map-by slot:PE={threads}`.",
            if cpus == 1 { "" } else { "s" }
        );
    }
}

/// Without the `mpi` feature, an MPI run is refused: running the whole job once per rank would
/// waste the allocation and print R answers.
#[cfg(not(feature = "mpi"))]
fn run_mpi(
    _: &JobSpec,
    _: u64,
    _: &Kernel,
    _: usize,
    _: Output,
    launch: Option<&launcher::Launch>,
) -> Result<Option<(u32, crate::reduce::Accumulator)>, AppError> {
    Err(mpi_missing(launch))
}

#[cfg(not(feature = "mpi"))]
fn mpi_missing(launch: Option<&launcher::Launch>) -> AppError {
    let why = match launch {
        Some(l) => format!(
            "it is running as rank {} of {} ({}={})",
            l.rank, l.size, l.source, l.size
        ),
        None => "--mpi was given".into(),
    };
    AppError::Usage(format!(
        "this hpcsub was built without MPI support, but {why}; it will not run the whole job once \
         per rank. Build the MPI version with `cargo build --release --features mpi` (it needs \
         `apt-get install openmpi-bin libopenmpi-dev libclang-dev`)"
    ))
}

/// Whether this process is a rank other than 0 of a launched job: such ranks stay quiet about
/// problems every rank finds alike (a bad job file), so the user sees one message, not one per
/// rank.
pub fn is_secondary_rank() -> bool {
    launcher::current().is_some_and(|l| l.size > 1 && l.rank > 0)
}

pub fn check(path: &Path, overrides: &Overrides, json: bool) -> Result<String, AppError> {
    let spec = load_job(path, overrides)?;
    let compute = match &spec.work {
        Work::Compute(compute) => compute,
        Work::Tasks(tasks_spec) => return Ok(tasks::check(&spec, tasks_spec, json)),
    };
    let kernel = Kernel::new(&spec, compute, choose_isa()?);
    let plan = plan::make(
        &spec,
        compute,
        &kernel.program,
        threads_for(&spec),
        spec.split.ranks,
    );
    Ok(if json {
        serde_json::to_string_pretty(&plan).expect("a plan always serializes")
    } else {
        plan_table(&spec, &plan, &kernel)
    })
}

/// How this machine computes the job's samples.
fn code_path(kernel: &Kernel) -> String {
    match (&kernel.native, &kernel.not_native) {
        (Some(_), _) => "native: AVX-512 machine code generated for this job".into(),
        (None, Some(reason)) => format!(
            "{} loops (not compiled to machine code: {reason})",
            kernel.isa.name()
        ),
        (None, None) => format!("{} loops", kernel.isa.name()),
    }
}

fn plan_table(spec: &JobSpec, plan: &Plan, kernel: &Kernel) -> String {
    let mut out = format!(
        "{} is valid: {} samples, seed {}, {} random var{}, {} register{} per chunk\n",
        spec.name,
        plan.samples,
        plan.seed,
        plan.random_streams,
        if plan.random_streams == 1 { "" } else { "s" },
        plan.registers,
        if plan.registers == 1 { "" } else { "s" },
    );
    out.push_str(&format!(
        "plan: {} slice{} x {} thread{}, blocks of {} samples ({} blocks), chunks of {}\n",
        plan.slices.len(),
        if plan.slices.len() == 1 { "" } else { "s" },
        plan.threads,
        if plan.threads == 1 { "" } else { "s" },
        plan.block_samples,
        plan.blocks,
        plan.chunk_samples,
    ));
    out.push_str(&format!(
        "memory: about {} KiB of working memory per rank, whatever the sample count\n",
        plan.memory_bytes.div_ceil(1024)
    ));
    out.push_str(&format!("code on this machine: {}\n", code_path(kernel)));
    const SHOWN: usize = 20;
    out.push_str("  slice        start          end      samples\n");
    for slice in plan.slices.iter().take(SHOWN) {
        out.push_str(&format!(
            "  {:>5} {:>12} {:>12} {:>12}\n",
            slice.index,
            slice.start,
            slice.end,
            slice.samples()
        ));
    }
    if plan.slices.len() > SHOWN {
        out.push_str(&format!(
            "  ... {} more (use --json)\n",
            plan.slices.len() - SHOWN
        ));
    }
    if let Some(slice) = plan.slices.iter().find(|s| s.samples() == 0) {
        out.push_str(&format!(
            "note: slice {} and maybe others are empty: {} samples make only {} blocks of {}\n",
            slice.index, plan.samples, plan.blocks, plan.block_samples
        ));
    }
    out
}

pub fn schema() -> &'static str {
    include_str!("../jobfile/schema.json")
}

pub fn submit(
    path: &Path,
    scheduler: Scheduler,
    mode: Option<SlurmMode>,
    run_dir: Option<&Path>,
    dry_run: bool,
    wait: bool,
    json: bool,
) -> Result<String, AppError> {
    let (mut spec, source) = jobfile::load(path)?;
    if let Some(mode) = mode {
        if scheduler == Scheduler::Condor {
            return Err(AppError::Usage(
                "--mode is for Slurm; on HTCondor a run is always a job array and a gather node"
                    .into(),
            ));
        }
        spec.slurm.mode = mode;
    }
    if scheduler == Scheduler::Condor {
        spec.slurm.mode = SlurmMode::Array;
    }
    if spec.slurm.mode == SlurmMode::Mpi && !cfg!(feature = "mpi") {
        return Err(AppError::Usage(
            "MPI mode runs this binary under `srun --mpi=pmix`, but it was built without MPI \
             support; submit with the MPI build (`cargo build --release --features mpi`)"
                .into(),
        ));
    }
    let prepared = submit::prepare(&spec, &source, run_dir, &submit::this_binary()?, scheduler)?;
    let dir = prepared.run_dir.path.display().to_string();
    if dry_run {
        return Ok(if json {
            serde_json::json!({"run_dir": dir, "job_ids": [], "commands": prepared.commands})
                .to_string()
        } else {
            format!("{dir}\n{}", dry_run_commands(&dir, &prepared.commands))
        });
    }
    let job_ids = submit::submit(&prepared.run_dir, None)?;
    if wait {
        return wait_and_gather(&prepared.run_dir.path, &job_ids, json);
    }
    Ok(if json {
        serde_json::json!({"run_dir": dir, "job_ids": job_ids}).to_string()
    } else {
        format!(
            "{dir}\nsubmitted jobs {} (the last one gathers)",
            job_ids.join(", ")
        )
    })
}

fn dry_run_commands(dir: &str, commands: &[Vec<String>]) -> String {
    let lines: Vec<String> = commands
        .iter()
        .map(|c| {
            format!(
                "  (cd {} && {})",
                submit::slurm::shell_quote(dir),
                c.join(" ")
            )
        })
        .collect();
    format!(
        "to submit (dry run, nothing was submitted):\n{}",
        lines.join("\n")
    )
}

/// Waits until `job_ids` have left the queue, then reports what the run directory holds: the
/// truth is in `parts/`, not in the queue.
fn wait_and_gather(run_dir: &Path, job_ids: &[String], json: bool) -> Result<String, AppError> {
    let run = RunDir::open(run_dir)?;
    let progress = crate::progress::WaitProgress::new(
        run.spec.split.ranks,
        submit::slurm_mode(&run) == SlurmMode::Array,
    );
    submit::wait_for_queue(&run, job_ids, |states| {
        let parts = std::fs::read_dir(run.parts()).map_or(0, |d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                .count()
        });
        progress.show(parts, states);
    })?;
    progress.finish();
    let with_ids = |text: String| -> String {
        if !json {
            return text;
        }
        let mut value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        value["job_ids"] = job_ids.to_vec().into();
        value.to_string()
    };
    match gather(run_dir, json) {
        Ok(text) => Ok(with_ids(text)),
        Err(AppError::Incomplete(text)) => Err(AppError::Incomplete(with_ids(text))),
        Err(AppError::TasksFailed(text)) => Err(AppError::TasksFailed(with_ids(text))),
        Err(other) => Err(other),
    }
}

/// The slices of a run that must run again: those without a valid part, and (task jobs) those
/// with failed tasks. Corrupt parts are listed separately: they are removed before resubmitting.
struct Rerun {
    slices: Vec<u32>,
    corrupt: Vec<u32>,
}

fn slices_to_rerun(run: &RunDir) -> Result<Rerun, AppError> {
    if submit::slurm_mode(run) == SlurmMode::Mpi {
        // One MPI job computes every slice, or none: it wrote result.json, or it runs again.
        let done = run.path.join(RESULT_FILE).exists();
        return Ok(Rerun {
            slices: if done {
                Vec::new()
            } else {
                (0..run.spec.split.ranks).collect()
            },
            corrupt: Vec::new(),
        });
    }
    match &run.spec.work {
        Work::Compute(compute) => {
            let gathered = gather::gather(run, compute.samples, compute_shift(run, compute));
            Ok(Rerun {
                slices: gathered.unusable(),
                corrupt: gathered.corrupt.iter().map(|(s, _)| *s).collect(),
            })
        }
        Work::Tasks(tasks_spec) => Ok(tasks::slices_to_rerun(run, tasks_spec)),
    }
}

fn compute_shift(run: &RunDir, compute: &ComputeSpec) -> f64 {
    Kernel::new(&run.spec, compute, Isa::Portable).shift
}

/// Submits again only the slices whose parts are missing or corrupt (or, for task jobs, hold
/// failed tasks), and a new gather.
pub fn resubmit(run_dir: &Path, dry_run: bool, wait: bool, json: bool) -> Result<String, AppError> {
    let run = RunDir::open(run_dir)?;
    let rerun = slices_to_rerun(&run)?;
    if rerun.slices.is_empty() {
        return gather(run_dir, json);
    }
    if dry_run {
        let commands = submit::resubmission(&run, &rerun.slices)?;
        let dir = run.path.display().to_string();
        return Ok(if json {
            serde_json::json!({"run_dir": dir, "slices": rerun.slices, "corrupt": rerun.corrupt, "commands": commands})
                .to_string()
        } else {
            format!(
                "{dir}\nslices to run again: {:?} (corrupt parts, removed when submitted: {:?})\n{}",
                rerun.slices,
                rerun.corrupt,
                dry_run_commands(&dir, &commands)
            )
        });
    }
    for slice in &rerun.corrupt {
        let part = crate::reduce::part::path(&run.parts(), *slice);
        std::fs::remove_file(&part).map_err(|e| {
            AppError::Run(format!("cannot remove the corrupt {}: {e}", part.display()))
        })?;
    }
    let slices = rerun.slices;
    let job_ids = submit::submit(&run, Some(&slices))?;
    if wait {
        return wait_and_gather(&run.path, &job_ids, json);
    }
    Ok(if json {
        serde_json::json!({"run_dir": run.path.display().to_string(), "job_ids": job_ids, "slices": slices})
            .to_string()
    } else {
        format!(
            "{}\nresubmitted slices {slices:?}: jobs {} (the last one gathers)",
            run.path.display(),
            job_ids.join(", ")
        )
    })
}

/// Where a run stands: slices to run again, what is still queued, whether it was gathered.
pub fn status(run_dir: &Path, json: bool) -> Result<String, AppError> {
    let run = RunDir::open(run_dir)?;
    let rerun = slices_to_rerun(&run)?;
    let slices = run.spec.split.ranks;
    let done = slices as usize - rerun.slices.len();
    let queue = submit::queue_states(&run)?;
    let mut by_state = std::collections::BTreeMap::<String, usize>::new();
    for (_, state) in &queue {
        *by_state.entry(state.to_lowercase()).or_default() += 1;
    }
    let finished = run.path.join(RESULT_FILE).exists();
    Ok(if json {
        serde_json::json!({
            "run_dir": run.path.display().to_string(),
            "slices": slices,
            "done": done,
            "to_rerun": rerun.slices,
            "corrupt": rerun.corrupt,
            "queued": by_state,
            "result": finished,
        })
        .to_string()
    } else {
        let queued: Vec<String> = by_state
            .iter()
            .map(|(state, n)| format!("{n} {state}"))
            .collect();
        format!(
            "{}: {done} of {slices} slices done, {} to run again ({} corrupt); in the queue: {}; {}",
            run.path.display(),
            rerun.slices.len(),
            rerun.corrupt.len(),
            if queued.is_empty() {
                "nothing".into()
            } else {
                queued.join(", ")
            },
            if finished {
                "result.json written"
            } else {
                "no result yet"
            }
        )
    })
}

pub fn cancel(run_dir: &Path) -> Result<String, AppError> {
    let run = RunDir::open(run_dir)?;
    let ids = submit::cancel(&run)?;
    Ok(format!(
        "{}: cancelled jobs {}",
        run.path.display(),
        ids.join(", ")
    ))
}

pub fn task(run_dir: &Path, slice: u32, threads: Option<usize>) -> Result<String, AppError> {
    let run_dir = RunDir::open(run_dir)?;
    let threads = task::threads(threads, run_dir.spec.split.threads);
    let started = Instant::now();
    let plural = if threads == 1 { "" } else { "s" };
    let slices = run_dir.spec.split.ranks;
    match &run_dir.spec.work {
        Work::Compute(compute) => {
            let part = task::run(&run_dir, compute, slice, threads, choose_isa()?)?;
            Ok(format!(
                "slice {slice} of {slices}: {threads} thread{plural}, {:.3} s -> {}",
                started.elapsed().as_secs_f64(),
                part.display()
            ))
        }
        Work::Tasks(tasks_spec) => {
            let (part, failed) = task::run_tasks(&run_dir, tasks_spec, slice, threads)?;
            Ok(format!(
                "slice {slice} of {slices}: {threads} thread{plural}, {:.3} s, {failed} task{} failed -> {}",
                started.elapsed().as_secs_f64(),
                if failed == 1 { "" } else { "s" },
                part.display()
            ))
        }
    }
}

/// An MPI-mode run has no parts: rank 0 wrote `result.json`, or the job failed.
fn mpi_result(run_dir: &RunDir, json: bool) -> Result<String, AppError> {
    let file = run_dir.path.join(RESULT_FILE);
    let logs: Vec<String> = std::fs::read_dir(run_dir.logs())
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().display().to_string())
        .collect();
    let Ok(text) = std::fs::read_to_string(&file) else {
        let report = serde_json::json!({
            "run_dir": run_dir.path.display().to_string(),
            "missing": (0..run_dir.spec.split.ranks).collect::<Vec<_>>(),
            "problems": [{"problem": "the MPI job ended without writing result.json", "logs": logs}],
        });
        return Err(AppError::Incomplete(if json {
            report.to_string()
        } else {
            format!(
                "{}: the MPI job ended without writing {RESULT_FILE}; its logs: {}",
                run_dir.path.display(),
                logs.join(", ")
            )
        }));
    };
    let mut result: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| AppError::Run(format!("{} is not JSON: {e}", file.display())))?;
    result["run_dir"] = run_dir.path.display().to_string().into();
    let failed = result["failed"].as_array().is_some_and(|f| !f.is_empty());
    let text = if json {
        result.to_string()
    } else {
        serde_json::to_string_pretty(&result).expect("JSON")
    };
    if failed {
        Err(AppError::TasksFailed(text))
    } else {
        Ok(text)
    }
}

/// The report of a gather that found slices without a valid part (exit 3).
fn incomplete<T>(run_dir: &RunDir, gathered: &gather::Gathered<T>, json: bool) -> AppError {
    let dir = run_dir.path.display().to_string();
    let logs = |slice: u32| -> Vec<String> {
        gather::logs_of(run_dir, slice)
            .iter()
            .map(|p| p.display().to_string())
            .collect()
    };
    let report = serde_json::json!({
        "run_dir": dir,
        "slices": run_dir.spec.split.ranks,
        "missing": gathered.missing,
        "corrupt": gathered.corrupt.iter().map(|(slice, _)| slice).collect::<Vec<_>>(),
        "problems": gathered.missing.iter().map(|&slice| serde_json::json!({
            "slice": slice, "problem": "missing", "logs": logs(slice),
        })).chain(gathered.corrupt.iter().map(|(slice, reason)| serde_json::json!({
            "slice": slice, "problem": format!("corrupt: {reason}"), "logs": logs(*slice),
        }))).collect::<Vec<_>>(),
    });
    AppError::Incomplete(if json {
        report.to_string()
    } else {
        let mut text = format!(
            "{dir}: {} of {} slices are not usable; nothing was written to {RESULT_FILE}\n",
            gathered.missing.len() + gathered.corrupt.len(),
            run_dir.spec.split.ranks
        );
        for problem in report["problems"].as_array().into_iter().flatten() {
            text.push_str(&format!(
                "  slice {}: {} (logs: {})\n",
                problem["slice"],
                problem["problem"].as_str().unwrap_or(""),
                problem["logs"].as_array().map_or(0, |l| l.len())
            ));
        }
        text
    })
}

pub fn gather(run_dir: &Path, json: bool) -> Result<String, AppError> {
    let started = Instant::now();
    let run_dir = RunDir::open(run_dir)?;
    if submit::slurm_mode(&run_dir) == SlurmMode::Mpi {
        return mpi_result(&run_dir, json);
    }
    let spec = &run_dir.spec;
    let compute = match &spec.work {
        Work::Compute(compute) => compute,
        Work::Tasks(tasks_spec) => return tasks::gather(&run_dir, tasks_spec, started, json),
    };
    let gathered = gather::gather(&run_dir, compute.samples, compute_shift(&run_dir, compute));
    if !gathered.complete() {
        return Err(incomplete(&run_dir, &gathered, json));
    }
    let report = RunReport {
        spec,
        samples: compute.samples,
        ranks: spec.split.ranks,
        threads: submit::slurm::cpus_per_task(spec),
        summary: Summary::from_accumulator(&gathered.total),
        histogram: gathered.total.histogram.clone(),
        elapsed_s: started.elapsed().as_secs_f64(),
    };
    let mut result = report.to_json();
    result["run_dir"] = run_dir.path.display().to_string().into();
    run_dir.write(RESULT_FILE, &result.to_string())?;
    Ok(if json {
        result.to_string()
    } else {
        report.to_table()
    })
}

/// `hpcsub graph`: DOT, or SVG through Graphviz's `dot`.
pub fn graph(
    job: &Path,
    threads: Option<usize>,
    optimized: bool,
    svg: bool,
) -> Result<String, AppError> {
    let spec = load_job(
        job,
        &Overrides {
            threads,
            ..Overrides::default()
        },
    )?;
    if optimized && spec.compute().is_none() {
        return Err(AppError::Usage(
            "--optimized shows the compiled program of a `compute:` job; this job runs `tasks:`"
                .into(),
        ));
    }
    let text = crate::graph::dot(&spec, threads_for(&spec), optimized);
    if !svg {
        return Ok(text);
    }
    let mut child = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            AppError::Run(format!(
                "cannot run Graphviz's `dot` ({e}): install it (`apt-get install graphviz`), or \
                 use `--format dot` and render the DOT elsewhere"
            ))
        })?;
    use std::io::Write as _;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(text.as_bytes())
        .map_err(|e| AppError::Run(format!("cannot write to dot: {e}")))?;
    let output = child
        .wait_with_output()
        .map_err(|e| AppError::Run(format!("dot failed: {e}")))?;
    if !output.status.success() {
        return Err(AppError::Run(format!(
            "dot -Tsvg failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

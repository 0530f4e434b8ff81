//! `hpcsub scale`: runs the job at each configuration, K times, and reports how it scales.
//! One rank runs in this process, as `hpcsub run` does; more ranks run under `mpirun`. If a
//! configuration fails, the rows measured before it are kept and shown.

use std::ffi::OsString;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

use super::job::{self, JobArgs};
use super::local::RunOutcome;
use super::outcome::{Global, Outcome, Status};
use super::run;
use crate::diagnostic::AppError;
use crate::plan::available_cpus;
use crate::progress::RunsProgress;
use crate::report::{RunReport, TaskReport};
use crate::scale::{self, Config, Measured, plot};

/// Time the job at several thread (and rank) counts: speed-up, efficiency, Karp-Flatt, a plot.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  hpcsub scale jobs/quadratic.yaml --threads 1,2 --repeat 5\n  hpcsub scale jobs/quadratic.yaml --threads 1,2 --ranks 1,2 --plot scaling.svg   # ranks: the MPI build"
)]
pub struct Args {
    /// The job file (YAML).
    job: PathBuf,
    /// Threads per rank to try, e.g. 1,2,4 (default: 1, 2, 4, ... up to the CPUs available).
    #[arg(long)]
    threads: Option<String>,
    /// Ranks to try, e.g. 1,2 (more than 1 runs `mpirun`; needs the MPI build).
    #[arg(long)]
    ranks: Option<String>,
    /// Number of samples, e.g. 50M (default: compute.samples).
    #[arg(long)]
    samples: Option<String>,
    /// Runs per configuration; the table shows the best and the median.
    #[arg(long, default_value_t = 3)]
    repeat: u32,
    /// Draw speed-up against workers, with the ideal line and an Amdahl fit (.svg or .png).
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
}

#[derive(Serialize)]
pub struct Scaling {
    job: String,
    work: String,
    repeat: u32,
    machine: String,
    #[serde(flatten)]
    table: Value,
    identical_results: bool,
    notes: Vec<String>,
    warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plot: Option<String>,
    /// Why the configurations after the measured rows were not measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    failed: Option<String>,
    #[serde(skip)]
    text: String,
}

impl Outcome for Scaling {
    fn text(&self) -> String {
        self.text.clone()
    }

    fn status(&self) -> Status {
        match &self.failed {
            Some(why) => Status::Failed(why.clone()),
            None => Status::Success,
        }
    }
}

/// 1, 2, 4, ... up to the CPUs this process may use, and that count itself.
fn default_threads() -> Vec<usize> {
    let cpus = available_cpus();
    let mut threads: Vec<usize> = std::iter::successors(Some(1), |t| Some(t * 2))
        .take_while(|&t| t < cpus)
        .collect();
    threads.push(cpus);
    threads
}

/// How to start several ranks here: `mpirun` and the options it needs, or why it cannot be done.
fn mpi_launcher() -> Result<Vec<&'static str>, String> {
    if !cfg!(feature = "mpi") {
        return Err(
            "this hpcsub was built without MPI (`cargo build --release --features mpi`)".into(),
        );
    }
    match crate::process::run("mpirun", &["--version"], None, None) {
        // Open MPI binds each rank to one core by default, which would serialise its threads,
        // and refuses more ranks than slots.
        Ok(version) if version.contains("Open MPI") => {
            Ok(vec!["mpirun", "--oversubscribe", "--bind-to", "none"])
        }
        Ok(_) => Ok(vec!["mpirun"]),
        Err(_) => Err("`mpirun` is not on PATH (Debian: `apt-get install openmpi-bin`)".into()),
    }
}

/// A run's wall time and what it computed (compared across runs).
struct Timed {
    elapsed_s: f64,
    answer: String,
}

fn timed_compute(report: &RunReport) -> Timed {
    Timed {
        elapsed_s: report.elapsed_s,
        answer: format!(
            "{} {}",
            Value::Object(report.result.clone()),
            serde_json::to_string(&report.histogram).expect("JSON")
        ),
    }
}

fn timed_tasks(report: &TaskReport) -> Timed {
    Timed {
        elapsed_s: report.elapsed_s,
        answer: Value::Object(report.result.clone()).to_string(),
    }
}

fn run_in_process(args: &Args, threads: usize) -> Result<Timed, AppError> {
    let run_args = run::Args::for_scale(JobArgs {
        job: args.job.clone(),
        threads: Some(threads),
        samples: args.samples.clone(),
        seed: None,
    });
    match run::run(
        &run_args,
        Global {
            json: true,
            quiet: true,
            ..Global::default()
        },
    )? {
        RunOutcome::Compute(report) => Ok(timed_compute(&report)),
        RunOutcome::Tasks(report) => Ok(timed_tasks(&report)),
        RunOutcome::Workflow(_) | RunOutcome::SecondaryRank => Err(AppError::Run(
            "a run in this process reported no result of one job".into(),
        )),
    }
}

fn run_under_mpirun(
    launcher: &[&str],
    args: &Args,
    config: Config,
    task_job: bool,
) -> Result<Timed, AppError> {
    let mut arguments: Vec<OsString> = launcher[1..].iter().map(OsString::from).collect();
    arguments.extend(["-n".into(), config.ranks.to_string().into()]);
    arguments.push(crate::submit::this_binary()?.into());
    arguments.extend(["run", "--json", "--quiet", "--threads"].map(OsString::from));
    arguments.push(config.threads.to_string().into());
    arguments.push(args.job.clone().into());
    if let Some(samples) = &args.samples {
        arguments.extend(["--samples".into(), samples.into()]);
    }
    let stdout = crate::process::run(launcher[0], &arguments, None, None).map_err(|failure| {
        failure.into_error("install Open MPI (`apt-get install openmpi-bin`)")
    })?;
    let no_report = |e: serde_json::Error| {
        AppError::Run(format!(
            "mpirun -n {} printed no report ({e}): {}",
            config.ranks,
            stdout.trim()
        ))
    };
    if task_job {
        Ok(timed_tasks(
            &serde_json::from_str(&stdout).map_err(no_report)?,
        ))
    } else {
        Ok(timed_compute(
            &serde_json::from_str(&stdout).map_err(no_report)?,
        ))
    }
}

/// The CPU model and the CPUs this process may use, for the caption.
fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")?
                    .split_once(':')
                    .map(|(_, m)| m.trim().to_string())
            })
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    format!("{model}, {} CPUs available", available_cpus())
}

pub fn scale(args: &Args, global: Global) -> Result<Scaling, AppError> {
    let spec = job::load(&args.job, None, args.samples.as_deref(), None)?;
    let usage = |message: String| AppError::Usage(message);
    let threads = match &args.threads {
        Some(text) => scale::parse_list(text, "--threads").map_err(usage)?,
        None => default_threads(),
    };
    let ranks = match &args.ranks {
        Some(text) => scale::parse_list(text, "--ranks").map_err(usage)?,
        None => vec![1],
    };
    if let Some(path) = &args.plot {
        plot::check_path(path).map_err(usage)?;
    }
    if args.repeat == 0 {
        return Err(AppError::Usage("--repeat must be at least 1".into()));
    }
    let mut notes: Vec<String> = Vec::new();
    let launcher = if ranks.iter().any(|&r| r > 1) {
        mpi_launcher()
    } else {
        Ok(Vec::new())
    };
    let configs: Vec<Config> = ranks
        .iter()
        .filter(|&&r| match &launcher {
            Err(problem) if r > 1 => {
                notes.push(format!("skipped {r} ranks: {problem}"));
                false
            }
            _ => true,
        })
        .flat_map(|&r| {
            threads.iter().map(move |&t| Config {
                ranks: r as u32,
                threads: t,
            })
        })
        .collect();
    let cpus = available_cpus();
    let warnings: Vec<String> = configs
        .iter()
        .filter(|config| config.workers() > cpus)
        .map(|config| {
            format!(
                "{} asks for {} workers but only {cpus} CPUs are available: they will share cores",
                config.label(),
                config.workers()
            )
        })
        .collect();
    if !global.quiet && !global.json {
        for warning in &warnings {
            eprintln!("warning: {warning}");
        }
    }
    let progress = RunsProgress::new(configs.len() as u64 * u64::from(args.repeat), global.show());
    let mut measured: Vec<Measured> = Vec::new();
    let mut answers: Vec<String> = Vec::new();
    let mut failed = None;
    'configs: for &config in &configs {
        let mut times = Vec::new();
        for _ in 0..args.repeat {
            progress.starting(&config.label());
            let timed = if config.ranks == 1 {
                run_in_process(args, config.threads)
            } else {
                run_under_mpirun(
                    launcher.as_deref().unwrap_or_default(),
                    args,
                    config,
                    spec.tasks().is_some(),
                )
            };
            match timed {
                Ok(timed) => {
                    times.push(timed.elapsed_s);
                    answers.push(timed.answer);
                }
                Err(err) => {
                    failed = Some(format!("{} failed: {err}", config.label()));
                    break 'configs;
                }
            }
            progress.finished_one();
        }
        measured.push(Measured { config, times });
    }
    progress.finish();
    let identical = answers.windows(2).all(|pair| pair[0] == pair[1]);
    if !identical {
        notes.push(
            "the results differ between configurations; this is a bug, please report it".into(),
        );
    }
    let rows = scale::rows(&measured);
    let serial = scale::amdahl_fit(&measured, &rows, cpus);
    let machine = machine();
    if let (Some(path), false) = (&args.plot, measured.is_empty()) {
        let title = format!("{}: speed-up", spec.name);
        plot::draw(
            path,
            &rows,
            serial,
            &plot::Caption {
                title: &title,
                machine: &machine,
                cpus,
            },
        )
        .map_err(AppError::Run)?;
    }
    let work = match spec.compute() {
        Some(compute) => format!("{} samples", compute.samples),
        None => format!("{} tasks", spec.tasks().map_or(0, |t| t.count)),
    };
    let mut text = format!(
        "{}: {work}, best and median of {} run{} per configuration, on {machine}\n",
        spec.name,
        args.repeat,
        if args.repeat == 1 { "" } else { "s" }
    );
    text.push_str(&scale::table(&rows, serial));
    if identical && !answers.is_empty() {
        text.push_str("every run gave the same result, to the last bit\n");
    }
    for note in &notes {
        text.push_str(&format!("note: {note}\n"));
    }
    if let (Some(path), false) = (&args.plot, measured.is_empty()) {
        text.push_str(&format!("plot: {}\n", path.display()));
    }
    if let Some(why) = &failed {
        text.push_str(&format!(
            "error: {why}\nthe rows above were measured before it; later configurations were not run\n"
        ));
    }
    Ok(Scaling {
        job: spec.name.clone(),
        work,
        repeat: args.repeat,
        machine,
        table: scale::to_json(&measured, &rows, serial),
        identical_results: identical,
        notes,
        warnings,
        plot: args
            .plot
            .as_ref()
            .filter(|_| !measured.is_empty())
            .map(|p| p.display().to_string()),
        failed,
        text,
    })
}

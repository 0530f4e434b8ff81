//! `hpcsub scale`: runs the job at each configuration, K times, and reports how it scales.
//! One rank runs in this process, as `hpcsub run` does; more ranks run under `mpirun`.

use std::io::IsTerminal;
use std::path::Path;
use std::process::Command;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use super::{Output, Overrides, available_cpus, load_job, run};
use crate::diagnostic::AppError;
use crate::scale::{self, Config, Measured, plot};

pub struct ScaleRequest<'a> {
    pub job: &'a Path,
    pub threads: Option<&'a str>,
    pub ranks: Option<&'a str>,
    pub samples: Option<String>,
    pub repeat: u32,
    pub plot: Option<&'a Path>,
    pub json: bool,
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
    match Command::new("mpirun").arg("--version").output() {
        // Open MPI binds each rank to one core by default, which would serialise its threads,
        // and refuses more ranks than slots.
        Ok(output) if String::from_utf8_lossy(&output.stdout).contains("Open MPI") => {
            Ok(vec!["mpirun", "--oversubscribe", "--bind-to", "none"])
        }
        Ok(output) if output.status.success() => Ok(vec!["mpirun"]),
        _ => Err("`mpirun` is not on PATH (Debian: `apt-get install openmpi-bin`)".into()),
    }
}

/// A run's wall time and what it computed (the result and histogram, compared across runs).
fn timing(json: &Value) -> Result<(f64, String), AppError> {
    let elapsed = json["elapsed_s"]
        .as_f64()
        .ok_or_else(|| AppError::Run(format!("a run reported no elapsed_s: {json}")))?;
    Ok((elapsed, format!("{} {}", json["result"], json["histogram"])))
}

fn run_in_process(job: &Path, threads: usize, samples: &Option<String>) -> Result<Value, AppError> {
    let overrides = Overrides {
        threads: Some(threads),
        samples: samples.clone(),
        ..Overrides::default()
    };
    let output = Output {
        json: true,
        quiet: true,
        force_mpi: false,
    };
    let text = run(job, &overrides, output)?;
    serde_json::from_str(&text).map_err(|e| AppError::Run(format!("a run printed no JSON: {e}")))
}

fn run_under_mpirun(
    launcher: &[&str],
    job: &Path,
    config: Config,
    samples: &Option<String>,
) -> Result<Value, AppError> {
    let mut command = Command::new(launcher[0]);
    command
        .args(&launcher[1..])
        .args(["-n", &config.ranks.to_string()])
        .arg(crate::submit::this_binary()?)
        .args(["run", "--json", "--quiet", "--threads"])
        .arg(config.threads.to_string())
        .arg(job);
    if let Some(samples) = samples {
        command.args(["--samples", samples]);
    }
    let output = command
        .output()
        .map_err(|e| AppError::Run(format!("cannot run mpirun: {e}")))?;
    if !output.status.success() {
        return Err(AppError::Run(format!(
            "mpirun -n {} failed: {}",
            config.ranks,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| {
        AppError::Run(format!(
            "mpirun -n {} printed no JSON ({e}): {}",
            config.ranks,
            String::from_utf8_lossy(&output.stdout).trim()
        ))
    })
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

pub fn scale(request: &ScaleRequest) -> Result<String, AppError> {
    let spec = load_job(
        request.job,
        &Overrides {
            samples: request.samples.clone(),
            ..Overrides::default()
        },
    )?;
    let usage = |message: String| AppError::Usage(message);
    let threads = match request.threads {
        Some(text) => scale::parse_list(text, "--threads").map_err(usage)?,
        None => default_threads(),
    };
    let ranks = match request.ranks {
        Some(text) => scale::parse_list(text, "--ranks").map_err(usage)?,
        None => vec![1],
    };
    if let Some(path) = request.plot {
        plot::check_path(path).map_err(usage)?;
    }
    if request.repeat == 0 {
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
    let mut warnings: Vec<String> = Vec::new();
    for config in &configs {
        if config.workers() > cpus {
            let warning = format!(
                "{} asks for {} workers but only {cpus} CPUs are available: they will share cores",
                config.label(),
                config.workers()
            );
            eprintln!("warning: {warning}");
            warnings.push(warning);
        }
    }
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(configs.len() as u64 * u64::from(request.repeat));
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} runs, {msg}",
            )
            .expect("the template is valid"),
        );
        bar
    });
    let mut measured: Vec<Measured> = Vec::new();
    let mut results: Vec<(Config, String)> = Vec::new();
    for &config in &configs {
        let mut times = Vec::new();
        for _ in 0..request.repeat {
            if let Some(bar) = &bar {
                bar.set_message(config.label());
            }
            let json = if config.ranks == 1 {
                run_in_process(request.job, config.threads, &request.samples)?
            } else {
                let launcher = launcher.as_deref().unwrap_or_default();
                run_under_mpirun(launcher, request.job, config, &request.samples)?
            };
            let (elapsed, result) = timing(&json)?;
            times.push(elapsed);
            results.push((config, result));
            if let Some(bar) = &bar {
                bar.inc(1);
            }
        }
        measured.push(Measured { config, times });
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let identical = results.windows(2).all(|pair| pair[0].1 == pair[1].1);
    if !identical {
        notes.push(
            "the results differ between configurations; this is a bug, please report it".into(),
        );
    }
    let rows = scale::rows(&measured);
    let serial = scale::amdahl_fit(&measured, &rows, cpus);
    let machine = machine();
    if let Some(path) = request.plot {
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
    let what = match spec.compute() {
        Some(compute) => format!("{} samples", compute.samples),
        None => format!("{} tasks", spec.tasks().map_or(0, |t| t.count)),
    };
    if request.json {
        let mut json = scale::to_json(&measured, &rows, serial);
        json["job"] = spec.name.clone().into();
        json["work"] = what.into();
        json["repeat"] = request.repeat.into();
        json["machine"] = machine.into();
        json["identical_results"] = identical.into();
        json["notes"] = notes.into();
        json["warnings"] = warnings.into();
        if let Some(path) = request.plot {
            json["plot"] = path.display().to_string().into();
        }
        return Ok(json.to_string());
    }
    let mut text = format!(
        "{}: {what}, best and median of {} run{} per configuration, on {machine}\n",
        spec.name,
        request.repeat,
        if request.repeat == 1 { "" } else { "s" }
    );
    text.push_str(&scale::table(&rows, serial));
    if identical {
        text.push_str("every run gave the same result, to the last bit\n");
    }
    for note in &notes {
        text.push_str(&format!("note: {note}\n"));
    }
    if let Some(path) = request.plot {
        text.push_str(&format!("plot: {}\n", path.display()));
    }
    Ok(text)
}

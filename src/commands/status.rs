//! `hpcsub status`: where every slice of a submitted run stands.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::outcome::Outcome;
use super::steps;
use super::submitted;
use crate::diagnostic::AppError;
use crate::run_dir::parts;
use crate::spec::Balance;
use crate::submit::survey::{ResultState, SliceState, SliceStatus};

/// Show a submitted run: each slice done, running, pending, failed or missing, and the result.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  hpcsub status runs/quadratic-20261124T113500Z --json")]
pub struct Args {
    run_dir: PathBuf,
}

#[derive(Serialize)]
pub struct StatusReport {
    run_dir: String,
    scheduler: &'static str,
    job_ids: Vec<String>,
    slices: u32,
    /// Slices by state, every state listed.
    #[serde(flatten)]
    counts: BTreeMap<&'static str, usize>,
    /// The slices not done, with the reason where there is one.
    problems: Vec<SliceStatus>,
    /// The slices to run again (`hpcsub resubmit`).
    to_rerun: Vec<u32>,
    /// Gather jobs still in the queue, by state.
    gather_queued: BTreeMap<String, usize>,
    result: ResultState,
    /// What the slices with a part used, like `seff` but from the parts alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
    /// Inputs of a task job that changed since submission.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    changed_inputs: Vec<String>,
    /// Why the latest submission stopped before every job was submitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    submission_failed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    queue_error: Option<String>,
    /// A task job's tasks finished, in all and by slice.
    #[serde(skip_serializing_if = "Option::is_none")]
    tasks: Option<TasksFinished>,
}

#[derive(Serialize)]
struct TasksFinished {
    total: u64,
    finished: u64,
    balance: Balance,
    /// Slice by slice: its tasks finished, of how many (with `balance: dynamic`, of how many
    /// it has claimed so far).
    by_slice: Vec<[u64; 2]>,
}

impl Outcome for StatusReport {
    fn text(&self) -> String {
        let count = |name: &str| self.counts.get(name).copied().unwrap_or(0);
        let mut text = format!(
            "{} ({}, jobs {}): {} of {} slices done, {} running, {} pending, {} failed, {} missing\n",
            self.run_dir,
            self.scheduler,
            if self.job_ids.is_empty() {
                "none: never submitted".to_string()
            } else {
                self.job_ids.join(", ")
            },
            count("done"),
            self.slices,
            count("running"),
            count("pending"),
            count("failed"),
            count("missing"),
        );
        const SHOWN: usize = 20;
        for problem in self
            .problems
            .iter()
            .filter(|p| {
                matches!(p.state, SliceState::Failed | SliceState::Missing) || p.reason.is_some()
            })
            .take(SHOWN)
        {
            text.push_str(&format!(
                "  slice {}: {}{}\n",
                problem.slice,
                problem.state.name(),
                problem
                    .reason
                    .as_ref()
                    .map_or(String::new(), |r| format!(" ({r})"))
            ));
        }
        if let Some(tasks) = &self.tasks {
            const SLICES_SHOWN: usize = 8;
            let slices: Vec<String> = tasks
                .by_slice
                .iter()
                .take(SLICES_SHOWN)
                .enumerate()
                .map(|(slice, [finished, of])| match tasks.balance {
                    Balance::Static => format!("slice {slice}: {finished}/{of}"),
                    Balance::Dynamic => format!("slice {slice}: {finished}/{of} claimed"),
                })
                .collect();
            let more = if tasks.by_slice.len() > SLICES_SHOWN {
                ", ..."
            } else {
                ""
            };
            text.push_str(&format!(
                "  tasks: {} of {} finished ({}{more})\n",
                tasks.finished,
                tasks.total,
                slices.join(", ")
            ));
        }
        if !self.gather_queued.is_empty() {
            let queued: Vec<String> = self
                .gather_queued
                .iter()
                .map(|(state, n)| format!("{n} {state}"))
                .collect();
            text.push_str(&format!("  gather in the queue: {}\n", queued.join(", ")));
        }
        text.push_str(&format!(
            "  result: {}\n",
            match self.result {
                ResultState::Current => "result.json holds the gathered result of these parts",
                ResultState::Stale =>
                    "result.json does not match the parts present now (gather again)",
                ResultState::Absent => "none yet",
            }
        ));
        if !self.to_rerun.is_empty() {
            text.push_str(&format!(
                "  to run again: hpcsub resubmit {}\n",
                self.run_dir
            ));
        }
        if let Some(usage) = &self.usage {
            text.push_str(&format!(
                "  usage: CPU {:.3} s over {:.3} s of slices ({:.0}% of the CPUs asked for), peak memory {:.1} MiB\n",
                usage.cpu_s,
                usage.wall_s,
                usage.cpu_efficiency * 100.0,
                usage.peak_rss_mib
            ));
        }
        for change in &self.changed_inputs {
            text.push_str(&format!("warning: input {change}\n"));
        }
        if let Some(failure) = &self.submission_failed {
            text.push_str(&format!(
                "warning: the latest submission stopped before every job was submitted: {failure}\n"
            ));
        }
        if let Some(error) = &self.queue_error {
            text.push_str(&format!("warning: {error}\n"));
        }
        text
    }
}

/// The status of a run, or of every step of a workflow.
#[derive(Serialize)]
#[serde(untagged)]
pub enum StatusOutcome {
    Run(Box<StatusReport>),
    Workflow {
        run_dir: String,
        steps: Vec<StepStatus>,
    },
}

#[derive(Serialize)]
pub struct StepStatus {
    step: String,
    #[serde(flatten)]
    status: StatusReport,
}

impl Outcome for StatusOutcome {
    fn text(&self) -> String {
        match self {
            StatusOutcome::Run(report) => report.text(),
            StatusOutcome::Workflow { run_dir, steps } => {
                let mut text = format!("{run_dir}: a workflow of {} steps\n", steps.len());
                for step in steps {
                    text.push_str(&format!("step {}: ", step.step));
                    text.push_str(&step.status.text());
                }
                text
            }
        }
    }
}

#[derive(Serialize)]
struct Usage {
    cpu_s: f64,
    wall_s: f64,
    /// CPU time over what was asked for: threads per slice times the slices' wall time.
    cpu_efficiency: f64,
    peak_rss_mib: f64,
}

pub fn status(args: &Args) -> Result<StatusOutcome, AppError> {
    if let Some((workflow, dir)) = steps::open_workflow(&args.run_dir)? {
        return Ok(StatusOutcome::Workflow {
            run_dir: dir.path.display().to_string(),
            steps: workflow
                .steps
                .iter()
                .map(|step| {
                    Ok(StepStatus {
                        step: step.name.clone(),
                        status: report(&dir.step(&step.name))?,
                    })
                })
                .collect::<Result<_, AppError>>()?,
        });
    }
    report(&args.run_dir).map(|r| StatusOutcome::Run(Box::new(r)))
}

fn report(path: &std::path::Path) -> Result<StatusReport, AppError> {
    let run = submitted::open(path, false)?;
    let collected = submitted::collect(&run);
    let seen = collected.as_ref().map(|c| c.seen(&run));
    let (queue, queue_error) = submitted::queue_or_note(&run);
    let survey = crate::submit::survey(&run, seen.as_ref(), &queue);
    Ok(StatusReport {
        run_dir: run.path.display().to_string(),
        scheduler: run.manifest.scheduler.name(),
        job_ids: run.manifest.job_ids(),
        slices: run.slices(),
        counts: survey.counts(),
        to_rerun: survey.to_rerun(),
        problems: survey
            .slices
            .iter()
            .filter(|s| s.state != SliceState::Done)
            .cloned()
            .collect(),
        gather_queued: survey.gather_queued.clone(),
        result: survey.result,
        usage: seen.as_ref().filter(|s| !s.present.is_empty()).map(|s| {
            let asked = s.timing.slice_seconds * run.manifest.threads_per_slice as f64;
            Usage {
                cpu_s: s.timing.cpu_seconds,
                wall_s: s.timing.slice_seconds,
                cpu_efficiency: if asked > 0.0 {
                    s.timing.cpu_seconds / asked
                } else {
                    0.0
                },
                peak_rss_mib: s.timing.peak_rss_kib as f64 / 1024.0,
            }
        }),
        changed_inputs: run.changed_inputs(),
        submission_failed: run
            .manifest
            .submissions
            .last()
            .and_then(|s| s.failed.clone()),
        queue_error,
        tasks: run.spec.tasks().map(|tasks| {
            let balance = run.spec.split.balance;
            let present = seen.as_ref().map(|s| s.present.as_slice());
            let by_slice = parts::tasks_finished_by_slice(&run, tasks, present);
            TasksFinished {
                total: tasks.count,
                finished: by_slice.iter().map(|[finished, _]| finished).sum(),
                balance,
                by_slice,
            }
        }),
    })
}

//! `hpcsub check`: validate a job file and show its plan, as `run` and `submit` would use it.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::job::JobArgs;
use super::outcome::Outcome;
use crate::diagnostic::AppError;
use crate::kernel::{Kernel, chosen_isa};
use crate::plan::{self, JobPlan, Plan, Threads};
use crate::spec::{Balance, JobSpec, TasksSpec, Work, WorkflowSpec};

/// Validate a job file and print its plan: slices, threads, blocks, memory.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  hpcsub check jobs/quadratic.yaml\n  hpcsub check jobs/quadratic.yaml --json"
)]
pub struct Args {
    #[command(flatten)]
    job: JobArgs,
}

#[derive(Serialize)]
pub struct CheckOutcome {
    #[serde(flatten)]
    plan: JobPlan,
    /// The CPUs each slice asks for, and the threads it runs, when submitted.
    threads_per_submitted_slice: usize,
    /// How this machine computes the samples (compute jobs).
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    /// How long the job takes here, from timing warm blocks on one thread (compute jobs).
    #[serde(skip_serializing_if = "Option::is_none")]
    estimated_s: Option<f64>,
    /// The argv of the first tasks (task jobs).
    #[serde(skip_serializing_if = "Option::is_none")]
    commands: Option<Value>,
    /// Problems that will make tasks fail, seen before anything runs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
    #[serde(skip)]
    text: String,
    #[serde(skip)]
    notes: Vec<String>,
}

impl Outcome for CheckOutcome {
    fn text(&self) -> String {
        let mut text = self.text.clone();
        for warning in &self.warnings {
            text.push_str(&format!("warning: {warning}\n"));
        }
        text
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}

const SHOWN: usize = 20;

/// What `check` found: a job's plan, or a workflow's steps.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Checked {
    Job(Box<CheckOutcome>),
    Workflow(WorkflowCheck),
}

impl Outcome for Checked {
    fn text(&self) -> String {
        match self {
            Checked::Job(job) => job.text(),
            Checked::Workflow(workflow) => workflow.text.clone(),
        }
    }

    fn notes(&self) -> Vec<String> {
        match self {
            Checked::Job(job) => job.notes(),
            Checked::Workflow(_) => Vec::new(),
        }
    }
}

/// A workflow's steps, in the order they run, each with its plan.
#[derive(Serialize)]
pub struct WorkflowCheck {
    job: String,
    steps: Vec<StepCheck>,
    #[serde(skip)]
    text: String,
}

#[derive(Serialize)]
struct StepCheck {
    step: String,
    needs: Vec<String>,
    #[serde(flatten)]
    plan: JobPlan,
    threads_per_submitted_slice: usize,
}

pub fn check(args: &Args) -> Result<Checked, AppError> {
    let loaded = super::job::load_document(&args.job.job)?;
    match loaded.document {
        crate::spec::Document::Job(mut spec) => {
            super::job::apply(
                &mut spec,
                args.job.threads,
                args.job.samples.as_deref(),
                args.job.seed,
            )?;
            let resolved = loaded.resolved.into_iter().flatten().next();
            check_job(*spec, resolved).map(|c| Checked::Job(Box::new(c)))
        }
        crate::spec::Document::Workflow(workflow) => {
            Ok(Checked::Workflow(check_workflow(&workflow)))
        }
    }
}

fn check_workflow(workflow: &WorkflowSpec) -> WorkflowCheck {
    let mut text = format!(
        "{} is valid: a workflow of {} steps, run in this order (a step runs once the steps it needs are done):\n",
        workflow.name,
        workflow.steps.len()
    );
    let steps = workflow
        .steps
        .iter()
        .map(|step| {
            let job = crate::workflow::provisional(&step.job);
            let threads = plan::threads(&job);
            let plan = plan::of_job(&job, threads.here);
            let what = match (&job.work, step.job.compute()) {
                (_, Some(written)) if written.of_steps.samples.is_some() => {
                    "samples counted from the steps it needs".to_string()
                }
                (Work::Compute(compute), _) => format!("{} samples", compute.samples),
                (Work::Tasks(tasks), _) => match &tasks.from {
                    Some(from) => format!("{} tasks, one per task of `{from}`", tasks.count),
                    None => plural(tasks.count, "task"),
                },
            };
            text.push_str(&format!(
                "  {}: {what}, {} x {}{}\n",
                step.name,
                plural(u64::from(job.split.slices), "slice"),
                plural(threads.here as u64, "thread"),
                if step.needs.is_empty() {
                    String::new()
                } else {
                    format!("; needs {}", step.needs.join(", "))
                }
            ));
            StepCheck {
                step: step.name.clone(),
                needs: step.needs.clone(),
                plan,
                threads_per_submitted_slice: threads.per_slice,
            }
        })
        .collect();
    WorkflowCheck {
        job: workflow.name.clone(),
        steps,
        text,
    }
}

fn check_job(
    spec: JobSpec,
    resolved: Option<crate::jobfile::inputs::Resolved>,
) -> Result<CheckOutcome, AppError> {
    let threads = plan::threads(&spec);
    match &spec.work {
        Work::Compute(compute) => {
            let kernel = Kernel::new(&spec, compute, chosen_isa()?);
            let plan = plan::make(
                &spec,
                compute,
                &kernel.program,
                threads.here,
                spec.split.slices,
            );
            let code = kernel.code_path();
            let estimate = crate::executor::local::estimate(
                &kernel,
                spec.reduce.histogram,
                compute.samples,
                threads.here,
            );
            let notes = plan
                .slices
                .iter()
                .find(|s| s.samples() == 0)
                .map(|slice| {
                    format!(
                        "slice {} and maybe others are empty: {} samples make only {} blocks of {}",
                        slice.index, plan.samples, plan.blocks, plan.block_samples
                    )
                })
                .into_iter()
                .collect();
            Ok(CheckOutcome {
                text: compute_text(&spec, &plan, threads, &code, estimate),
                estimated_s: Some(estimate.as_secs_f64()),
                plan: JobPlan::Compute(plan),
                threads_per_submitted_slice: threads.per_slice,
                code: Some(code),
                commands: None,
                warnings: Vec::new(),
                notes,
            })
        }
        Work::Tasks(tasks) => {
            let plan = plan::make_for_tasks(&spec, tasks, threads.here, spec.split.slices);
            let commands = (0..tasks.count.min(1000))
                .map(|task| {
                    serde_json::json!({
                        "task": task,
                        "argv": argv(tasks, task),
                    })
                })
                .collect();
            Ok(CheckOutcome {
                text: tasks_text(&spec, tasks, threads),
                plan: JobPlan::Tasks(plan),
                threads_per_submitted_slice: threads.per_slice,
                code: None,
                estimated_s: None,
                commands: Some(commands),
                warnings: resolved
                    .iter()
                    .filter_map(|r| missing_program(tasks, &r.workdir))
                    .collect(),
                notes: Vec::new(),
            })
        }
    }
}

/// Why the first task's program would not start, if it would not: not on PATH, or (a path)
/// not an executable file relative to the working directory.
fn missing_program(tasks: &TasksSpec, workdir: &Path) -> Option<String> {
    let program = argv(tasks, 0).into_iter().next()?;
    let executable = |path: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let path = workdir.join(&program);
        return (!executable(&path)).then(|| {
            format!(
                "the program {} is not an executable file (paths are relative to {})",
                path.display(),
                workdir.display()
            )
        });
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path).any(|dir| executable(&dir.join(&program)));
    (!found).then(|| {
        format!(
            "the program `{program}` is not on PATH here (a module in `environment:` may add it)"
        )
    })
}

fn plural(n: u64, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// The thread line every plan shows: here, and per submitted slice.
fn threads_line(spec: &JobSpec, threads: Threads, unit: &str) -> String {
    let slices = u64::from(spec.split.slices);
    format!(
        "plan: {} x {} {unit} here; submitted, each slice asks for {} and runs {}{}\n",
        plural(slices, "slice"),
        plural(threads.here as u64, "thread"),
        plural(threads.per_slice as u64, "CPU"),
        plural(threads.per_slice as u64, "thread"),
        if spec.split.threads.is_none() {
            " (set split.threads to ask for more)"
        } else {
            ""
        }
    )
}

fn compute_text(
    spec: &JobSpec,
    plan: &Plan,
    threads: Threads,
    code: &str,
    estimate: std::time::Duration,
) -> String {
    let mut out = format!(
        "{} is valid: {} samples, seed {}, {} random var{}, {}\n",
        spec.name,
        plan.samples,
        plan.seed,
        plan.random_streams,
        if plan.random_streams == 1 { "" } else { "s" },
        plural(plan.registers as u64, "register") + " per chunk",
    );
    out.push_str(&threads_line(spec, threads, "each"));
    out.push_str(&format!(
        "blocks of {} samples ({} blocks), chunks of {}\n",
        plan.block_samples, plan.blocks, plan.chunk_samples,
    ));
    out.push_str(&format!(
        "memory: about {} KiB of working memory per slice, whatever the sample count\n",
        plan.memory_bytes.div_ceil(1024)
    ));
    out.push_str(&format!("code on this machine: {code}\n"));
    out.push_str(&format!(
        "estimated time here: {} on {} (from timing warm blocks on one thread)\n",
        crate::executor::local::readable(estimate),
        plural(threads.here as u64, "thread")
    ));
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
    out
}

/// The argv of one task, its `{outdir}` shown relative to where the run puts it.
fn argv(tasks: &TasksSpec, task: u64) -> Vec<String> {
    let outdir = crate::executor::command::outdir(std::path::Path::new("outputs"), task);
    let outdir = outdir.display().to_string();
    tasks
        .command
        .iter()
        .map(|t| tasks.fill(t, task, &outdir))
        .collect()
}

/// The argv of one task, as a JSON array: unambiguous about spaces and quotes.
fn argv_json(tasks: &TasksSpec, task: u64) -> String {
    serde_json::to_string(&argv(tasks, task)).expect("strings always serialize")
}

fn tasks_text(spec: &JobSpec, tasks: &TasksSpec, threads: Threads) -> String {
    let params: Vec<String> = tasks
        .params
        .iter()
        .map(|p| format!("{} ({} values)", p.name, p.values.len()))
        .collect();
    let mut out = format!(
        "{} is valid: {}{}, result {}, {}, {} retr{}\n",
        spec.name,
        plural(tasks.count, "task"),
        if params.is_empty() {
            String::new()
        } else {
            format!(" over {}", params.join(" x "))
        },
        tasks.result.name(),
        tasks
            .timeout
            .map_or("no timeout".to_string(), |t| format!("timeout {t:?}")),
        tasks.retries,
        if tasks.retries == 1 { "y" } else { "ies" },
    );
    out.push_str(&threads_line(spec, threads, "(tasks at a time)"));
    let dynamic = spec.split.balance == Balance::Dynamic;
    out.push_str(&if dynamic {
        format!(
            "balance: dynamic: submitted, each of the {} claims its next batch of tasks from the run directory when a thread is free (about 1 s of work a batch), and takes over the batches of a slice that stopped; under mpirun, rank i runs task i mod {}\n",
            plural(u64::from(spec.split.slices), "slice"),
            spec.split.slices
        )
    } else {
        format!(
            "balance: static: task i runs in slice i mod {}\n",
            spec.split.slices
        )
    });
    out.push_str(if dynamic {
        "   task  command (run without a shell)\n"
    } else {
        "   task  slice  command (run without a shell)\n"
    });
    for task in 0..tasks.count.min(SHOWN as u64) {
        let slice = if dynamic {
            String::new()
        } else {
            format!("{:>5}  ", task % u64::from(spec.split.slices))
        };
        out.push_str(&format!("  {task:>5}  {slice}{}\n", argv_json(tasks, task)));
    }
    if tasks.count > SHOWN as u64 {
        out.push_str(&format!(
            "  ... {} more (use --json)\n",
            tasks.count - SHOWN as u64
        ));
    }
    out
}

//! What the commands on a submitted run share: surveying it, gathering it into a report, and
//! waiting for it. Every one of them says what the survey says.

use std::path::Path;

use serde::Serialize;

use super::outcome::{Global, Outcome, Status};
use crate::diagnostic::AppError;
use crate::kernel::{Isa, Kernel};
use crate::progress::WaitProgress;
use crate::report::{RunReport, Spread, Submitted, TaskRecorder, TaskReport, write_task_files};
use crate::run_dir::parts::{self, Collected, PartsSeen};
use crate::run_dir::workflow::WorkflowDir;
use crate::run_dir::{PARTS_DIGEST_KEY, RESULT_FILE, RunDir};
use crate::spec::SlurmMode;
use crate::submit::queue::QueueEntry;
use crate::submit::survey::{SliceState, Survey};

/// Opens a run directory; a workflow step's job is bound to what the steps it needs left. With
/// `strict`, a step that cannot be bound yet (the steps it needs have not finished) is an
/// error; else it is given provisional values, which is enough to look at its parts.
pub fn open(path: &Path, strict: bool) -> Result<RunDir, AppError> {
    let mut run = RunDir::open(path)?;
    if let Some(step) = &run.step {
        let dir = WorkflowDir::of_step(&run.path);
        run.spec = match crate::workflow::bind(step, &run.spec, &dir) {
            Ok(job) => job,
            Err(why) if strict => {
                return Err(AppError::Run(format!(
                    "step `{}` cannot run yet: {why}",
                    step.name
                )));
            }
            Err(_) => crate::workflow::provisional(&run.spec),
        };
    }
    Ok(run)
}

/// The parts of an array run, gathered (`None` for an MPI-mode run, which has none).
pub fn collect(run: &RunDir) -> Option<Collected> {
    (run.manifest.mode == SlurmMode::Array).then(|| {
        Collected::gather(run, |compute| {
            Kernel::new(&run.spec, compute, Isa::Portable).shift
        })
    })
}

/// Removes the parts that `seen` found corrupt, so that their slices, submitted again, write
/// them anew.
pub fn remove_corrupt_parts(run: &RunDir, seen: Option<&PartsSeen>) -> Result<(), AppError> {
    for (slice, _) in seen.iter().flat_map(|s| &s.corrupt) {
        let part = parts::path(&run.parts(), *slice);
        std::fs::remove_file(&part).map_err(|e| {
            AppError::Run(format!("cannot remove the corrupt {}: {e}", part.display()))
        })?;
    }
    Ok(())
}

/// The queue, or why it could not be read (the survey then goes by the parts alone).
pub fn queue_or_note(run: &RunDir) -> (Vec<QueueEntry>, Option<String>) {
    if run.manifest.submissions.is_empty() {
        return (Vec::new(), None);
    }
    match crate::submit::queue(run) {
        Ok(entries) => (entries, None),
        Err(err) => (
            Vec::new(),
            Some(format!(
                "the queue could not be read, so queued slices may show as missing: {err}"
            )),
        ),
    }
}

fn submitted(run: &RunDir, collected: Option<&Collected>) -> Submitted {
    let seen = collected.map(|c| c.seen(run));
    Submitted {
        run_dir: run.path.display().to_string(),
        job_ids: run.manifest.job_ids(),
        slice_seconds: seen.as_ref().map_or(0.0, |s| s.timing.slice_seconds),
        parts_digest: seen.map(|s| s.digest).unwrap_or_default(),
    }
}

/// One slice that is not done, as a gather reports it.
#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    pub slice: u32,
    pub state: SliceState,
    pub problem: String,
    pub logs: Vec<String>,
}

/// A gather that found slices not done: exit 3, nothing written to `result.json`.
#[derive(Clone, Debug, Serialize)]
pub struct Incomplete {
    pub run_dir: String,
    pub job_ids: Vec<String>,
    pub slices: u32,
    pub missing: Vec<u32>,
    pub corrupt: Vec<u32>,
    pub problems: Vec<Problem>,
}

impl Incomplete {
    fn new(run: &RunDir, survey: &Survey, seen: Option<&PartsSeen>) -> Incomplete {
        let problems: Vec<Problem> = survey
            .slices
            .iter()
            .filter(|s| s.state != SliceState::Done)
            .map(|s| Problem {
                slice: s.slice,
                state: s.state.clone(),
                problem: match &s.reason {
                    Some(reason) => format!("{}: {reason}", s.state.name()),
                    None => s.state.name().to_string(),
                },
                logs: parts::logs_of(run, s.slice)
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
            })
            .collect();
        Incomplete {
            run_dir: run.path.display().to_string(),
            job_ids: run.manifest.job_ids(),
            slices: run.slices(),
            missing: problems
                .iter()
                .filter(|p| p.state == SliceState::Missing)
                .map(|p| p.slice)
                .collect(),
            corrupt: seen.map_or_else(Vec::new, |s| {
                s.corrupt.iter().map(|(slice, _)| *slice).collect()
            }),
            problems,
        }
    }

    fn text(&self) -> String {
        let mut text = format!(
            "{}: {} of {} slices are not done; nothing was written to {RESULT_FILE}\n",
            self.run_dir,
            self.problems.len(),
            self.slices
        );
        for problem in &self.problems {
            text.push_str(&format!(
                "  slice {}: {} ({})\n",
                problem.slice,
                problem.problem,
                match problem.logs.as_slice() {
                    [] => "no log".to_string(),
                    logs => format!("log: {}", logs.join(", ")),
                }
            ));
        }
        if !self.job_ids.is_empty() {
            text.push_str(&format!("  jobs   {}\n", self.job_ids.join(", ")));
        }
        text
    }
}

/// What gathering a submitted run gave.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Gathered {
    Compute(RunReport),
    Tasks(TaskReport),
    Incomplete(Incomplete),
}

impl Outcome for Gathered {
    fn text(&self) -> String {
        match self {
            Gathered::Compute(report) => report.to_table(),
            Gathered::Tasks(report) => report.to_table(),
            Gathered::Incomplete(report) => report.text(),
        }
    }

    fn status(&self) -> Status {
        match self {
            Gathered::Tasks(report) if report.failed_count() > 0 => Status::Failed(format!(
                "{} of {} tasks failed; nothing was written to {RESULT_FILE}",
                report.failed_count(),
                report.task_count
            )),
            Gathered::Incomplete(report) => Status::Incomplete(format!(
                "{} of {} slices are not done",
                report.problems.len(),
                report.slices
            )),
            _ => Status::Success,
        }
    }
}

/// Gathers a submitted run: the result of every slice's part, exactly merged and written to
/// `result.json`; or (exit 3) which slices are not done and why; or (exit 1) the result of the
/// tasks that succeeded and which failed.
pub fn gather(run: &RunDir, queue: &[QueueEntry]) -> Result<Gathered, AppError> {
    let collected = collect(run);
    let seen = collected.as_ref().map(|c| c.seen(run));
    let survey = crate::submit::survey(run, seen.as_ref(), queue);
    let only_tasks_failed = survey.slices.iter().all(|s| {
        s.state == SliceState::Done
            || (s.state == SliceState::Failed
                && seen
                    .as_ref()
                    .is_some_and(|p| p.failed_tasks.contains_key(&s.slice)))
    });
    if !only_tasks_failed {
        return Ok(Gathered::Incomplete(Incomplete::new(
            run,
            &survey,
            seen.as_ref(),
        )));
    }
    let submitted = submitted(run, collected.as_ref());
    let spec = &run.spec;
    let slices = Spread::Slices(run.slices());
    let threads = run.manifest.threads_per_slice;
    let gathered = match collected {
        None => return mpi_result(run, submitted),
        Some(Collected::Compute(g)) => {
            let samples = spec.compute().map_or(0, |c| c.samples);
            let mut report = RunReport::new(
                spec,
                samples,
                slices,
                threads,
                &g.total,
                g.timing.elapsed_s(),
            );
            report.submitted = Some(submitted);
            Gathered::Compute(report)
        }
        Some(Collected::Tasks(g)) => {
            let tasks = spec.tasks().expect("a task run");
            let elapsed_s = g.timing.elapsed_s();
            let recorded = TaskRecorder::new(tasks, &spec.reduce.statistics, &run.path)
                .and_then(|recorder| recorder.record_all(g.total))
                .map_err(|e| {
                    AppError::Run(format!(
                        "cannot record the tasks' outcomes in {}: {e}",
                        run.path.display()
                    ))
                })?;
            let mut report = TaskReport::new(
                spec,
                tasks,
                slices,
                threads,
                recorded,
                Some(run.logs().display().to_string()),
                elapsed_s,
            );
            write_task_files(&run.path, &report.tasks).map_err(|e| {
                AppError::Run(format!(
                    "cannot write tasks.jsonl and tasks.csv in {}: {e}",
                    run.path.display()
                ))
            })?;
            report.submitted = Some(submitted);
            report.warnings = run
                .changed_inputs()
                .into_iter()
                .map(|change| format!("input {change}"))
                .collect();
            Gathered::Tasks(report)
        }
    };
    if gathered.status() == Status::Success {
        let mut value = serde_json::to_value(&gathered).expect("reports serialize");
        value[PARTS_DIGEST_KEY] = seen.map(|s| s.digest).unwrap_or_default().into();
        run.write(RESULT_FILE, &value.to_string())?;
    }
    Ok(gathered)
}

/// An MPI-mode run has no parts: rank 0 wrote `result.json`, which is its report.
fn mpi_result(run: &RunDir, submitted: Submitted) -> Result<Gathered, AppError> {
    let file = run.path.join(RESULT_FILE);
    let text = crate::bounded_read::text(&file, 1 << 30)
        .map_err(|e| AppError::Run(format!("cannot read {}: {e}", file.display())))?;
    let not_a_report = |e: serde_json::Error| {
        AppError::Run(format!(
            "{} is not a report of hpcsub run: {e}",
            file.display()
        ))
    };
    Ok(if run.spec.tasks().is_some() {
        let mut report: TaskReport = serde_json::from_str(&text).map_err(not_a_report)?;
        report.submitted = Some(submitted);
        Gathered::Tasks(report)
    } else {
        let mut report: RunReport = serde_json::from_str(&text).map_err(not_a_report)?;
        report.submitted = Some(submitted);
        Gathered::Compute(report)
    })
}

/// Waits until the jobs `waited` have left the queue, showing the survey as a bar, then
/// gathers.
pub fn wait_and_gather(
    run: &RunDir,
    waited: &[String],
    global: Global,
) -> Result<Gathered, AppError> {
    let progress = WaitProgress::new(run.slices(), global.show());
    crate::submit::wait(run, waited, |queue| show_survey(&progress, run, queue))?;
    progress.finish();
    let (queue, _) = queue_or_note(run);
    gather(run, &queue)
}

/// Shows on `progress` how the slices of `run` stand, given the queue just read.
pub fn show_survey(progress: &WaitProgress, run: &RunDir, queue: &[QueueEntry]) {
    if !progress.is_visible() {
        return;
    }
    let seen = collect(run).map(|c| c.seen(run));
    let survey = crate::submit::survey(run, seen.as_ref(), queue);
    progress.show(
        survey.count(&SliceState::Done),
        survey.count(&SliceState::Running),
        survey.count(&SliceState::Pending),
        survey.count(&SliceState::Failed) + survey.count(&SliceState::Missing),
        run.spec
            .tasks()
            .map(|tasks| {
                let present = seen.as_ref().map(|s| s.present.as_slice());
                parts::tasks_finished_by_slice(run, tasks, present)
            })
            .as_deref(),
    );
}

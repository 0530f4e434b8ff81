//! Workflows (`steps:`). Run here: the steps in dependency order, the steps that need nothing
//! of each other at the same time, sharing the threads; a step whose definition, inputs and
//! needed results are those it last ran with in the run directory is kept ("cached").
//! Submitted: one run directory per step under the workflow's, every step's array waiting for
//! the gathers of the steps it needs, so the whole graph is queued at once.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::job::LoadedDocument;
use super::local::{self, Logs, RunOutcome};
use super::outcome::{Global, Outcome, Status};
use super::submitted::{self, Gathered};
use super::workflow_report::{
    StepHanded, StepOutcome, StepReport, StepStatus, Submitted, WorkflowHanded, WorkflowReport,
};
use crate::diagnostic::AppError;
use crate::executor::ranks::{self, Ranks, Session};
use crate::jobfile::inputs::Resolved;
use crate::plan::{self, available_cpus};
use crate::progress::{Board, Show, WaitProgress};
use crate::report::{RunReport, TaskReport};
use crate::run_dir::RunDir;
use crate::run_dir::workflow::{StepRecord, WorkflowDir};
use crate::spec::{JobSpec, SlurmMode, StepSpec, Work, WorkflowSpec};
use crate::submit::{self as scheduler, Request, Scheduler};
use crate::workflow::{Bound, bind, provisional, step_hash};

/// How one step of this run ended.
struct Ended {
    status: StepStatus,
    reason: Option<String>,
    elapsed_s: Option<f64>,
    report: Option<StepReport>,
}

/// A step's report, from what running it here gave.
fn step_report(outcome: RunOutcome) -> Option<StepReport> {
    match outcome {
        RunOutcome::Compute(report) => Some(StepReport::Compute(report)),
        RunOutcome::Tasks(report) => Some(StepReport::Tasks(report)),
        RunOutcome::Workflow(_) | RunOutcome::SecondaryRank => None,
    }
}

/// What `hpcsub run` asks of a workflow.
pub struct RunRequest<'a> {
    pub run_dir: Option<&'a Path>,
    /// Steps to run even if their result could be kept.
    pub force: &'a [String],
    /// The thread budget (default: every CPU).
    pub threads: Option<usize>,
}

pub fn run(
    workflow: &WorkflowSpec,
    source: &str,
    resolved: &[Option<Resolved>],
    args: &RunRequest,
    ranks: Ranks,
    global: Global,
) -> Result<RunOutcome, AppError> {
    for step in args.force {
        if workflow.step(step).is_none() {
            let names: Vec<&str> = workflow.steps.iter().map(|s| s.name.as_str()).collect();
            return Err(AppError::Usage(format!(
                "--force {step}: this workflow has no such step (its steps: {})",
                names.join(", ")
            )));
        }
    }
    let path = args.run_dir.map(Path::to_path_buf).unwrap_or_else(|| {
        PathBuf::from("runs").join(format!("{}-{}", workflow.name, crate::run_dir::now_utc()))
    });
    match ranks {
        Ranks::Mpi(launch) => {
            let session = crate::executor::ranks::start(launch.as_ref())?;
            run_ranks(&session, workflow, source, resolved, args, &path, global)
        }
        _ => run_here(workflow, source, resolved, args, global, &path).map(RunOutcome::Workflow),
    }
}

/// The steps in this process, independent ones at the same time.
fn run_here(
    workflow: &WorkflowSpec,
    source: &str,
    resolved: &[Option<Resolved>],
    args: &RunRequest,
    global: Global,
    path: &Path,
) -> Result<WorkflowReport, AppError> {
    let started = Instant::now();
    let dir = WorkflowDir::prepare(path, &workflow.name, source)?;
    let mut state = dir.state()?;
    state.job = workflow.name.clone();
    let budget = args.threads.unwrap_or_else(available_cpus);
    let board = Board::new(global.show());
    let mut ended: Vec<Option<Ended>> = (0..workflow.steps.len()).map(|_| None).collect();
    for level in levels(workflow) {
        let mut to_run = Vec::new();
        for &index in &level {
            let step = &workflow.steps[index];
            let blocked = step.needs.iter().find(|need| {
                let i = workflow
                    .steps
                    .iter()
                    .position(|s| &s.name == *need)
                    .expect("validated");
                ended[i]
                    .as_ref()
                    .is_some_and(|e| matches!(e.status, StepStatus::Failed | StepStatus::Skipped))
            });
            if let Some(need) = blocked {
                ended[index] = Some(Ended {
                    status: StepStatus::Skipped,
                    reason: Some(format!("step `{need}` did not complete")),
                    elapsed_s: None,
                    report: None,
                });
                continue;
            }
            let hash = step_hash(step, resolved[index].as_ref(), &dir);
            let kept = state.steps.get(&step.name)
                == Some(&StepRecord {
                    hash: hash.clone(),
                    done: true,
                })
                && !args.force.contains(&step.name);
            match kept.then(|| cached(step, &dir)).flatten() {
                Some(report) => {
                    ended[index] = Some(Ended {
                        status: StepStatus::Cached,
                        reason: None,
                        elapsed_s: None,
                        report: Some(report),
                    });
                }
                None => to_run.push((index, hash)),
            }
        }
        let share = (budget / to_run.len().max(1)).max(1);
        let results: Vec<(usize, String, Ended)> = std::thread::scope(|scope| {
            let handles: Vec<_> = to_run
                .iter()
                .map(|(index, hash)| {
                    let step = &workflow.steps[*index];
                    let resolved = resolved[*index].as_ref();
                    let (dir, board) = (&dir, &board);
                    scope.spawn(move || {
                        if !global.quiet && !global.json {
                            board.note(&format!("step {}: running", step.name));
                        }
                        let ended = board.in_step(&step.name, || {
                            run_step(step, resolved, dir, share, global.show())
                        });
                        (*index, hash.clone(), ended)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a step's thread does not panic"))
                .collect()
        });
        for (index, hash, outcome) in results {
            let done = outcome.status == StepStatus::Ran;
            state.steps.insert(
                workflow.steps[index].name.clone(),
                StepRecord { hash, done },
            );
            dir.save_state(&state)?;
            ended[index] = Some(outcome);
        }
    }
    Ok(WorkflowReport {
        job: workflow.name.clone(),
        run_dir: dir.path.display().to_string(),
        steps: workflow
            .steps
            .iter()
            .zip(ended)
            .map(|(step, ended)| {
                let ended = ended.expect("every step ends");
                StepOutcome {
                    step: step.name.clone(),
                    status: ended.status,
                    reason: ended.reason,
                    elapsed_s: ended.elapsed_s,
                    report: ended.report,
                }
            })
            .collect(),
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

/// What rank 0 decided about a step, for every rank to do the same.
#[derive(Serialize, serde::Deserialize)]
enum Decision {
    Skip(String),
    Cached,
    Fail(String),
    Run { hash: String, bound: Bound },
}

/// The steps as an MPI job: every step in order across all ranks. Rank 0 keeps the run
/// directory, decides what each step does and sends every rank what the step needs of the
/// steps before it; the steps' reductions gather on rank 0, which alone reports.
fn run_ranks(
    session: &Session,
    workflow: &WorkflowSpec,
    source: &str,
    resolved: &[Option<Resolved>],
    args: &RunRequest,
    path: &Path,
    global: Global,
) -> Result<RunOutcome, AppError> {
    let started = Instant::now();
    let rank0 = ranks::rank(session) == 0;
    let board = Board::new(if rank0 { global.show() } else { Show::Never });
    // Every rank must agree on the run directory: rank 0 makes it (a default name holds its
    // time) and sends its path, or why it could not.
    let prepared: Result<PathBuf, String> = if rank0 {
        WorkflowDir::prepare(path, &workflow.name, source)
            .map(|d| d.path)
            .map_err(|e| e.to_string())
    } else {
        Ok(PathBuf::new())
    };
    let prepared: Result<PathBuf, String> = serde_json::from_slice(&ranks::broadcast(
        session,
        serde_json::to_vec(&prepared).expect("JSON"),
    ))
    .map_err(|e| AppError::Run(format!("rank 0 sent no run directory: {e}")))?;
    let dir = WorkflowDir {
        path: prepared.map_err(AppError::Run)?,
    };
    let mut state = if rank0 {
        dir.state()?
    } else {
        Default::default()
    };
    state.job = workflow.name.clone();
    let threads = args.threads.unwrap_or_else(available_cpus);
    let mut ended: Vec<Ended> = Vec::new();
    for (index, step) in workflow.steps.iter().enumerate() {
        let decision = if rank0 {
            decide(
                step, index, workflow, &ended, resolved, &dir, &state, args.force,
            )
        } else {
            Decision::Cached
        };
        let decision: Decision = serde_json::from_slice(&ranks::broadcast(
            session,
            serde_json::to_vec(&decision).expect("JSON"),
        ))
        .map_err(|e| AppError::Run(format!("rank 0 sent no decision: {e}")))?;
        let outcome = match decision {
            Decision::Skip(reason) => Ended {
                status: StepStatus::Skipped,
                reason: Some(reason),
                elapsed_s: None,
                report: None,
            },
            Decision::Fail(reason) => Ended {
                status: StepStatus::Failed,
                reason: Some(reason),
                elapsed_s: None,
                report: None,
            },
            Decision::Cached => Ended {
                status: StepStatus::Cached,
                reason: None,
                elapsed_s: None,
                report: if rank0 { cached(step, &dir) } else { None },
            },
            Decision::Run { hash, bound } => {
                if rank0 && !global.quiet && !global.json {
                    board.note(&format!("step {}: running", step.name));
                }
                let outcome = match crate::workflow::apply(&step.job, &bound) {
                    Ok(job) => board.in_step(&step.name, || {
                        run_bound(
                            job,
                            step,
                            resolved[index].as_ref(),
                            &dir,
                            threads,
                            Ranks::Session(session),
                            global.show(),
                        )
                    }),
                    Err(reason) => Ended {
                        status: StepStatus::Failed,
                        reason: Some(reason),
                        elapsed_s: Some(0.0),
                        report: None,
                    },
                };
                if rank0 {
                    let done = outcome.status == StepStatus::Ran;
                    state
                        .steps
                        .insert(step.name.clone(), StepRecord { hash, done });
                    dir.save_state(&state)?;
                }
                outcome
            }
        };
        ended.push(outcome);
    }
    if !rank0 {
        return Ok(RunOutcome::SecondaryRank);
    }
    Ok(RunOutcome::Workflow(WorkflowReport {
        job: workflow.name.clone(),
        run_dir: dir.path.display().to_string(),
        steps: workflow
            .steps
            .iter()
            .zip(ended)
            .map(|(step, ended)| StepOutcome {
                step: step.name.clone(),
                status: ended.status,
                reason: ended.reason,
                elapsed_s: ended.elapsed_s,
                report: ended.report,
            })
            .collect(),
        elapsed_s: started.elapsed().as_secs_f64(),
    }))
}

/// Rank 0's decision about step `index`, given how the steps before it ended.
#[allow(clippy::too_many_arguments)]
fn decide(
    step: &StepSpec,
    index: usize,
    workflow: &WorkflowSpec,
    ended: &[Ended],
    resolved: &[Option<Resolved>],
    dir: &WorkflowDir,
    state: &crate::run_dir::workflow::WorkflowState,
    force: &[String],
) -> Decision {
    let blocked = step.needs.iter().find(|need| {
        let i = workflow
            .steps
            .iter()
            .position(|s| &s.name == *need)
            .expect("validated");
        matches!(ended[i].status, StepStatus::Failed | StepStatus::Skipped)
    });
    if let Some(need) = blocked {
        return Decision::Skip(format!("step `{need}` did not complete"));
    }
    let hash = step_hash(step, resolved[index].as_ref(), dir);
    let kept = state.steps.get(&step.name)
        == Some(&StepRecord {
            hash: hash.clone(),
            done: true,
        })
        && !force.contains(&step.name)
        && cached(step, dir).is_some();
    if kept {
        return Decision::Cached;
    }
    match crate::workflow::bindings(step, &step.job, dir) {
        Ok(bound) => Decision::Run { hash, bound },
        Err(reason) => Decision::Fail(reason),
    }
}

/// The steps in waves: each wave needs only steps of the waves before it.
fn levels(workflow: &WorkflowSpec) -> Vec<Vec<usize>> {
    let mut level = vec![0usize; workflow.steps.len()];
    for (index, step) in workflow.steps.iter().enumerate() {
        level[index] = step
            .needs
            .iter()
            .map(|need| {
                let i = workflow
                    .steps
                    .iter()
                    .position(|s| &s.name == need)
                    .expect("validated");
                level[i] + 1
            })
            .max()
            .unwrap_or(0);
    }
    let deepest = level.iter().copied().max().unwrap_or(0);
    (0..=deepest)
        .map(|l| (0..level.len()).filter(|&i| level[i] == l).collect())
        .collect()
}

/// The report a step left in the run directory, if it is there and readable.
fn cached(step: &StepSpec, dir: &WorkflowDir) -> Option<StepReport> {
    let text = crate::bounded_read::text(&dir.result(&step.name), 1 << 30).ok()?;
    match step.job.work {
        Work::Compute(_) => serde_json::from_str::<RunReport>(&text)
            .ok()
            .map(StepReport::Compute),
        Work::Tasks(_) => serde_json::from_str::<TaskReport>(&text)
            .ok()
            .map(StepReport::Tasks),
    }
}

/// Binds and runs one step with `threads` threads (unless it asks for its own), and leaves its
/// result in the run directory if it succeeded.
fn run_step(
    step: &StepSpec,
    resolved: Option<&Resolved>,
    dir: &WorkflowDir,
    threads: usize,
    show: Show,
) -> Ended {
    match bind(step, &step.job, dir) {
        Ok(job) => run_bound(job, step, resolved, dir, threads, Ranks::One, show),
        Err(reason) => Ended {
            status: StepStatus::Failed,
            reason: Some(reason),
            elapsed_s: Some(0.0),
            report: None,
        },
    }
}

/// Runs a bound step and leaves its result in the run directory if it succeeded (on rank 0 of
/// an MPI job, which alone has the result; the other ranks end as having run it).
fn run_bound(
    mut job: JobSpec,
    step: &StepSpec,
    resolved: Option<&Resolved>,
    dir: &WorkflowDir,
    threads: usize,
    ranks: Ranks,
    show: Show,
) -> Ended {
    let started = Instant::now();
    let failed = |reason: String| Ended {
        status: StepStatus::Failed,
        reason: Some(reason),
        elapsed_s: Some(started.elapsed().as_secs_f64()),
        report: None,
    };
    job.split.threads.get_or_insert(threads);
    // The step's own report goes into the workflow's, never to stdout: only its progress shows.
    let step_global = Global {
        json: true,
        quiet: false,
        progress: show,
    };
    let outcome = match run_job(&job, step, resolved, dir, step_global, ranks) {
        Ok(RunOutcome::SecondaryRank) => {
            return Ended {
                status: StepStatus::Ran,
                reason: None,
                elapsed_s: None,
                report: None,
            };
        }
        Ok(outcome) => outcome,
        Err(err) => return failed(err.to_string()),
    };
    let elapsed_s = Some(started.elapsed().as_secs_f64());
    if let Status::Failed(reason) = outcome.status() {
        return Ended {
            status: StepStatus::Failed,
            reason: Some(reason),
            elapsed_s,
            report: step_report(outcome),
        };
    }
    let text = serde_json::to_string(&outcome).expect("reports serialize");
    match dir.write_result(&step.name, &text) {
        Ok(()) => Ended {
            status: StepStatus::Ran,
            reason: None,
            elapsed_s,
            report: step_report(outcome),
        },
        Err(err) => failed(err.to_string()),
    }
}

fn run_job(
    job: &JobSpec,
    step: &StepSpec,
    resolved: Option<&Resolved>,
    dir: &WorkflowDir,
    global: Global,
    ranks: Ranks,
) -> Result<RunOutcome, AppError> {
    match &job.work {
        Work::Compute(compute) => local::run_compute(job, compute, ranks, global),
        Work::Tasks(tasks) => {
            let workdir = resolved
                .map(|r| r.workdir.clone())
                .expect("a task step is resolved");
            let logs = Logs::new(Some(&dir.logs(&step.name)), &job.name)?;
            local::run_tasks(
                job,
                tasks,
                &workdir,
                logs,
                &dir.outputs(&step.name),
                Some(&dir.step(&step.name)),
                ranks,
                global,
            )
        }
    }
}

/// Submits a workflow: a run directory with one step directory each, every step's array
/// waiting for the gathers of the steps it needs (so the whole graph is queued at once).
pub fn submit(
    workflow: &WorkflowSpec,
    loaded: &LoadedDocument,
    scheduler: Scheduler,
    run_dir: Option<&Path>,
    dry_run: bool,
    wait: bool,
    global: Global,
) -> Result<Submitted, AppError> {
    let path = run_dir.map(Path::to_path_buf).unwrap_or_else(|| {
        PathBuf::from("runs").join(format!("{}-{}", workflow.name, crate::run_dir::now_utc()))
    });
    let dir = WorkflowDir::create(&path, &workflow.name, &loaded.source)?;
    let _lock = crate::run_dir::lock(&dir.path)?;
    let mut runs: Vec<RunDir> = Vec::new();
    for (step, resolved) in workflow.steps.iter().zip(&loaded.resolved) {
        let threads = plan::threads(&step.job).per_slice;
        let prepared = scheduler::prepare(&Request {
            spec: &step.job,
            source: &loaded.source,
            run_dir: &dir.step(&step.name),
            scheduler,
            mode: SlurmMode::Array,
            plan: &plan::of_job(&provisional(&step.job), threads),
            threads_per_slice: threads,
            resolved: resolved.as_ref(),
            step: Some(&step.name),
        });
        match prepared {
            Ok(run) => runs.push(run),
            Err(err) => {
                let _ = std::fs::remove_dir_all(&dir.path);
                return Err(err);
            }
        }
    }
    let backend = scheduler::backend(scheduler);
    let mut handed = WorkflowHanded {
        run_dir: dir.path.display().to_string(),
        steps: Vec::new(),
        commands: Vec::new(),
    };
    if scheduler == Scheduler::Condor {
        // One DAG for the whole graph: DAGMan runs each step after the steps it needs.
        let steps: Vec<(&str, &[String], u32)> = workflow
            .steps
            .iter()
            .map(|s| (s.name.as_str(), s.needs.as_slice(), s.job.condor.retries))
            .collect();
        dir.write_file(
            scheduler::condor::WORKFLOW_DAG,
            &scheduler::condor::workflow_dag(&workflow.name, &steps, None),
        )?;
        if dry_run {
            handed.commands = vec![vec![
                "condor_submit_dag".into(),
                scheduler::condor::WORKFLOW_DAG.into(),
            ]];
            return Ok(Submitted::Handed(handed));
        }
        let mut whole: Vec<(RunDir, Vec<u32>)> = runs
            .into_iter()
            .map(|run| {
                let slices = (0..run.slices()).collect();
                (run, slices)
            })
            .collect();
        if let Err(err) = scheduler::condor::submit_workflow(
            &dir.path,
            scheduler::condor::WORKFLOW_DAG,
            &mut whole,
        ) {
            let _ = std::fs::remove_dir_all(&dir.path);
            return Err(err);
        }
        handed.steps = whole
            .iter()
            .zip(&workflow.steps)
            .map(|((run, _), step)| StepHanded {
                step: step.name.clone(),
                run_dir: run.path.display().to_string(),
                job_ids: run.manifest.latest_job_ids(),
                commands: Vec::new(),
            })
            .collect();
        if wait {
            return wait_for_workflow(workflow, &dir, global).map(Submitted::Finished);
        }
        return Ok(Submitted::Handed(handed));
    }
    for index in 0..runs.len() {
        let step = &workflow.steps[index];
        let slices: Vec<u32> = (0..runs[index].slices()).collect();
        let (done, rest) = runs.split_at_mut(index);
        let run = &mut rest[0];
        if dry_run {
            handed.steps.push(StepHanded {
                step: step.name.clone(),
                run_dir: run.path.display().to_string(),
                job_ids: Vec::new(),
                commands: backend.commands(run, &slices)?,
            });
            continue;
        }
        let after = gathers_of(&step.needs, workflow, done);
        if let Err(err) = backend.submit(run, &slices, &after, global.show()) {
            if handed.steps.is_empty() {
                let _ = std::fs::remove_dir_all(&dir.path);
                return Err(err);
            }
            return Err(AppError::Run(format!(
                "{err}\nthe steps before `{}` were submitted; see `hpcsub status {}` or `hpcsub cancel {0}`",
                step.name,
                dir.path.display()
            )));
        }
        handed.steps.push(StepHanded {
            step: step.name.clone(),
            run_dir: run.path.display().to_string(),
            job_ids: run.manifest.latest_job_ids(),
            commands: Vec::new(),
        });
    }
    if wait {
        return wait_for_workflow(workflow, &dir, global).map(Submitted::Finished);
    }
    Ok(Submitted::Handed(handed))
}

/// The gather jobs of the latest submissions of `needs`.
fn gathers_of(needs: &[String], workflow: &WorkflowSpec, runs: &[RunDir]) -> Vec<String> {
    needs
        .iter()
        .filter_map(|need| {
            let index = workflow.steps.iter().position(|s| &s.name == need)?;
            runs.get(index)?.manifest.submissions.last()?.gather.clone()
        })
        .collect()
}

/// Waits until every job of a submitted workflow has left the queue, then gathers each step.
pub fn wait_for_workflow(
    workflow: &WorkflowSpec,
    dir: &WorkflowDir,
    global: Global,
) -> Result<WorkflowReport, AppError> {
    let started = Instant::now();
    let runs = workflow
        .steps
        .iter()
        .map(|step| submitted::open(&dir.step(&step.name), false))
        .collect::<Result<Vec<_>, _>>()?;
    let board = Board::new(global.show());
    let bars: Vec<WaitProgress> = workflow
        .steps
        .iter()
        .zip(&runs)
        .map(|(step, run)| {
            board.in_step(&step.name, || {
                WaitProgress::new(run.slices(), global.show())
            })
        })
        .collect();
    let waited: Vec<(&RunDir, Vec<String>)> = runs
        .iter()
        .map(|run| (run, run.manifest.latest_job_ids()))
        .collect();
    scheduler::wait_all(&waited, |index, queue| {
        submitted::show_survey(&bars[index], &runs[index], queue)
    })?;
    bars.iter().for_each(WaitProgress::finish);
    gather_workflow(workflow, dir, global).map(|mut report| {
        report.elapsed_s = started.elapsed().as_secs_f64();
        report
    })
}

/// Gathers every step of a submitted workflow, in order: a step whose needs did not complete is
/// skipped.
pub fn gather_workflow(
    workflow: &WorkflowSpec,
    dir: &WorkflowDir,
    _global: Global,
) -> Result<WorkflowReport, AppError> {
    let started = Instant::now();
    let mut outcomes: Vec<StepOutcome> = Vec::new();
    for step in &workflow.steps {
        let blocked = step.needs.iter().find(|need| {
            outcomes
                .iter()
                .any(|o| &o.step == *need && o.status != StepStatus::Ran)
        });
        if let Some(need) = blocked {
            outcomes.push(StepOutcome {
                step: step.name.clone(),
                status: StepStatus::Skipped,
                reason: Some(format!("step `{need}` did not complete")),
                elapsed_s: None,
                report: None,
            });
            continue;
        }
        let run = submitted::open(&dir.step(&step.name), true)?;
        let (queue, _) = submitted::queue_or_note(&run);
        let gathered = submitted::gather(&run, &queue)?;
        let (status, reason) = match gathered.status() {
            Status::Success => (StepStatus::Ran, None),
            Status::Failed(why) | Status::Incomplete(why) => (StepStatus::Failed, Some(why)),
        };
        let report = match gathered {
            Gathered::Compute(report) => Some(StepReport::Compute(report)),
            Gathered::Tasks(report) => Some(StepReport::Tasks(report)),
            Gathered::Incomplete(_) => None,
        };
        outcomes.push(StepOutcome {
            step: step.name.clone(),
            status,
            reason,
            elapsed_s: None,
            report,
        });
    }
    Ok(WorkflowReport {
        job: workflow.name.clone(),
        run_dir: dir.path.display().to_string(),
        steps: outcomes,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

/// The workflow and its run directory, if `path` is the run directory of a workflow.
pub fn open_workflow(path: &Path) -> Result<Option<(WorkflowSpec, WorkflowDir)>, AppError> {
    let Some(dir) = WorkflowDir::at(path) else {
        return Ok(None);
    };
    let (document, _) = crate::jobfile::load_document(&dir.path.join(crate::run_dir::JOB_FILE))?;
    match document {
        crate::spec::Document::Workflow(workflow) => Ok(Some((workflow, dir))),
        crate::spec::Document::Job(_) => Err(AppError::Usage(format!(
            "{} holds a workflow's state but its job file is no workflow",
            dir.path.display()
        ))),
    }
}

/// Submits again what a workflow needs to complete: of each step, the slices that failed or
/// are missing (a step after a step submitted again has all of its slices submitted again).
/// On Slurm each step waits for the resubmitted gathers of the steps it needs; on HTCondor
/// the steps to submit again make a DAG of their own, `workflow-resubmit-K.dag`.
pub fn resubmit(
    workflow: &WorkflowSpec,
    dir: &WorkflowDir,
    dry_run: bool,
    wait: bool,
    global: Global,
) -> Result<Submitted, AppError> {
    let mut handed = WorkflowHanded {
        run_dir: dir.path.display().to_string(),
        steps: Vec::new(),
        commands: Vec::new(),
    };
    // Every step's run, and the slices of it to submit again (none if it is done or queued).
    let mut reruns: Vec<(RunDir, Vec<u32>)> = Vec::new();
    for step in &workflow.steps {
        let run = submitted::open(&dir.step(&step.name), false)?;
        let collected = submitted::collect(&run);
        let seen = collected.as_ref().map(|c| c.seen(&run));
        let (queue, note) = submitted::queue_or_note(&run);
        if let Some(note) = note {
            return Err(AppError::Run(format!(
                "step {}: {note}; not resubmitting, since slices still queued would run twice",
                step.name
            )));
        }
        let needs_rerun = step.needs.iter().any(|need| {
            workflow
                .steps
                .iter()
                .zip(&reruns)
                .any(|(s, (_, rerun))| &s.name == need && !rerun.is_empty())
        });
        let mut rerun = scheduler::survey(&run, seen.as_ref(), &queue).to_rerun();
        if rerun.is_empty() && needs_rerun {
            // Its inputs are computed again: so is it.
            rerun = (0..run.slices()).collect();
        }
        if !dry_run && !rerun.is_empty() {
            submitted::remove_corrupt_parts(&run, seen.as_ref())?;
        }
        reruns.push((run, rerun));
    }
    let scheduler = reruns
        .first()
        .map_or(Scheduler::Slurm, |(run, _)| run.manifest.scheduler);
    if scheduler == Scheduler::Condor {
        resubmit_dag(workflow, dir, reruns, dry_run, &mut handed)?;
    } else {
        resubmit_arrays(workflow, reruns, dry_run, global, &mut handed)?;
    }
    if wait && !dry_run {
        return wait_for_workflow(workflow, dir, global).map(Submitted::Finished);
    }
    if handed.steps.is_empty() && !dry_run {
        return gather_workflow(workflow, dir, global).map(Submitted::Finished);
    }
    Ok(Submitted::Handed(handed))
}

/// Resubmits a workflow on Slurm: each step's slices to submit again as an array of its own,
/// waiting for the resubmitted gathers of the steps it needs (or only listed, for a dry run).
fn resubmit_arrays(
    workflow: &WorkflowSpec,
    reruns: Vec<(RunDir, Vec<u32>)>,
    dry_run: bool,
    global: Global,
    handed: &mut WorkflowHanded,
) -> Result<(), AppError> {
    // The gathers resubmitted in this pass, by step.
    let mut resubmitted: Vec<(String, String)> = Vec::new();
    for (step, (mut run, rerun)) in workflow.steps.iter().zip(reruns) {
        if rerun.is_empty() {
            continue;
        }
        let backend = scheduler::backend(run.manifest.scheduler);
        if dry_run {
            handed.steps.push(StepHanded {
                step: step.name.clone(),
                run_dir: run.path.display().to_string(),
                job_ids: Vec::new(),
                commands: backend.commands(&run, &rerun)?,
            });
            continue;
        }
        let after: Vec<String> = step
            .needs
            .iter()
            .filter_map(|n| {
                resubmitted
                    .iter()
                    .find(|(s, _)| s == n)
                    .map(|(_, g)| g.clone())
            })
            .collect();
        backend.submit(&mut run, &rerun, &after, global.show())?;
        if let Some(gather) = run
            .manifest
            .submissions
            .last()
            .and_then(|s| s.gather.clone())
        {
            resubmitted.push((step.name.clone(), gather));
        }
        handed.steps.push(StepHanded {
            step: step.name.clone(),
            run_dir: run.path.display().to_string(),
            job_ids: run.manifest.latest_job_ids(),
            commands: Vec::new(),
        });
    }
    Ok(())
}

/// Resubmits a workflow on HTCondor: the steps with slices to submit again become the nodes of
/// one new DAG, in the order and with the edges of the workflow, submitted as a whole (or only
/// written, for a dry run).
fn resubmit_dag(
    workflow: &WorkflowSpec,
    dir: &WorkflowDir,
    reruns: Vec<(RunDir, Vec<u32>)>,
    dry_run: bool,
    handed: &mut WorkflowHanded,
) -> Result<(), AppError> {
    let (steps, mut reruns): (Vec<&StepSpec>, Vec<(RunDir, Vec<u32>)>) = workflow
        .steps
        .iter()
        .zip(reruns)
        .filter(|(_, (_, rerun))| !rerun.is_empty())
        .unzip();
    if steps.is_empty() {
        return Ok(());
    }
    let round = scheduler::condor::next_workflow_round(&dir.path)?;
    scheduler::condor::write_workflow_resubmit(round, &reruns)?;
    let nodes: Vec<(&str, &[String], u32)> = steps
        .iter()
        .map(|s| (s.name.as_str(), s.needs.as_slice(), s.job.condor.retries))
        .collect();
    let dag = scheduler::condor::workflow_resubmit_dag(round);
    dir.write_file(
        &dag,
        &scheduler::condor::workflow_dag(&workflow.name, &nodes, Some(round)),
    )?;
    if dry_run {
        handed.commands = vec![vec!["condor_submit_dag".into(), dag]];
    } else {
        scheduler::condor::submit_workflow(&dir.path, &dag, &mut reruns)?;
    }
    handed.steps = steps
        .iter()
        .zip(&reruns)
        .map(|(step, (run, _))| StepHanded {
            step: step.name.clone(),
            run_dir: run.path.display().to_string(),
            job_ids: if dry_run {
                Vec::new()
            } else {
                run.manifest.latest_job_ids()
            },
            commands: Vec::new(),
        })
        .collect();
    Ok(())
}

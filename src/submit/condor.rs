//! HTCondor: submit files, the DAG, `condor_submit_dag`, `condor_rm`, and the job event logs
//! the run's jobs write. Same design rule as for Slurm: no value from the job file is pasted
//! into a command. The submit files hold values validated when the job file was read
//! (`condor:` has no `$` and no line breaks, the name has a safe alphabet, numbers are numbers)
//! and the quoted paths of the binary and the run directory; `hpcsub slice` reads everything
//! else from the frozen job file.

use std::collections::BTreeMap;
use std::path::Path;

use super::backend::{Backend, File, RenderInput};
use super::queue::{Poll, QueueEntry, QueueState};
use crate::diagnostic::AppError;
use crate::process;
use crate::progress::Show;
use crate::run_dir::RunDir;
use crate::run_dir::manifest::{Piece, Scheduler, Submission, parse_ranges, ranges};
use crate::spec::CONDOR_SLICE_ATTRIBUTE;

pub struct Condor;

/// What to do when an HTCondor command is not there.
const NOT_INSTALLED: &str = "is HTCondor installed here? With `--dry-run`, hpcsub writes the \
                             run directory and prints the commands instead";

/// The job event log of every node job of the run.
pub const EVENT_LOG: &str = "condor.log";
pub const DAG_FILE: &str = "job.dag";
/// The DAG's node that runs the slices; a resubmission's is `slices-K`.
pub const SLICES_NODE: &str = "slices";
/// Event logs are a few hundred bytes per event.
const MAX_LOG_BYTES: u64 = 512 << 20;

/// Which slices a submit file queues: all of them (the proc number is the slice), or some.
pub enum Queue<'a> {
    All(u32),
    Only(&'a [u32]),
}

/// A path as submit files need it: submit lines run to the end of the line, and `$` starts a
/// macro even inside quoted arguments, so such paths are refused rather than mangled.
fn submit_path(path: &Path, what: &str) -> Result<String, AppError> {
    let text = path.to_str().ok_or_else(|| {
        AppError::Usage(format!(
            "the {what} path {} is not UTF-8; HTCondor submit files need text",
            path.display()
        ))
    })?;
    if text.trim() != text {
        return Err(AppError::Usage(format!(
            "the {what} path {text:?} starts or ends with white space, which a submit file \
             would drop; use a path without it"
        )));
    }
    if let Some(c) = text.chars().find(|&c| c.is_control() || c == '$') {
        return Err(AppError::Usage(format!(
            "the {what} path {text:?} holds `{}`, which an HTCondor submit file cannot carry \
             literally; use a path without it (e.g. `--run-dir runs/NAME`)",
            c.escape_default()
        )));
    }
    Ok(text.to_string())
}

/// One argument in HTCondor's new (double-quoted) arguments syntax: single quotes group, and
/// quote characters are doubled.
pub fn quote_argument(argument: &str) -> String {
    format!("'{}'", argument.replace('\'', "''").replace('"', "\"\""))
}

/// The lines every node job of the run shares: where it runs, what it asks for, where its
/// output and events go, and the site settings of `condor:`.
fn common_lines(input: &RenderInput, binary: &str, run_dir: &str) -> Vec<String> {
    let spec = input.spec;
    let mut lines = vec![
        "universe = vanilla".to_string(),
        format!("executable = {binary}"),
        format!("initialdir = {run_dir}"),
        format!("batch_name = {}", spec.name),
        format!("log = {EVENT_LOG}"),
    ];
    if let Some(requirements) = &spec.condor.requirements {
        lines.push(format!("requirements = {requirements}"));
    }
    lines.extend(
        spec.condor
            .extra
            .iter()
            .map(|(command, value)| format!("{command} = {value}")),
    );
    lines
}

/// The slices: one proc per slice, each running `hpcsub slice RUN_DIR --index N`.
pub fn job_submit(input: &RenderInput, queue: Queue) -> Result<String, AppError> {
    let spec = input.spec;
    let binary = submit_path(&input.manifest.binary, "hpcsub binary")?;
    let dir = submit_path(input.run_dir, "run directory")?;
    let slice = match queue {
        Queue::All(_) => "$(Process)",
        Queue::Only(_) => "$(slice)",
    };
    let mut lines = vec![format!(
        "# {} slices of `{}`, written by hpcsub; `hpcsub slice` reads the frozen job.yaml.",
        input.manifest.slices, spec.name
    )];
    lines.extend(common_lines(input, &binary, &dir));
    lines.push(format!(
        "arguments = \"slice {} --index {slice}\"",
        quote_argument(&dir)
    ));
    lines.push(format!(
        "request_cpus = {}",
        input.manifest.threads_per_slice
    ));
    if let Some(bytes) = spec.resources.memory {
        lines.push(format!("request_memory = {}M", bytes.div_ceil(1 << 20)));
    }
    if let Some(bytes) = spec.resources.disk {
        lines.push(format!("request_disk = {}K", bytes.div_ceil(1 << 10)));
    }
    if let Some(time) = spec.resources.time {
        lines.push(format!(
            "allowed_execute_duration = {}",
            time.as_secs().max(1)
        ));
    }
    if spec.tasks().is_some() {
        // Command tasks find their programs as they would with `hpcsub run`, and `module load`
        // its modules.
        lines.push(
            if spec
                .environment
                .as_ref()
                .is_some_and(|e| !e.modules.is_empty())
            {
                "getenv = PATH, MODULEPATH".into()
            } else {
                "getenv = PATH".into()
            },
        );
    }
    if spec.compute().is_some() {
        // A slice that saved its progress when asked to stop exits with this code, and
        // HTCondor starts it again, to resume.
        lines.push(format!(
            "checkpoint_exit_code = {}",
            crate::diagnostic::EXIT_CHECKPOINTED
        ));
    }
    if let Some(max_idle) = spec.condor.max_idle {
        lines.push(format!("max_idle = {max_idle}"));
    }
    lines.push(format!("My.{CONDOR_SLICE_ATTRIBUTE} = {slice}"));
    lines.push(format!("output = logs/$(Cluster)_{slice}.out"));
    lines.push(format!("error = logs/$(Cluster)_{slice}.err"));
    lines.push(match queue {
        Queue::All(slices) => format!("queue {slices}"),
        Queue::Only(slices) => {
            let list: Vec<String> = slices.iter().map(u32::to_string).collect();
            format!("queue slice in ({})", list.join(" "))
        }
    });
    Ok(lines.join("\n") + "\n")
}

/// The gather node: reduces the parts into `result.json`.
pub fn gather_submit(input: &RenderInput) -> Result<String, AppError> {
    let binary = submit_path(&input.manifest.binary, "hpcsub binary")?;
    let dir = submit_path(input.run_dir, "run directory")?;
    let mut lines = vec![format!(
        "# The gather of `{}`, written by hpcsub: it runs once every slice has succeeded.",
        input.spec.name
    )];
    lines.extend(common_lines(input, &binary, &dir));
    lines.extend([
        format!("arguments = \"gather --quiet {}\"", quote_argument(&dir)),
        "request_cpus = 1".into(),
        "request_memory = 512M".into(),
        "output = logs/gather-$(Cluster).out".into(),
        "error = logs/gather-$(Cluster).err".into(),
        "queue".into(),
    ]);
    Ok(lines.join("\n") + "\n")
}

/// The DAG: the slices as one node, retried as a whole `retries` times (a slice that already
/// has a valid part is not computed again), then the gather.
pub fn dag(input: &RenderInput, node: &str, slices_submit: &str) -> String {
    let mut lines = vec![
        format!("# The run of `{}`, written by hpcsub.", input.spec.name),
        format!("JOB {node} {slices_submit}"),
        "JOB gather gather.sub".to_string(),
    ];
    if input.spec.condor.retries > 0 {
        lines.push(format!("RETRY {node} {}", input.spec.condor.retries));
    }
    lines.push(format!("PARENT {node} CHILD gather"));
    lines.join("\n") + "\n"
}

fn render_input(run: &RunDir) -> RenderInput<'_> {
    RenderInput {
        spec: &run.spec,
        manifest: &run.manifest,
        run_dir: &run.path,
    }
}

/// The DAG that submits `slices`: `job.dag` for every slice of a run never submitted, else a
/// new `resubmit-K.dag` and `resubmit-K.sub` of only those slices (written here).
fn dag_for(run: &RunDir, slices: &[u32]) -> Result<String, AppError> {
    if slices.len() == run.slices() as usize && run.manifest.submissions.is_empty() {
        return Ok(DAG_FILE.to_string());
    }
    let earlier = std::fs::read_dir(&run.path)
        .map_err(|e| AppError::Run(format!("cannot list {}: {e}", run.path.display())))?
        .flatten()
        .filter(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.starts_with("resubmit-") && name.ends_with(".dag")
        })
        .count();
    let name = format!("resubmit-{}", earlier + 1);
    let input = render_input(run);
    let submit_file = format!("{name}.sub");
    run.write(&submit_file, &job_submit(&input, Queue::Only(slices))?)?;
    let node = format!("{SLICES_NODE}-{}", earlier + 1);
    run.write(&format!("{name}.dag"), &dag(&input, &node, &submit_file))?;
    Ok(format!("{name}.dag"))
}

impl Backend for Condor {
    fn scheduler(&self) -> Scheduler {
        Scheduler::Condor
    }

    fn render(&self, input: &RenderInput) -> Result<Vec<File>, AppError> {
        Ok(vec![
            File::new(
                "job.sub",
                job_submit(input, Queue::All(input.manifest.slices))?,
            ),
            File::new("gather.sub", gather_submit(input)?),
            File::new(DAG_FILE, dag(input, SLICES_NODE, "job.sub")),
        ])
    }

    fn commands(&self, run: &RunDir, slices: &[u32]) -> Result<Vec<Vec<String>>, AppError> {
        Ok(vec![vec![
            "condor_submit_dag".into(),
            dag_for(run, slices)?,
        ]])
    }

    fn submit(
        &self,
        run: &mut RunDir,
        slices: &[u32],
        after: &[String],
        _show: Show,
    ) -> Result<(), AppError> {
        if !after.is_empty() {
            // A workflow on HTCondor is one DAG of all its steps, submitted as a whole.
            return Err(AppError::Usage(
                "on HTCondor a workflow's steps are nodes of one DAG; a step is not submitted alone".into(),
            ));
        }
        let dag = dag_for(run, slices)?;
        run.manifest.submissions.push(Submission {
            slices: ranges(slices),
            dag: Some(dag.clone()),
            ..Submission::default()
        });
        run.save_manifest()?;
        let submitted = process::run_scheduler("condor_submit_dag", &[&dag], &run.path)
            .map_err(|failure| failure.into_error(NOT_INSTALLED))
            .and_then(|output| {
                submitted_cluster(&output).ok_or_else(|| {
                    AppError::Run(format!(
                        "condor_submit_dag {dag} did not say which cluster it submitted to:\n{output}"
                    ))
                })
            });
        let submission = run.manifest.submissions.last_mut().expect("pushed above");
        match submitted {
            Ok(cluster) => {
                submission.pieces.push(Piece {
                    job_id: cluster,
                    offset: 0,
                });
                run.save_manifest()
            }
            Err(err) => {
                submission.failed = Some(err.to_string());
                let _ = run.save_manifest();
                Err(err)
            }
        }
    }

    fn poll(&self, run: &RunDir, waited: &[String]) -> Result<Poll, AppError> {
        let log = run.path.join(EVENT_LOG);
        let text = match crate::bounded_read::text(&log, MAX_LOG_BYTES) {
            Ok(text) => text,
            // No node job has been submitted yet.
            Err(e) if e.is_not_found() => String::new(),
            Err(e) => {
                return Err(AppError::Run(format!("cannot read {}: {e}", log.display())));
            }
        };
        let entries = queue_entries(&parse_events(&text), &slice_lists(run));
        let mut dagman_logs = Vec::new();
        for submission in &run.manifest.submissions {
            let Some(dag) = &submission.dag else { continue };
            let path = run.path.join(format!("{dag}.dagman.log"));
            match crate::bounded_read::text(&path, MAX_LOG_BYTES) {
                Ok(text) => dagman_logs.push(text),
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    return Err(AppError::Run(format!(
                        "cannot read {}: {e}",
                        path.display()
                    )));
                }
            }
        }
        let ended = ended_clusters(dagman_logs.iter().map(String::as_str));
        let ended = waited
            .iter()
            .all(|id| ended.iter().any(|cluster| cluster.to_string() == *id));
        Ok(Poll { entries, ended })
    }

    fn cancel(&self, run: &RunDir) -> Result<(), AppError> {
        let ids = run.manifest.job_ids();
        let args: Vec<&str> = ids.iter().map(String::as_str).collect();
        process::run_scheduler("condor_rm", &args, &run.path)
            .map(|_| ())
            .map_err(|failure| failure.into_error(NOT_INSTALLED))
    }
}

/// The slices each slices node queues, by node name: `slices` (`<step>_slices` in a workflow)
/// queues every slice in proc order, `slices-K` the slices of resubmission K in the order
/// listed, `<step>_slices-K` those of the workflow's resubmission K.
fn slice_lists(run: &RunDir) -> BTreeMap<String, Vec<u32>> {
    let mut lists = BTreeMap::new();
    let node = match &run.manifest.step {
        Some(step) => step_node(step, SLICES_NODE),
        None => SLICES_NODE.to_string(),
    };
    lists.insert(node, (0..run.slices()).collect());
    for submission in &run.manifest.submissions {
        let Some(dag) = submission.dag.as_deref() else {
            continue;
        };
        let node = if let Some(k) = dag
            .strip_prefix("../../workflow-resubmit-")
            .and_then(|d| d.strip_suffix(".dag"))
        {
            format!(
                "{}-{k}",
                step_node(
                    run.manifest.step.as_deref().unwrap_or_default(),
                    SLICES_NODE
                )
            )
        } else if let Some(k) = dag
            .strip_prefix("resubmit-")
            .and_then(|d| d.strip_suffix(".dag"))
        {
            format!("{SLICES_NODE}-{k}")
        } else {
            continue;
        };
        if let Some(slices) = parse_ranges(&submission.slices) {
            lists.insert(node, slices);
        }
    }
    lists
}

/// The DAG of a workflow: per step a slices node and a gather node, with the step's `RETRY`,
/// and a step's slices after the gathers of the steps it needs. Node names are
/// `<step>_slices` and `<step>_gather`; submit files are named relative to the DAG's directory
/// (`steps/<step>/job.sub`).
///
/// With `round` K, the DAG of resubmission K: only the steps listed, their nodes named
/// `<step>_slices-K` and `<step>_gather-K`, each step's slices from its
/// `workflow-resubmit-K.sub`, and only the needs among the listed steps as edges (the others
/// are done).
pub fn workflow_dag(name: &str, steps: &[(&str, &[String], u32)], round: Option<u32>) -> String {
    let (suffix, slices_submit) = match round {
        None => (String::new(), "job.sub".to_string()),
        Some(k) => (format!("-{k}"), workflow_resubmit_submit(k)),
    };
    let node = |step: &str, node: &str| format!("{}{suffix}", step_node(step, node));
    let mut lines = vec![match round {
        None => format!("# The workflow `{name}`, written by hpcsub."),
        Some(k) => format!("# Resubmission {k} of the workflow `{name}`, written by hpcsub."),
    }];
    for (step, _, retries) in steps {
        let slices = node(step, SLICES_NODE);
        let gather = node(step, "gather");
        lines.push(format!("JOB {slices} steps/{step}/{slices_submit}"));
        lines.push(format!("JOB {gather} steps/{step}/gather.sub"));
        if *retries > 0 {
            lines.push(format!("RETRY {slices} {retries}"));
        }
        lines.push(format!("PARENT {slices} CHILD {gather}"));
    }
    for (step, needs, _) in steps {
        for need in needs.iter() {
            if steps.iter().any(|(listed, _, _)| listed == need) {
                lines.push(format!(
                    "PARENT {} CHILD {}",
                    node(need, "gather"),
                    node(step, SLICES_NODE)
                ));
            }
        }
    }
    lines.join("\n") + "\n"
}

/// The name of a workflow step's node in its DAG.
fn step_node(step: &str, node: &str) -> String {
    format!("{step}_{node}")
}

/// The DAG file of a workflow, in its run directory.
pub const WORKFLOW_DAG: &str = "workflow.dag";

/// The DAG of a workflow's resubmission `round`, in its run directory.
pub fn workflow_resubmit_dag(round: u32) -> String {
    format!("workflow-resubmit-{round}.dag")
}

/// The submit file of a step's slices in a workflow's resubmission `round`, in the step's
/// directory.
fn workflow_resubmit_submit(round: u32) -> String {
    format!("workflow-resubmit-{round}.sub")
}

/// The number of the next resubmission of the workflow in `root`: one more than the DAGs of
/// the earlier ones.
pub fn next_workflow_round(root: &Path) -> Result<u32, AppError> {
    let earlier = std::fs::read_dir(root)
        .map_err(|e| AppError::Run(format!("cannot list {}: {e}", root.display())))?
        .flatten()
        .filter(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.starts_with("workflow-resubmit-") && name.ends_with(".dag")
        })
        .count();
    Ok(earlier as u32 + 1)
}

/// Writes, in each step's directory, the submit file of only its `slices` for the workflow's
/// resubmission `round` (whose DAG the caller writes).
pub fn write_workflow_resubmit(round: u32, runs: &[(RunDir, Vec<u32>)]) -> Result<(), AppError> {
    for (run, slices) in runs {
        run.write(
            &workflow_resubmit_submit(round),
            &job_submit(&render_input(run), Queue::Only(slices))?,
        )?;
    }
    Ok(())
}

/// Submits a workflow's DAG `dag` (already written in `root`), which runs `slices` of each
/// step's run: every step's manifest records the submission before `condor_submit_dag` runs,
/// then DAGMan's cluster, or why the submission failed.
pub fn submit_workflow(
    root: &Path,
    dag: &str,
    runs: &mut [(RunDir, Vec<u32>)],
) -> Result<(), AppError> {
    for (run, slices) in runs.iter_mut() {
        run.manifest.submissions.push(Submission {
            slices: ranges(slices),
            // Relative to the step's directory, `<root>/steps/<step>`.
            dag: Some(format!("../../{dag}")),
            ..Submission::default()
        });
        run.save_manifest()?;
    }
    let submitted = process::run_scheduler("condor_submit_dag", &[dag], root)
        .map_err(|failure| failure.into_error(NOT_INSTALLED))
        .and_then(|output| {
            submitted_cluster(&output).ok_or_else(|| {
                AppError::Run(format!(
                    "condor_submit_dag {dag} did not say which cluster it submitted to:\n{output}"
                ))
            })
        });
    for (run, _) in runs.iter_mut() {
        let submission = run.manifest.submissions.last_mut().expect("pushed above");
        match &submitted {
            Ok(cluster) => submission.pieces.push(Piece {
                job_id: cluster.clone(),
                offset: 0,
            }),
            Err(err) => submission.failed = Some(err.to_string()),
        }
        run.save_manifest()?;
    }
    submitted.map(|_| ())
}

/// The cluster id in `condor_submit_dag`'s "1 job(s) submitted to cluster 42."
pub fn submitted_cluster(output: &str) -> Option<String> {
    output.lines().find_map(|line| {
        let rest = line.split("submitted to cluster ").nth(1)?;
        let id = rest.trim().trim_end_matches('.');
        (!id.is_empty() && id.chars().all(|c| c.is_ascii_digit())).then(|| id.to_string())
    })
}

/// One event of an HTCondor job event log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub code: u32,
    pub cluster: u64,
    pub proc: u64,
    /// The DAG node of a submit event.
    pub node: Option<String>,
    /// A termination's return value (`None` if killed by a signal).
    pub return_value: Option<i32>,
    /// Why a job was held, evicted or aborted: the first line of the event's text.
    pub reason: Option<String>,
}

/// The events of a job event log in HTCondor's default text format: each starts with
/// `CODE (CLUSTER.PROC.SUBPROC) DATE TIME ...` and ends with a line `...`.
pub fn parse_events(text: &str) -> Vec<Event> {
    let mut events: Vec<Event> = Vec::new();
    for line in text.lines() {
        if let Some(event) = event_header(line) {
            events.push(event);
        } else if let Some(last) = events.last_mut() {
            let body = line.trim();
            if let Some(node) = body.strip_prefix("DAG Node:") {
                last.node = Some(node.trim().to_string());
            } else if let Some(rest) = body.split("(return value ").nth(1) {
                last.return_value = rest.trim_end_matches(')').trim().parse().ok();
            } else if matches!(last.code, 4 | 9 | 12)
                && last.reason.is_none()
                && !body.is_empty()
                && body != "..."
            {
                last.reason = Some(body.chars().take(200).collect());
            }
        }
    }
    events
}

fn event_header(line: &str) -> Option<Event> {
    let (code, rest) = line.split_once(" (")?;
    if code.len() != 3 || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (id, _) = rest.split_once(')')?;
    let mut numbers = id.split('.').map(|n| n.parse::<u64>());
    Some(Event {
        code: code.parse().ok()?,
        cluster: numbers.next()?.ok()?,
        proc: numbers.next()?.ok()?,
        node: None,
        return_value: None,
        reason: None,
    })
}

/// Where each node job of an event log stands, by its last event; jobs that terminated or were
/// removed are left out. A proc of a slices node is reported with the slice it computes (from
/// `slice_lists`, by node name) as its index; other nodes' jobs have none.
pub fn queue_entries(
    events: &[Event],
    slice_lists: &BTreeMap<String, Vec<u32>>,
) -> Vec<QueueEntry> {
    let mut node_of: BTreeMap<u64, &str> = BTreeMap::new();
    for event in events {
        if let Some(node) = &event.node {
            node_of.insert(event.cluster, node);
        }
    }
    let mut last: BTreeMap<(u64, u64), Option<QueueState>> = BTreeMap::new();
    for event in events {
        let state = match event.code {
            0 | 4 | 13 => Some(QueueState::Pending),
            1 => Some(QueueState::Running),
            12 => Some(QueueState::Held(
                event.reason.clone().unwrap_or_else(|| "held".into()),
            )),
            5 => match event.return_value {
                Some(0) => None,
                Some(code) => Some(QueueState::Ended(format!("exit code {code}"))),
                None => Some(QueueState::Ended("killed by a signal".into())),
            },
            9 => Some(QueueState::Ended(format!(
                "REMOVED: {}",
                event.reason.as_deref().unwrap_or("removed from the queue")
            ))),
            _ => continue,
        };
        last.insert((event.cluster, event.proc), state);
    }
    last.into_iter()
        .filter_map(|((cluster, proc), state)| {
            let slices = node_of
                .get(&cluster)
                .and_then(|node| slice_lists.get(*node));
            let slice = match slices {
                Some(slices) => Some(*slices.get(usize::try_from(proc).ok()?)?),
                None => None,
            };
            Some(QueueEntry {
                job_id: cluster.to_string(),
                slice,
                state: state?,
            })
        })
        .collect()
}

/// The clusters whose job terminated or was removed, in any of `texts` (DAGMan's own logs).
pub fn ended_clusters<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<u64> {
    texts
        .into_iter()
        .flat_map(parse_events)
        .filter(|e| e.code == 5 || e.code == 9)
        .map(|e| e.cluster)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
000 (042.000.000) 2026-11-24 13:00:00 Job submitted from host: <127.0.0.1:9618?addrs=127.0.0.1-9618>
    DAG Node: slices
...
000 (042.001.000) 2026-11-24 13:00:00 Job submitted from host: <127.0.0.1:9618>
    DAG Node: slices
...
001 (042.000.000) 2026-11-24 13:00:01 Job executing on host: <127.0.0.1:9618>
...
001 (042.001.000) 2026-11-24 13:00:01 Job executing on host: <127.0.0.1:9618>
...
005 (042.000.000) 2026-11-24 13:00:02 Job terminated.
\t(1) Normal termination (return value 0)
\t\tUsr 0 00:00:01, Sys 0 00:00:00  -  Run Remote Usage
...
012 (042.001.000) 2026-11-24 13:00:03 Job was held.
\tOut of memory
...
000 (043.000.000) 2026-11-24 13:00:04 Job submitted from host: <127.0.0.1:9618>
    DAG Node: gather
...
";

    #[test]
    fn event_logs_give_each_jobs_state() {
        let events = parse_events(LOG);
        assert_eq!(events.len(), 7);
        assert_eq!(events[0].node.as_deref(), Some("slices"));
        assert_eq!(events[4].code, 5);
        assert_eq!(events[4].return_value, Some(0));
        let lists = BTreeMap::from([(SLICES_NODE.to_string(), vec![0, 1])]);
        assert_eq!(
            queue_entries(&events, &lists),
            vec![
                QueueEntry {
                    job_id: "42".into(),
                    slice: Some(1),
                    state: QueueState::Held("Out of memory".into())
                },
                QueueEntry {
                    job_id: "43".into(),
                    slice: None,
                    state: QueueState::Pending
                }
            ]
        );
        assert_eq!(ended_clusters([LOG]), vec![42]);
    }

    proptest::proptest! {
        #[test]
        fn any_log_text_parses_without_panicking(text in "[0-9 ().\\n:a-zA-Z-]{0,300}") {
            let events = parse_events(&text);
            let _ = queue_entries(&events, &BTreeMap::new());
        }
    }

    #[test]
    fn arguments_keep_quotes_and_spaces() {
        assert_eq!(quote_argument("/a b/c"), "'/a b/c'");
        assert_eq!(quote_argument(r#"it's "x""#), r#"'it''s ""x""'"#);
    }

    #[test]
    fn paths_that_submit_files_would_change_are_refused() {
        assert!(submit_path(Path::new("/runs/a b/it's"), "run directory").is_ok());
        for bad in ["/runs/$(Process)", "/runs/a\nqueue 9"] {
            let err = submit_path(Path::new(bad), "run directory").unwrap_err();
            assert!(err.to_string().contains("cannot carry"), "{err}");
        }
    }

    #[test]
    fn a_resubmission_dag_holds_only_the_listed_steps_and_the_edges_among_them() {
        let top = ["a".to_string()];
        let steps: [(&str, &[String], u32); 2] =
            [("left", &top, 2), ("bottom", &["left".into()], 0)];
        assert_eq!(
            workflow_dag("diamond", &steps, Some(3)),
            "# Resubmission 3 of the workflow `diamond`, written by hpcsub.\n\
             JOB left_slices-3 steps/left/workflow-resubmit-3.sub\n\
             JOB left_gather-3 steps/left/gather.sub\n\
             RETRY left_slices-3 2\n\
             PARENT left_slices-3 CHILD left_gather-3\n\
             JOB bottom_slices-3 steps/bottom/workflow-resubmit-3.sub\n\
             JOB bottom_gather-3 steps/bottom/gather.sub\n\
             PARENT bottom_slices-3 CHILD bottom_gather-3\n\
             PARENT left_gather-3 CHILD bottom_slices-3\n"
        );
    }

    #[test]
    fn the_cluster_comes_from_condor_submit_dags_output() {
        let output = "\n-----------------------------------------------------------------------\n\
                      File for submitting this DAG to HTCondor           : job.dag.condor.sub\n\
                      Submitting job(s).\n1 job(s) submitted to cluster 1234.\n";
        assert_eq!(submitted_cluster(output), Some("1234".into()));
        assert_eq!(submitted_cluster("ERROR: no"), None);
    }
}

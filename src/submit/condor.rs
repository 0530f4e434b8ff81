//! HTCondor submit files, the DAG, and the job event logs they produce. Same design rule as for
//! Slurm: no value from the job file is pasted into a command. The submit files hold values
//! validated when the job file was read (`condor:` has no `$` and no line breaks, the name has
//! a safe alphabet, numbers are numbers) and the quoted paths of the binary and the run
//! directory; `hpcsub task` reads everything else from the frozen job file.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::{Scheduler, run_in};
use crate::diagnostic::AppError;
use crate::run_dir::RunDir;
use crate::spec::JobSpec;

/// The custom attribute hpcsub sets on every proc: the slice it computes.
pub const SLICE_ATTRIBUTE: &str = "HpcsubSlice";
/// The job event log of every node job of the run.
pub const EVENT_LOG: &str = "condor.log";
pub const DAG_FILE: &str = "job.dag";
/// The DAG's node that runs the slices.
pub const SLICES_NODE: &str = "slices";

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
fn common_lines(spec: &JobSpec, binary: &str, run_dir: &str) -> Vec<String> {
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

/// The slices: one proc per slice, each running `hpcsub task RUN_DIR --slice N`.
pub fn job_submit(
    spec: &JobSpec,
    binary: &Path,
    run_dir: &Path,
    queue: Queue,
) -> Result<String, AppError> {
    let binary = submit_path(binary, "hpcsub binary")?;
    let dir = submit_path(run_dir, "run directory")?;
    let slice = match queue {
        Queue::All(_) => "$(Process)",
        Queue::Only(_) => "$(slice)",
    };
    let mut lines = vec![format!(
        "# {} slices of `{}`, written by hpcsub; `hpcsub task` reads the frozen job.yaml.",
        spec.split.ranks, spec.name
    )];
    lines.extend(common_lines(spec, &binary, &dir));
    lines.push(format!(
        "arguments = \"task {} --slice {slice}\"",
        quote_argument(&dir)
    ));
    lines.push(format!(
        "request_cpus = {}",
        super::slurm::cpus_per_task(spec)
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
        // Command tasks find their programs as they would with `hpcsub run`.
        lines.push("getenv = PATH".into());
    }
    if let Some(max_idle) = spec.condor.max_idle {
        lines.push(format!("max_idle = {max_idle}"));
    }
    lines.push(format!("My.{SLICE_ATTRIBUTE} = {slice}"));
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
pub fn gather_submit(spec: &JobSpec, binary: &Path, run_dir: &Path) -> Result<String, AppError> {
    let binary = submit_path(binary, "hpcsub binary")?;
    let dir = submit_path(run_dir, "run directory")?;
    let mut lines = vec![format!(
        "# The gather of `{}`, written by hpcsub: it runs once every slice has succeeded.",
        spec.name
    )];
    lines.extend(common_lines(spec, &binary, &dir));
    lines.extend([
        format!("arguments = \"gather {}\"", quote_argument(&dir)),
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
pub fn dag(spec: &JobSpec, slices_submit: &str) -> String {
    let mut lines = vec![
        format!("# The run of `{}`, written by hpcsub.", spec.name),
        format!("JOB {SLICES_NODE} {slices_submit}"),
        "JOB gather gather.sub".to_string(),
    ];
    if spec.condor.retries > 0 {
        lines.push(format!("RETRY {SLICES_NODE} {}", spec.condor.retries));
    }
    lines.push(format!("PARENT {SLICES_NODE} CHILD gather"));
    lines.join("\n") + "\n"
}

/// Writes `job.sub` (every slice), `gather.sub` and `job.dag`; returns the command that
/// submits them.
pub fn write_files(
    spec: &JobSpec,
    binary: &Path,
    run_dir: &RunDir,
) -> Result<Vec<Vec<String>>, AppError> {
    let queue = Queue::All(spec.split.ranks);
    run_dir.write("job.sub", &job_submit(spec, binary, &run_dir.path, queue)?)?;
    run_dir.write("gather.sub", &gather_submit(spec, binary, &run_dir.path)?)?;
    run_dir.write(DAG_FILE, &dag(spec, "job.sub"))?;
    Ok(vec![vec!["condor_submit_dag".into(), DAG_FILE.into()]])
}

/// Writes `resubmit-K.sub` (only `slices`) and `resubmit-K.dag`, K counting the run's
/// resubmissions; returns the DAG's file name.
pub fn write_resubmission(run_dir: &RunDir, slices: &[u32]) -> Result<String, AppError> {
    let earlier = std::fs::read_dir(&run_dir.path)
        .map_err(|e| AppError::Run(format!("cannot list {}: {e}", run_dir.path.display())))?
        .flatten()
        .filter(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.starts_with("resubmit-") && name.ends_with(".dag")
        })
        .count();
    let name = format!("resubmit-{}", earlier + 1);
    let binary = super::this_binary()?;
    let spec = &run_dir.spec;
    let submit_file = format!("{name}.sub");
    run_dir.write(
        &submit_file,
        &job_submit(spec, &binary, &run_dir.path, Queue::Only(slices))?,
    )?;
    run_dir.write(&format!("{name}.dag"), &dag(spec, &submit_file))?;
    Ok(format!("{name}.dag"))
}

/// Submits the run's DAG (or, for `slices`, a new DAG of only those and the gather) with
/// `condor_submit_dag`; returns DAGMan's cluster id.
pub fn submit(run_dir: &RunDir, slices: Option<&[u32]>) -> Result<Vec<String>, AppError> {
    let dag = match slices {
        None => DAG_FILE.to_string(),
        Some(slices) => write_resubmission(run_dir, slices)?,
    };
    let output = run_in(
        &run_dir.path,
        Scheduler::Condor,
        "condor_submit_dag",
        &[&dag],
    )?;
    let cluster = submitted_cluster(&output).ok_or_else(|| {
        AppError::Run(format!(
            "condor_submit_dag {dag} did not say which cluster it submitted to:\n{output}"
        ))
    })?;
    Ok(vec![cluster])
}

/// The node jobs of the run still in the queue, from the run's event log.
pub fn queue_states_of(run_dir: &RunDir) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(run_dir.path.join(EVENT_LOG)).unwrap_or_default();
    queue_states(&parse_events(&text))
}

/// Waits until the DAGMan jobs `clusters` have ended, as their own logs
/// (`<dag>.dagman.log`) say, reading the run's event log for the progress after each poll.
pub fn wait_for_dags(run_dir: &RunDir, clusters: &[String], on_poll: impl Fn(&[(String, String)])) {
    let mut interval = Duration::from_millis(250);
    loop {
        on_poll(&queue_states_of(run_dir));
        let logs: Vec<String> = std::fs::read_dir(&run_dir.path)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".dagman.log"))
            .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
            .collect();
        let ended = ended_clusters(logs.iter().map(String::as_str));
        if clusters
            .iter()
            .all(|id| ended.iter().any(|cluster| cluster.to_string() == *id))
        {
            return;
        }
        std::thread::sleep(interval);
        interval = (interval * 2).min(Duration::from_secs(5));
    }
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
    })
}

/// Where each job of an event log stands, by its last event: `RUNNING`, `PENDING`, `HELD`, or
/// gone (`None`: terminated or removed). Keys are `CLUSTER_PROC` for the slices node's procs,
/// `CLUSTER` for other nodes (as Slurm's array tasks and jobs are named).
pub fn queue_states(events: &[Event]) -> Vec<(String, String)> {
    let slice_clusters: Vec<u64> = events
        .iter()
        .filter(|e| e.node.as_deref() == Some(SLICES_NODE))
        .map(|e| e.cluster)
        .collect();
    let mut last: BTreeMap<(u64, u64), Option<&str>> = BTreeMap::new();
    for event in events {
        let state = match event.code {
            0 | 4 | 13 => Some("PENDING"),
            1 => Some("RUNNING"),
            12 => Some("HELD"),
            5 | 9 => None,
            _ => continue,
        };
        last.insert((event.cluster, event.proc), state);
    }
    last.into_iter()
        .filter_map(|((cluster, proc), state)| {
            let id = if slice_clusters.contains(&cluster) {
                format!("{cluster}_{proc}")
            } else {
                cluster.to_string()
            };
            Some((id, state?.to_string()))
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
        assert_eq!(
            queue_states(&events),
            vec![
                ("42_1".to_string(), "HELD".to_string()),
                ("43".to_string(), "PENDING".to_string())
            ]
        );
        assert_eq!(ended_clusters([LOG]), vec![42]);
    }

    proptest::proptest! {
        #[test]
        fn any_log_text_parses_without_panicking(text in "[0-9 ().\\n:a-zA-Z-]{0,300}") {
            let events = parse_events(&text);
            let _ = queue_states(&events);
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
    fn the_cluster_comes_from_condor_submit_dags_output() {
        let output = "\n-----------------------------------------------------------------------\n\
                      File for submitting this DAG to HTCondor           : job.dag.condor.sub\n\
                      Submitting job(s).\n1 job(s) submitted to cluster 1234.\n";
        assert_eq!(submitted_cluster(output), Some("1234".into()));
        assert_eq!(submitted_cluster("ERROR: no"), None);
    }
}

//! `tasks.worker: true`: one process per thread serves the tasks one after another over the
//! JSON-line protocol; a worker that dies, hangs or answers nonsense fails that task only.

use std::path::Path;

use crate::common::*;
use serde_json::{Value, json};

fn worker_job(dir: &Path, extra_arguments: &str, more: &str) -> std::path::PathBuf {
    let script = repo_path("tests/fixtures/workers/square.py");
    write_job(
        dir,
        "workers.yaml",
        &format!(
            r#"name: workers
tasks:
  count: 12
  worker: true
  command: [python3, "{}"{extra_arguments}]
  result: number
{more}reduce: [sum, mean, min, max]
split: {{threads: 3}}
"#,
            script.display()
        ),
    )
}

fn run_with_logs(job: &Path, logs: &Path, extra: &[&str]) -> (i32, Value) {
    let logs = logs.to_str().unwrap();
    let output = run_output(job, &[&["--logs", logs], extra].concat());
    (output.status.code().unwrap_or(-1), one_json(&output))
}

fn failure_of(report: &Value, task: u64) -> String {
    report["failed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["task"] == task)
        .unwrap_or_else(|| panic!("task {task} did not fail: {report}"))["reason"]
        .as_str()
        .unwrap()
        .to_string()
}

fn worker_logs(logs: &Path) -> usize {
    std::fs::read_dir(logs)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with("worker-")
        })
        .count()
}

#[test]
fn workers_serve_many_tasks_each_and_give_the_bits_of_one_process_per_task() {
    let dir = tempfile::tempdir().unwrap();
    let job = worker_job(dir.path(), "", "");
    let logs = dir.path().join("logs");
    let (code, report) = run_with_logs(&job, &logs, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["succeeded"], 12);
    // One worker per thread, however many tasks.
    assert_eq!(worker_logs(&logs), 3);
    // Each task had its outdir, and its stdout file holds only its own value.
    let seen = std::fs::read_to_string(logs.join("outputs/task-7/seen.txt")).unwrap();
    assert_eq!(seen, "7");
    let out = std::fs::read_to_string(logs.join("task-7.out")).unwrap();
    assert_eq!(out.trim(), "49.1");
    let per_task = write_job(
        dir.path(),
        "per-task.yaml",
        r#"name: per-task
tasks:
  count: 12
  command: [python3, -c, "import sys; t = int(sys.argv[1]); print(repr(t * t + 0.1))", "{task}"]
  result: number
reduce: [sum, mean, min, max]
"#,
    );
    let expected = run_json(&per_task, &["--threads", "1"]);
    assert_eq!(report["result"], expected["result"]);
    let (_, one) = run_with_logs(&job, &dir.path().join("logs-1"), &["--threads", "1"]);
    assert_eq!(one["result"], expected["result"]);
    // The journal has every task, one line each, as they finished.
    let journal = std::fs::read_to_string(logs.join("tasks.journal")).unwrap();
    let mut tasks: Vec<u64> = journal
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["task"]
                .as_u64()
                .unwrap()
        })
        .collect();
    tasks.sort();
    assert_eq!(tasks, (0..12).collect::<Vec<_>>());
}

#[test]
fn a_worker_that_dies_fails_its_task_and_a_fresh_one_serves_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let job = worker_job(dir.path(), r#", --die, "4""#, "");
    let logs = dir.path().join("logs");
    // One thread, so which thread takes the tasks after the death is not left to timing.
    let (code, report) = run_with_logs(&job, &logs, &["--threads", "1"]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["succeeded"], 11);
    assert_eq!(
        failure_of(&report, 4),
        "its worker ended while running it: exit status 3"
    );
    assert_eq!(
        worker_logs(&logs),
        2,
        "the first worker, and one to replace it for tasks 5 to 11"
    );
}

#[test]
fn a_task_past_its_timeout_kills_its_worker_and_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let job = worker_job(dir.path(), r#", --hang, "2""#, "  timeout: 1s\n");
    let logs = dir.path().join("logs");
    let started = std::time::Instant::now();
    let (code, report) = run_with_logs(&job, &logs, &[]);
    assert!(
        started.elapsed().as_secs() < 30,
        "the hung worker was waited for"
    );
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["succeeded"], 11);
    let reason = failure_of(&report, 2);
    assert!(reason.starts_with("timed out after 1s"), "{reason}");
    // Its stderr log says which worker ran it, and that worker is gone.
    let err = std::fs::read_to_string(logs.join("task-2.err")).unwrap();
    let pid: i32 = err
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "worker {pid} lives on"
    );
}

#[test]
fn a_worker_that_answers_nonsense_fails_that_task_with_what_it_said() {
    let dir = tempfile::tempdir().unwrap();
    let job = worker_job(dir.path(), r#", --garble, "5""#, "");
    let (code, report) = run_with_logs(&job, &dir.path().join("logs"), &[]);
    assert_eq!(code, 1, "{report}");
    let reason = failure_of(&report, 5);
    assert!(
        reason.contains("answered `no json here` instead of"),
        "{reason}"
    );
    assert_eq!(report["succeeded"], 11);
}

#[test]
fn a_worker_reads_each_tasks_parameters_from_its_request() {
    let dir = tempfile::tempdir().unwrap();
    let script = repo_path("tests/fixtures/workers/square.py");
    let job = write_job(
        dir.path(),
        "params.yaml",
        &format!(
            r#"name: params
tasks:
  params:
    x: [1, 2.5, 4]
  worker: true
  command: [python3, "{}", --params]
  result: number
reduce: [sum]
"#,
            script.display()
        ),
    );
    let report = run_json(&job, &[]);
    assert_eq!(report["result"]["sum"], json!(22.5));
}

#[test]
fn a_worker_command_with_a_per_task_placeholder_is_a_located_error() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(
        dir.path(),
        "bad.yaml",
        "name: bad\ntasks:\n  count: 2\n  worker: true\n  command: [python3, serve.py, \"{task}\"]\n",
    );
    let output = run_output(&job, &[]);
    assert_eq!(output.status.code(), Some(2));
    let error = one_json(&output);
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("cannot use `{task}`"), "{error}");
    assert_eq!(error["error"]["line"], 5, "{error}");
    let flag = write_job(
        dir.path(),
        "flag.yaml",
        "name: flag\ntasks:\n  count: 2\n  worker: yes please\n  command: [python3, serve.py]\n",
    );
    let error = one_json(&run_output(&flag, &[]));
    assert_eq!(error["error"]["line"], 4, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expected true or false"),
        "{error}"
    );
}

//! Task jobs (`tasks:`): a program run once per task id or parameter point, without a shell.

use std::path::Path;

use crate::common::*;
use serde_json::{Value, json};

/// `hpcsub run JOB --json --quiet EXTRA...`: exit code and JSON.
fn run_tasks(job: &Path, extra: &[&str]) -> (i32, Value) {
    let output = run_output(job, extra);
    (output.status.code().unwrap_or(-1), one_json(&output))
}

const SUM_JOB: &str = r#"name: sum
tasks:
  count: 100
  command: ["sh", "-c", "echo {task}"]
  result: number
reduce: [sum, mean, min, max, std]
split: {threads: 4}
"#;

#[test]
fn integer_sums_over_shell_tasks_are_exact_integers_for_every_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(dir.path(), "sum.yaml", SUM_JOB);
    let (code, four) = run_tasks(&job, &[]);
    assert_eq!(code, 0, "{four}");
    assert_eq!(four["succeeded"], 100);
    assert_eq!(four["failed"], json!([]));
    let result = &four["result"];
    assert_eq!(result["count"], 100);
    assert_eq!(result["sum"], json!(4950), "integers stay integers");
    assert_eq!(result["min"], json!(0));
    assert_eq!(result["max"], json!(99));
    assert_eq!(result["mean"], json!(49.5));
    for threads in ["1", "7"] {
        let (_, other) = run_tasks(&job, &["--threads", threads]);
        assert_eq!(other["result"], four["result"], "--threads {threads}");
    }
}

#[test]
fn a_parameter_sweep_reduces_json_results_per_key_in_cartesian_order() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(
        dir.path(),
        "sweep.yaml",
        r#"name: sweep
tasks:
  params:
    alpha: [1, 2]
    n: [10, 20, 30]
  command: ["sh", "-c", "echo \"{\\\"p\\\": $(( {alpha} * {n} )), \\\"one\\\": 1}\"", "{task}"]
  result: json
reduce: [sum, max]
"#,
    );
    let (code, value) = run_tasks(&job, &[]);
    assert_eq!(code, 0, "{value}");
    assert_eq!(
        value["result"],
        json!({"p": {"count": 6, "sum": 180, "max": 60}, "one": {"count": 6, "sum": 6, "max": 1}})
    );
    // Task i is point i of the product, the last parameter varying fastest.
    let plan = one_json(&output_of(hpcsub().arg("check").arg(&job).arg("--json")));
    let points: Vec<String> = plan["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["argv"][2].as_str().unwrap().to_string())
        .collect();
    let expected: Vec<String> = [(1, 10), (1, 20), (1, 30), (2, 10), (2, 20), (2, 30)]
        .iter()
        .map(|(a, n)| format!("echo \"{{\\\"p\\\": $(( {a} * {n} )), \\\"one\\\": 1}}\""))
        .collect();
    assert_eq!(points, expected);
}

#[test]
fn a_failing_task_is_listed_while_the_others_are_reduced() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(
        dir.path(),
        "fail.yaml",
        r#"name: fail
tasks:
  count: 6
  command: ["sh", "-c", "if [ {task} = 4 ]; then echo broken >&2; exit 3; fi; echo {task}"]
  retries: 1
reduce: [sum]
"#,
    );
    let logs = dir.path().join("logs");
    let (code, value) = run_tasks(&job, &["--logs", logs.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(value["result"], json!({"count": 5, "sum": 11}));
    let failed = value["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["task"], 4);
    assert_eq!(failed[0]["attempts"], 2);
    let reason = failed[0]["reason"].as_str().unwrap();
    assert!(reason.contains("exit status 3"), "{reason}");
    let log = std::fs::read_to_string(failed[0]["log"].as_str().unwrap()).unwrap();
    assert!(log.contains("broken"), "{log}");
    assert!(log.contains("attempt 2 of 2 failed"), "{log}");
}

#[test]
fn unparsable_output_and_signals_fail_a_task_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(
        dir.path(),
        "odd.yaml",
        r#"name: odd
tasks:
  count: 3
  command: ["sh", "-c", "case {task} in 0) echo 5;; 1) echo not-a-number;; 2) kill -TERM $$;; esac"]
  result: number
"#,
    );
    let (code, value) = run_tasks(&job, &[]);
    assert_eq!(code, 1);
    assert_eq!(value["result"]["sum"], 5);
    let reasons: Vec<&str> = value["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["reason"].as_str().unwrap())
        .collect();
    assert!(reasons[0].contains("`not-a-number`"), "{reasons:?}");
    assert!(reasons[1].contains("SIGTERM"), "{reasons:?}");
    // The logs of a failed run without --logs are kept for reading.
    assert!(Path::new(value["logs"].as_str().unwrap()).is_dir());
}

#[test]
fn a_timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("survivor");
    let job = write_job(
        dir.path(),
        "slow.yaml",
        &format!(
            r#"name: slow
tasks:
  count: 2
  command: ["sh", "-c", "(sleep 1.5; touch '{}-{{task}}') & sleep 30"]
  timeout: 300ms
"#,
            marker.display()
        ),
    );
    let started = std::time::Instant::now();
    let (code, value) = run_tasks(&job, &[]);
    assert_eq!(code, 1);
    assert!(started.elapsed().as_secs() < 10, "the timeout was ignored");
    for failed in value["failed"].as_array().unwrap() {
        assert!(
            failed["reason"].as_str().unwrap().contains("timed out"),
            "{failed}"
        );
    }
    std::thread::sleep(std::time::Duration::from_millis(2500));
    for task in 0..2 {
        let survivor = format!("{}-{task}", marker.display());
        assert!(
            !Path::new(&survivor).exists(),
            "a child of task {task} outlived the timeout"
        );
    }
}

#[test]
fn hostile_parameter_values_reach_the_program_literally() {
    let dir = tempfile::tempdir().unwrap();
    let canary = dir.path().join("pwned");
    let c = canary.display();
    let values = [
        format!("$(touch {c})"),
        format!("`touch {c}`"),
        format!("'; touch {c}; echo '"),
        format!("\"; touch {c}; \""),
        format!("a\nb; touch {c}"),
        "{task} {\"json\": 1}".to_string(),
    ];
    let yaml_list: Vec<String> = values
        .iter()
        .map(|v| serde_json::to_string(v).unwrap())
        .collect();
    let job = write_job(
        dir.path(),
        "hostile.yaml",
        &format!(
            "name: hostile\ntasks:\n  params:\n    v: [{}]\n  command: [\"printf\", \"%s\", \"{{v}}\"]\n  env: {{HOSTILE: \"{{v}}\"}}\n",
            yaml_list.join(", ")
        ),
    );
    let logs = dir.path().join("logs");
    let (code, value) = run_tasks(&job, &["--logs", logs.to_str().unwrap()]);
    assert_eq!(code, 0, "{value}");
    for (task, expected) in values.iter().enumerate() {
        let printed = std::fs::read_to_string(logs.join(format!("task-{task}.out"))).unwrap();
        assert_eq!(&printed, expected, "task {task}");
    }
    assert!(!canary.exists(), "a parameter value was run by a shell");
}

#[test]
fn tasks_run_concurrently_with_dynamic_scheduling() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(
        dir.path(),
        "uneven.yaml",
        r#"name: uneven
tasks:
  count: 10
  command: ["sh", "-c", "sleep 0.{task}; echo {task}"]
reduce: [sum]
split: {threads: 10}
"#,
    );
    let (code, value) = run_tasks(&job, &[]);
    assert_eq!(code, 0, "{value}");
    assert_eq!(value["result"]["sum"], 45);
    // Run one after another they take 4.5 s; side by side, about the longest (0.9 s).
    let elapsed = value["elapsed_s"].as_f64().unwrap();
    assert!(elapsed < 3.0, "10 tasks on 10 threads took {elapsed} s");
}

#[test]
fn a_retry_can_rescue_a_flaky_task() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(
        dir.path(),
        "flaky.yaml",
        r#"name: flaky
tasks:
  count: 3
  command: ["sh", "-c", "if [ -e seen-{task} ]; then echo 2; else touch seen-{task}; exit 1; fi"]
  retries: 2
reduce: [sum]
"#,
    );
    let output = output_of(
        hpcsub()
            .current_dir(dir.path())
            .arg("run")
            .arg(&job)
            .args(["--json", "--quiet"]),
    );
    assert!(output.status.success());
    let value = one_json(&output);
    assert_eq!(value["result"], json!({"count": 3, "sum": 6}));
}

#[test]
fn placeholder_mistakes_are_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (text, location, message) in [
        (
            "name: t\ntasks:\n  count: 2\n  command: [\"echo\", \"{taks}\"]\n",
            ":4:22:",
            "did you mean `{task}`?",
        ),
        (
            "name: t\ntasks:\n  params: {alpha: [1]}\n  command: [\"echo\", \"x={alpah}\"]\n",
            ":4:24:",
            "did you mean `{alpha}`?",
        ),
        (
            "name: t\ntasks:\n  command: [\"echo\"]\n",
            ":2:1:",
            "needs `count`",
        ),
        (
            "name: t\ntasks:\n  count: 2\n  command: [\"echo\"]\n  result: numbr\n",
            ":5:11:",
            "did you mean `number`?",
        ),
        (
            "name: t\ntasks:\n  count: 3\n  params: {a: [1, 2]}\n  command: [\"echo\"]\n",
            ":3:10:",
            "`params` has 2 points",
        ),
        (
            "name: t\ntasks:\n  count: 2\n  command: [\"echo\"]\n  result: none\nreduce: [sum]\n",
            ":6:9:",
            "nothing to reduce",
        ),
    ] {
        let job = write_job(dir.path(), "bad.yaml", text);
        let output = output_of(hpcsub().arg("check").arg(&job));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{text}\n{stderr}");
        assert!(stderr.contains(location), "{text}\n{stderr}");
        assert!(stderr.contains(message), "{text}\n{stderr}");
    }
}

#[test]
fn the_tutorial_tasks_job_runs() {
    let output = output_of(hpcsub().current_dir(repo_path("")).args([
        "run",
        "jobs/tutorial-tasks.yaml",
        "--json",
        "--quiet",
    ]));
    assert!(output.status.success());
    let value = one_json(&output);
    assert_eq!(value["succeeded"], 10);
    assert_eq!(value["result"]["count"], 10);
}

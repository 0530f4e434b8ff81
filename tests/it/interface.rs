//! One interface: every subcommand takes `--json` and `--quiet`, errors are JSON in JSON mode,
//! `status` and `gather` say the same thing, and a run directory has one owner.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;
use serde_json::Value;

const JOB: &str = "name: face
seed: 1
compute:
  samples: 20000
  vars:
    x: uniform(0, 1)
  expr: x * x
reduce: [mean, std]
split:
  slices: 3
  threads: 1
";

const TASKS: &str = r#"name: facetasks
tasks:
  count: 4
  command: ["sh", "-c", "test {task} -ne 2 && echo {task}"]
  result: number
split: {slices: 2, threads: 1}
"#;

/// `hpcsub submit JOB --to slurm --dry-run --json --run-dir DIR/run`; the run directory.
fn dry_run(dir: &Path, text: &str) -> PathBuf {
    dry_run_slurm(&write_job(dir, "job.yaml", text), &dir.join("run"))
}

fn compute_slices(run_dir: &Path, slices: u32) {
    for slice in 0..slices {
        let output = output_of(hpcsub().arg("slice").arg(run_dir).args([
            "--index",
            &slice.to_string(),
            "--quiet",
        ]));
        assert!(output.status.success(), "{output:?}");
    }
}

fn json_of(args: &[&str], run_dir: &Path) -> (Option<i32>, Value) {
    let output = output_of(hpcsub().args(args).arg(run_dir).arg("--json"));
    (output.status.code(), one_json(&output))
}

/// One JSON object on one line, nothing on stderr.
fn assert_one_json_line(output: &Output, what: &str) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.trim_end().lines().count(), 1, "{what}: {stdout}");
    assert!(
        output.stderr.is_empty(),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    one_json(output)
}

#[test]
fn every_subcommand_takes_json_and_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dry_run(dir.path(), JOB);
    let job = dir.path().join("job.yaml");
    let job = job.to_str().unwrap();
    let run = run_dir.to_str().unwrap();
    let commands: Vec<Vec<&str>> = vec![
        vec!["run", job],
        vec!["check", job],
        vec!["graph", job],
        vec!["schema"],
        vec!["scale", job, "--threads", "1", "--repeat", "1"],
        vec!["slice", run, "--index", "0"],
        vec!["status", run],
        vec!["resubmit", run, "--dry-run"],
        vec!["gather", run],
        vec!["cancel", run],
        vec!["wait", run],
        vec![
            "submit",
            job,
            "--to",
            "condor",
            "--dry-run",
            "--run-dir",
            "other",
        ],
    ];
    for args in commands {
        let output = output_of(
            hpcsub()
                .args(&args)
                .args(["--json", "--quiet"])
                .current_dir(dir.path()),
        );
        let value = assert_one_json_line(&output, &args.join(" "));
        if !output.status.success() {
            assert!(value["error"]["message"].is_string(), "{args:?}: {value}");
            assert_eq!(
                value["error"]["exit_code"].as_i64(),
                output.status.code().map(i64::from),
                "{args:?}"
            );
        }
    }
}

#[test]
fn a_failing_submit_prints_one_json_error_and_leaves_no_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(dir.path(), "job.yaml", JOB);
    let empty = tempfile::tempdir().unwrap();
    let output = output_of(
        hpcsub()
            .args(["submit", "--to", "slurm", "--wait", "--json", "--run-dir"])
            .arg(dir.path().join("run"))
            .arg(&job)
            .env("PATH", empty.path()),
    );
    assert_eq!(output.status.code(), Some(1));
    let value = assert_one_json_line(&output, "submit");
    let message = value["error"]["message"].as_str().unwrap();
    assert!(message.contains("scontrol"), "{message}");
    assert!(
        !dir.path().join("run").exists(),
        "a failed submission leaves nothing"
    );
}

#[test]
fn job_file_errors_in_json_name_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(
        dir.path(),
        "bad.yaml",
        &JOB.replace("samples: 20000", "sampels: 20000"),
    );
    let output = output_of(hpcsub().args(["check", "--json"]).arg(&job));
    assert_eq!(output.status.code(), Some(2));
    let error = &one_json(&output)["error"];
    assert_eq!(error["kind"], "job_file");
    assert_eq!(error["line"], 4);
    assert_eq!(error["column"], 3);
    assert!(
        error["hint"].as_str().unwrap().contains("samples"),
        "{error}"
    );
}

#[test]
fn version_names_the_build_and_the_code_path() {
    let output = output_of(hpcsub().arg("--version"));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("build: default (no mpi)"), "{text}");
    assert!(text.contains("code on this CPU:"), "{text}");
}

#[test]
fn cancel_and_wait_of_a_run_never_submitted_fail_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dry_run(dir.path(), JOB);
    for (command, says) in [
        ("cancel", "nothing to cancel"),
        ("wait", "nothing to wait for"),
    ] {
        let output = output_of(hpcsub().arg(command).arg(&run_dir));
        assert_eq!(output.status.code(), Some(1), "{command}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(says),
            "{command}"
        );
    }
}

/// The `{"progress": ...}` objects of `output`'s stderr, every line of which must be one.
fn progress_lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{e}: not a JSON line: {line}"));
            value["progress"].clone()
        })
        .collect()
}

#[test]
fn progress_json_is_one_object_per_line_on_stderr_ending_with_the_total() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(dir.path(), "job.yaml", JOB);
    let tasks = write_job(dir.path(), "tasks.yaml", TASKS);
    let output = output_of(
        hpcsub()
            .arg("run")
            .arg(&job)
            .args(["--json", "--progress", "json"]),
    );
    assert!(output.status.success());
    let lines = progress_lines(&output);
    let last = lines.last().expect("at least the last progress line");
    assert_eq!(
        last.to_string(),
        r#"{"unit":"samples","done":20000,"total":20000}"#
    );
    let output = output_of(hpcsub().arg("run").arg(&tasks).args(["--progress", "json"]));
    assert_eq!(output.status.code(), Some(1), "task 2 fails");
    let last = progress_lines(&output).pop().unwrap();
    assert_eq!(
        last.to_string(),
        r#"{"unit":"tasks","done":4,"total":4,"running":0,"failed":1}"#
    );
    let output = output_of(hpcsub().arg("scale").arg(&job).args([
        "--threads",
        "1,2",
        "--repeat",
        "2",
        "--json",
        "--progress",
        "json",
    ]));
    assert!(output.status.success());
    let last = progress_lines(&output).pop().unwrap();
    assert_eq!(last.to_string(), r#"{"unit":"runs","done":4,"total":4}"#);
    // --quiet wins; and without a terminal, the default shows nothing.
    for args in [&["--progress", "json", "--quiet"][..], &[]] {
        let output = output_of(hpcsub().arg("run").arg(&job).arg("--json").args(args));
        assert!(output.stderr.is_empty(), "{args:?}");
    }
}

#[test]
fn status_and_gather_agree_after_a_part_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dry_run(dir.path(), JOB);
    let (_, status) = json_of(&["status"], &run_dir);
    assert_eq!(status["missing"], 3);
    compute_slices(&run_dir, 3);
    let (code, gathered) = json_of(&["gather"], &run_dir);
    assert_eq!(code, Some(0), "{gathered}");
    let (_, status) = json_of(&["status"], &run_dir);
    assert_eq!(
        (status["done"].as_u64(), status["result"].as_str()),
        (Some(3), Some("current"))
    );

    std::fs::remove_file(run_dir.join("parts/1.json")).unwrap();
    let (_, status) = json_of(&["status"], &run_dir);
    assert_eq!(status["done"], 2);
    assert_eq!(status["missing"], 1);
    assert_eq!(status["to_rerun"], serde_json::json!([1]));
    assert_eq!(
        status["result"], "stale",
        "result.json no longer matches the parts"
    );
    let (code, gathered) = json_of(&["gather"], &run_dir);
    assert_eq!(code, Some(3));
    assert_eq!(gathered["missing"], serde_json::json!([1]));
    assert_eq!(gathered["error"]["kind"], "incomplete");
}

#[test]
fn status_and_gather_agree_on_a_failed_task() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dry_run(dir.path(), TASKS);
    compute_slices(&run_dir, 2);
    let (code, gathered) = json_of(&["gather"], &run_dir);
    assert_eq!(code, Some(1), "{gathered}");
    assert_eq!(gathered["succeeded"], 3);
    assert_eq!(gathered["failed"][0]["task"], 2);
    let (_, status) = json_of(&["status"], &run_dir);
    assert_eq!(status["done"], 1);
    assert_eq!(status["failed"], 1);
    assert_eq!(status["problems"][0]["slice"], 0);
    assert_eq!(status["problems"][0]["reason"], "1 task failed");
    assert_eq!(status["result"], "absent");
    let text = String::from_utf8_lossy(&output_of(hpcsub().arg("status").arg(&run_dir)).stdout)
        .into_owned();
    assert!(text.contains("1 of 2 slices done"), "{text}");
    assert!(text.contains("never submitted"), "{text}");
}

#[test]
fn of_two_submits_into_one_run_directory_exactly_one_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(dir.path(), "job.yaml", JOB);
    for attempt in 0..8 {
        let run_dir = dir.path().join(format!("run{attempt}"));
        let spawn = || {
            hpcsub()
                .args([
                    "submit",
                    "--to",
                    "slurm",
                    "--dry-run",
                    "--quiet",
                    "--run-dir",
                ])
                .arg(&run_dir)
                .arg(&job)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (first, second) = (spawn(), spawn());
        let codes: Vec<Option<i32>> = [first, second]
            .into_iter()
            .map(|child| child.wait_with_output().unwrap().status.code())
            .collect();
        let mut sorted = codes.clone();
        sorted.sort();
        assert_eq!(sorted, [Some(0), Some(2)], "attempt {attempt}: {codes:?}");
    }
}

#[test]
fn mostly_nan_samples_earn_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(
        dir.path(),
        "nan.yaml",
        &JOB.replace("expr: x * x", "expr: sqrt(x - 0.5)"),
    );
    let out = run_json(&job, &[]);
    let warning = out["warnings"][0].as_str().unwrap();
    assert!(warning.contains("were NaN"), "{warning}");
    let table = String::from_utf8_lossy(&output_of(hpcsub().arg("run").arg(&job).arg("-q")).stdout)
        .into_owned();
    assert!(table.contains("warning: "), "{table}");
    assert!(
        table.contains(" ± "),
        "the mean shows its standard error: {table}"
    );
}

#[test]
fn scale_keeps_the_rows_it_measured_when_a_later_configuration_fails() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(dir.path(), "job.yaml", JOB);
    // 5000 threads is above the limit of 4096: the second configuration fails.
    let output = output_of(
        hpcsub()
            .args(["scale", "--threads", "1,5000", "--repeat", "1", "--json"])
            .arg(&job),
    );
    assert_eq!(output.status.code(), Some(1));
    let value = one_json(&output);
    assert_eq!(value["rows"].as_array().unwrap().len(), 1, "{value}");
    assert!(
        value["failed"].as_str().unwrap().contains("5000 threads"),
        "{value}"
    );
    assert_eq!(value["error"]["kind"], "failed");
    let text = String::from_utf8_lossy(
        &output_of(
            hpcsub()
                .args(["scale", "--threads", "1,5000", "--repeat", "1"])
                .arg(&job),
        )
        .stdout,
    )
    .into_owned();
    assert!(text.contains("1 rank x 1 thread"), "{text}");
}

#[test]
fn check_shows_the_threads_the_submission_asks_for() {
    let dir = tempfile::tempdir().unwrap();
    let text = JOB.replace("  threads: 1\n", "");
    let job = write_job(dir.path(), "job.yaml", &text);
    let plan = success_json(&output_of(hpcsub().args(["check", "--json"]).arg(&job)));
    assert_eq!(plan["threads_per_submitted_slice"], 1);
    let run_dir = dry_run(dir.path(), &text);
    let script = std::fs::read_to_string(run_dir.join("job.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --cpus-per-task=1\n"), "{script}");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["threads_per_slice"], 1);
    let printed =
        String::from_utf8_lossy(&output_of(hpcsub().arg("check").arg(&job)).stdout).into_owned();
    assert!(
        printed.contains("each slice asks for 1 CPU and runs 1 thread"),
        "{printed}"
    );
}

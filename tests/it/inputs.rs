//! Task jobs over files and lines, with arrays and histograms out, per-task records and outputs.

use std::path::Path;

use crate::common::*;
use serde_json::{Value, json};

fn run_in(dir: &Path, job: &Path, extra: &[&str]) -> (Option<i32>, Value) {
    let output = output_of(
        hpcsub()
            .arg("run")
            .arg(job)
            .args(["--json", "--quiet"])
            .args(extra)
            .current_dir(dir),
    );
    (output.status.code(), one_json(&output))
}

#[test]
fn files_and_lines_give_the_exact_sums_of_a_direct_computation_for_every_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let (job, expected) = input_job(dir.path());
    let elsewhere = tempfile::tempdir().unwrap();
    for threads in ["1", "2", "3"] {
        // Run from another directory: paths resolve against the job file's.
        let (code, out) = run_in(elsewhere.path(), &job, &["--threads", threads]);
        assert_eq!(code, Some(0), "{out}");
        assert_eq!(out["result"], expected, "--threads {threads}");
        assert_eq!(out["task_count"], 6);
    }
}

#[test]
fn every_task_has_a_record_with_its_parameters_in_json_and_in_tasks_jsonl_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (job, _) = input_job(dir.path());
    let logs = dir.path().join("logs");
    let (_, out) = run_in(dir.path(), &job, &["--logs", logs.to_str().unwrap()]);
    let records = out["tasks"].as_array().unwrap();
    assert_eq!(records.len(), 6);
    assert_eq!(
        records[1]["params"],
        json!({"file": "data/f0.txt", "line": "4"})
    );
    assert_eq!(records[1]["status"], "succeeded");
    assert_eq!(records[1]["result"]["n"], 1);
    let lines: Vec<Value> = std::fs::read_to_string(logs.join("tasks.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[5]["task"], 5);
    assert_eq!(lines[5]["params"]["file"], "data/f2.txt");
    assert!(
        lines[5].get("slice").is_none() && lines[5].get("node").is_none(),
        "a run of one process has no slices"
    );
    let csv = std::fs::read_to_string(logs.join("tasks.csv")).unwrap();
    let mut rows = csv.lines();
    assert_eq!(rows.next(), Some("task,status,file,line,n,reason"));
    assert_eq!(rows.next(), Some("0,succeeded,data/f0.txt,0,4,"));
}

#[test]
fn a_task_returning_another_shape_fails_with_the_reason_and_the_others_reduce() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(
        dir.path(),
        "shape.yaml",
        r#"name: shape
tasks:
  params: {n: [2, 3, 2]}
  command: [python3, -c, "import json, sys; n = int(sys.argv[1]); print(json.dumps({'v': list(range(n))}))", "{n}"]
  result: json
reduce: [sum]
"#,
    );
    let (code, out) = run_in(dir.path(), &job, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(out["result"]["v"]["sum"], json!([0, 2]));
    assert_eq!(out["failed"][0]["task"], 1);
    assert_eq!(out["failed"][0]["params"], json!({"n": "3"}));
    let reason = out["failed"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("an array of 3 numbers, but task 0's is an array of 2"),
        "{reason}"
    );
}

#[test]
fn a_failed_task_shows_its_parameters_and_last_stderr_lines() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(
        dir.path(),
        "fail.yaml",
        "name: fail\ntasks:\n  params: {x: [a, b]}\n  command: [sh, -c, 'echo \"bad input $0\" >&2; exit 4', \"{x}\"]\n",
    );
    let output = output_of(
        hpcsub()
            .arg("run")
            .arg(&job)
            .arg("-q")
            .current_dir(dir.path()),
    );
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("task 1 (x=b): exit status 4"), "{text}");
    assert!(text.contains("| bad input b"), "{text}");
}

#[test]
fn outdir_exists_before_the_task_and_its_files_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(
        dir.path(),
        "out.yaml",
        "name: out\ntasks:\n  count: 2\n  command: [sh, -c, 'test -d \"$0\" && echo {task} > \"$0/result.txt\"', \"{outdir}\"]\n",
    );
    let logs = dir.path().join("logs");
    let (code, out) = run_in(dir.path(), &job, &["--logs", logs.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    let listed = out["tasks"][1]["outputs"][0].as_str().unwrap();
    assert!(listed.ends_with("outputs/task-1/result.txt"), "{listed}");
    assert_eq!(std::fs::read_to_string(listed).unwrap(), "1\n");
}

#[test]
fn input_errors_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(
        dir.path(),
        "none.yaml",
        "name: none\ntasks:\n  files: \"data/*.root\"\n  command: [cat, \"{file}\"]\n",
    );
    let output = output_of(hpcsub().arg("check").arg(&job));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("none.yaml:3:10: error: no file matches `data/*.root`"),
        "{stderr}"
    );
    let typo = write_job(
        dir.path(),
        "typo.yaml",
        "name: typo\ntasks:\n  lines: cuts.txt\n  command: [echo, \"{lin}\"]\n",
    );
    let stderr =
        String::from_utf8_lossy(&output_of(hpcsub().arg("check").arg(&typo)).stderr).into_owned();
    assert!(stderr.contains("did you mean `{line}`?"), "{stderr}");
}

#[test]
fn a_submitted_run_freezes_its_inputs_and_says_when_one_changed() {
    let dir = tempfile::tempdir().unwrap();
    let (job, expected) = input_job(dir.path());
    let run_dir = dry_run_slurm(&job, &dir.path().join("run"));
    // A new input after submission changes nothing the slices run.
    std::fs::write(dir.path().join("data/f9.txt"), "1\n").unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    for slice in ["0", "1"] {
        let output = output_of(
            hpcsub()
                .arg("slice")
                .arg(&run_dir)
                .args(["--index", slice])
                .current_dir(elsewhere.path()),
        );
        assert!(output.status.success(), "{output:?}");
    }
    let (code, gathered) = gather_json(&run_dir);
    assert_eq!(code, Some(0), "{gathered}");
    assert_eq!(gathered["result"], expected);
    assert!(run_dir.join("tasks.jsonl").exists());
    std::fs::write(dir.path().join("data/f1.txt"), "2\n").unwrap();
    let status = one_json(&output_of(
        hpcsub().args(["status", "--json"]).arg(&run_dir),
    ));
    let changed = status["changed_inputs"][0].as_str().unwrap();
    assert!(
        changed.contains("data/f1.txt changed after submission"),
        "{changed}"
    );
}

#[test]
fn every_task_sees_the_environment_the_setup_script_and_modules_make() {
    let dir = tempfile::tempdir().unwrap();
    let job = environment_job(dir.path());
    let logs = dir.path().join("logs");
    let output = output_of(
        hpcsub()
            .arg("run")
            .arg(&job)
            .args(["--json", "-q", "--logs", logs.to_str().unwrap()])
            .env("MODULEPATH", test_modules()),
    );
    let out = one_json(&output);
    assert_eq!(output.status.code(), Some(0), "{out}");
    assert_eq!(out["result"]["sum"], 4);
    let log = std::fs::read_to_string(logs.join("setup.log")).unwrap();
    assert!(log.contains("setting up"), "{log}");
}

#[test]
fn a_failing_setup_fails_the_run_with_its_log_and_bad_module_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let job = environment_job(dir.path());
    let output = output_of(
        hpcsub()
            .arg("run")
            .arg(&job)
            .arg("-q")
            .env("MODULEPATH", dir.path()),
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the environment setup failed"), "{stderr}");
    let log = stderr.rsplit("its output is in ").next().unwrap().trim();
    assert!(
        std::fs::read_to_string(log)
            .unwrap()
            .contains("module load hpcsub-test/1.0 failed"),
        "{log}"
    );
    let text = std::fs::read_to_string(&job)
        .unwrap()
        .replace("[hpcsub-test/1.0]", "[\"gcc; rm -rf /\"]");
    let bad = write_job(dir.path(), "bad.yaml", &text);
    let output = output_of(hpcsub().arg("check").arg(&bad));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad.yaml:3:13: error: `gcc; rm -rf /` is not a module name"),
        "{stderr}"
    );
}

#[test]
fn check_warns_when_a_tasks_program_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(
        dir.path(),
        "missing.yaml",
        "name: missing\ntasks:\n  count: 2\n  command: [./analyse.sh, \"{task}\"]\n",
    );
    let output = output_of(hpcsub().args(["check", "--json"]).arg(&job));
    let plan = success_json(&output);
    let warning = plan["warnings"][0].as_str().unwrap();
    assert!(
        warning.contains("analyse.sh is not an executable file"),
        "{warning}"
    );
    let path = dir.path().join("analyse.sh");
    std::fs::write(&path, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let plan = success_json(&output_of(hpcsub().args(["check", "--json"]).arg(&job)));
    assert!(plan.get("warnings").is_none(), "{plan}");
}

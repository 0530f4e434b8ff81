//! Workflows (`steps:`) run here: dependency order, results passed on, resume, failures.

use std::path::Path;

use crate::common::*;
use serde_json::{Value, json};

fn run_workflow(job: &Path, run_dir: &Path, extra: &[&str]) -> (Option<i32>, Value) {
    let output = output_of(
        hpcsub()
            .arg("run")
            .arg(job)
            .args(["--json", "--quiet", "--run-dir"])
            .arg(run_dir)
            .args(extra),
    );
    (output.status.code(), one_json(&output))
}

fn bottom_sum(report: &Value) -> &Value {
    &report["steps"][3]["report"]["result"]["sum"]
}

#[test]
fn a_diamond_gives_the_same_result_for_every_thread_count_and_resumes_from_its_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    let job = diamond_job(dir.path());
    for threads in ["1", "2"] {
        let run_dir = dir.path().join(format!("run-{threads}"));
        let (code, report) = run_workflow(&job, &run_dir, &["--threads", threads]);
        assert_eq!(code, Some(0), "{report}");
        assert_eq!(bottom_sum(&report), &json!(30));
        assert!(run_dir.join("steps/bottom/result.json").exists());
    }
    let run_dir = dir.path().join("run-2");
    let (_, again) = run_workflow(&job, &run_dir, &[]);
    assert_eq!(
        statuses(&again),
        [
            ("top", "cached"),
            ("left", "cached"),
            ("right", "cached"),
            ("bottom", "cached")
        ]
    );
    assert_eq!(bottom_sum(&again), &json!(30));

    // Changing one step reruns it and the steps after it, nothing else.
    let text = std::fs::read_to_string(&job)
        .unwrap()
        .replace("3 * steps.top.sum", "4 * steps.top.sum");
    std::fs::write(&job, text).unwrap();
    let (_, changed) = run_workflow(&job, &run_dir, &[]);
    assert_eq!(
        statuses(&changed),
        [
            ("top", "cached"),
            ("left", "cached"),
            ("right", "ran"),
            ("bottom", "ran")
        ]
    );
    assert_eq!(bottom_sum(&changed), &json!(36));
    let (_, forced) = run_workflow(&job, &run_dir, &["--force", "left"]);
    assert_eq!(
        statuses(&forced),
        [
            ("top", "cached"),
            ("left", "ran"),
            ("right", "cached"),
            ("bottom", "ran")
        ]
    );
}

#[test]
fn progress_json_names_the_step_of_every_line() {
    let dir = tempfile::tempdir().unwrap();
    let job = diamond_job(dir.path());
    let output = output_of(
        hpcsub()
            .arg("run")
            .arg(&job)
            .args(["--json", "--progress", "json", "--run-dir"])
            .arg(dir.path().join("run")),
    );
    assert!(output.status.success(), "{}", one_json(&output));
    let mut last_of_step = std::collections::BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stderr).lines() {
        let value: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: not a JSON line: {line}"));
        let progress = &value["progress"];
        let step = progress["step"]
            .as_str()
            .unwrap_or_else(|| panic!("a progress line without its step: {line}"));
        last_of_step.insert(step.to_string(), progress.clone());
    }
    assert_eq!(
        last_of_step.keys().collect::<Vec<_>>(),
        ["bottom", "left", "right", "top"]
    );
    assert_eq!(
        last_of_step["top"].to_string(),
        r#"{"unit":"tasks","done":4,"total":4,"running":0,"failed":0,"step":"top"}"#
    );
    assert_eq!(
        last_of_step["right"].to_string(),
        r#"{"unit":"samples","done":4096,"total":4096,"step":"right"}"#
    );
}

#[test]
fn a_failing_middle_step_stops_its_dependents_and_a_rerun_completes_the_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let job = diamond_job(dir.path());
    std::fs::write(dir.path().join("broken"), "").unwrap();
    let run_dir = dir.path().join("run");
    let (code, report) = run_workflow(&job, &run_dir, &[]);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(
        statuses(&report),
        [
            ("top", "ran"),
            ("left", "failed"),
            ("right", "ran"),
            ("bottom", "skipped")
        ]
    );
    assert_eq!(report["steps"][3]["reason"], "step `left` did not complete");
    assert_eq!(report["error"]["kind"], "failed");
    std::fs::remove_file(dir.path().join("broken")).unwrap();
    let (code, report) = run_workflow(&job, &run_dir, &[]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(
        statuses(&report),
        [
            ("top", "cached"),
            ("left", "ran"),
            ("right", "cached"),
            ("bottom", "ran")
        ]
    );
    assert_eq!(bottom_sum(&report), &json!(30));
}

#[test]
fn a_step_maps_over_another_steps_tasks_and_outputs() {
    let run_dir = tempfile::tempdir().unwrap();
    let (code, report) = run_workflow(&repo_path("jobs/pipeline.yaml"), run_dir.path(), &[]);
    assert_eq!(code, Some(0), "{report}");
    let analyse = &report["steps"][1]["report"];
    assert_eq!(analyse["task_count"], 3);
    assert_eq!(analyse["tasks"][2]["params"], json!({"mass": "90"}));
    assert_eq!(analyse["result"]["events"]["sum"], 1500);
    let counts: u64 = analyse["result"]["energy"]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    let merged = &report["steps"][2]["report"]["result"]["events"]["sum"];
    assert_eq!(merged, &json!(counts));
}

#[test]
fn a_compute_step_uses_the_reduced_values_of_a_pilot_step() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(
        dir.path(),
        "pilot.yaml",
        "name: pilot\nseed: 3\nsteps:\n  pilot:\n    compute:\n      samples: 10000\n      vars:\n        x: uniform(0, 10)\n      expr: x\n    reduce: [mean, max]\n  main:\n    needs: [pilot]\n    compute:\n      samples: 1000\n      vars:\n        x: uniform(0, 10)\n      expr: x - steps.pilot.mean + 0 * steps.pilot.max\n    reduce: [sum]\n",
    );
    let (code, report) = run_workflow(&job, &dir.path().join("run"), &[]);
    assert_eq!(code, Some(0), "{report}");
    let pilot_mean = report["steps"][0]["report"]["result"]["mean"]
        .as_f64()
        .unwrap();
    let shifted = report["steps"][1]["report"]["result"]["sum"]
        .as_f64()
        .unwrap();
    // The same 1000 draws of x, shifted by the pilot's mean: the sum moves by 1000 * mean.
    let plain = write_job(
        dir.path(),
        "plain.yaml",
        "name: main\nseed: 3\ncompute:\n  samples: 1000\n  vars:\n    x: uniform(0, 10)\n  expr: x\nreduce: [sum]\n",
    );
    let plain = run_json(&plain, &[])["result"]["sum"].as_f64().unwrap();
    assert!(
        (plain - 1000.0 * pilot_mean - shifted).abs() < 1e-9,
        "{plain} {pilot_mean} {shifted}"
    );
}

#[test]
fn workflow_errors_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let check = |name: &str, text: &str| -> String {
        let job = write_job(dir.path(), name, text);
        let output = output_of(hpcsub().arg("check").arg(&job));
        assert_eq!(output.status.code(), Some(2), "{name}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let step =
        |needs: &str| format!("    needs: {needs}\n    tasks: {{count: 1, command: [\"true\"]}}\n");
    let circle = format!(
        "name: w\nsteps:\n  a:\n{}  b:\n{}",
        step("[b]"),
        step("[a]")
    );
    assert!(
        check("circle.yaml", &circle)
            .contains("circle.yaml:3:3: error: steps a -> b -> a need each other in a circle")
    );
    let unknown = format!("name: w\nsteps:\n  a:\n{}", step("[bb]"));
    let err = check("unknown.yaml", &unknown);
    assert!(
        err.contains("unknown.yaml:4:13: error: unknown step `bb`"),
        "{err}"
    );
    let not_needed = "name: w\nsteps:\n  a:\n    tasks: {count: 1, command: [\"true\"]}\n  b:\n    tasks: {count: 1, command: [cat, \"{steps.a.result}\"]}\n";
    let err = check("needs.yaml", not_needed);
    assert!(
        err.contains("unknown placeholder `{steps.a.result}`")
            && err.contains("is `a` in `needs`?"),
        "{err}"
    );
    let from = "name: w\nsteps:\n  a:\n    tasks: {count: 1, command: [\"true\"]}\n  b:\n    needs: [a]\n    tasks: {from: c, command: [\"true\"]}\n";
    assert!(check("from.yaml", from).contains("`from: c` names no step this one needs"));
}

/// A pilot of JSON tasks, and a compute step that uses `steps.pilot.KEY.STAT` written `uses`.
fn keyed_pilot(uses: &str) -> String {
    format!(
        "name: keyed\nsteps:\n  pilot:\n    tasks:\n      count: 3\n      command: [python3, -c, \"import json, sys; print(json.dumps({{'scale': int(sys.argv[1]) + 1}}))\", \"{{task}}\"]\n      result: json\n    reduce: [sum, max]\n  main:\n    needs: [pilot]\n    compute:\n      samples: 100 * steps.pilot.scale.max\n      vars:\n        x: uniform(0, steps.pilot.scale.sum)\n      expr: x * 0 + {uses}\n    reduce: [sum]\n"
    )
}

#[test]
fn a_compute_step_uses_the_keys_of_a_json_task_step_in_its_samples_draws_and_expression() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(
        dir.path(),
        "keyed.yaml",
        &keyed_pilot("steps.pilot.scale.sum"),
    );
    let (code, report) = run_workflow(&job, &dir.path().join("run"), &[]);
    assert_eq!(code, Some(0), "{report}");
    let main = &report["steps"][1]["report"];
    // scale is 1, 2, 3: 100 * max = 300 samples of 6, each x drawn from uniform(0, 6).
    assert_eq!(main["samples"], 300);
    assert_eq!(main["result"]["sum"], json!(1800.0));

    // A key the tasks did not report is found once the pilot ran: the error lists what it left.
    let job = write_job(
        dir.path(),
        "typo.yaml",
        &keyed_pilot("steps.pilot.scael.sum"),
    );
    let (code, report) = run_workflow(&job, &dir.path().join("typo"), &[]);
    assert_eq!(code, Some(1), "{report}");
    let reason = report["steps"][1]["reason"].as_str().unwrap();
    assert!(
        reason.contains("no value for steps.pilot.scael.sum")
            && reason.contains("step `pilot` left steps.pilot.scale.{count, max, sum}"),
        "{reason}"
    );
}

#[test]
fn values_of_task_steps_are_checked_where_they_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let check = |name: &str, text: &str| -> String {
        let job = write_job(dir.path(), name, text);
        let output = output_of(hpcsub().arg("check").arg(&job));
        assert_eq!(output.status.code(), Some(2), "{name}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let err = check("no_key.yaml", &keyed_pilot("steps.pilot.sum"));
    assert!(
        err.contains("no_key.yaml:15:21: error: step `pilot` reduces the keys of its tasks' JSON: write steps.pilot.KEY.sum"),
        "{err}"
    );
    let err = check("statistic.yaml", &keyed_pilot("steps.pilot.scale.std"));
    assert!(
        err.contains("step `pilot` reduces to count, sum, max; `std` is not among them"),
        "{err}"
    );
    let number = keyed_pilot("steps.pilot.scale.sum").replace("result: json", "result: number");
    let err = check("number.yaml", &number);
    assert!(err.contains("no keys: write steps.pilot.max"), "{err}");
    let none = keyed_pilot("1")
        .replace("result: json", "result: none")
        .replace("    reduce: [sum, max]\n  main", "  main");
    let err = check("none.yaml", &none);
    assert!(
        err.contains("`result: none`: it reduces no values"),
        "{err}"
    );
}

#[test]
fn check_and_graph_show_the_steps() {
    let job = repo_path("jobs/pipeline.yaml");
    let plan = success_json(&output_of(hpcsub().args(["check", "--json"]).arg(&job)));
    let steps: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["simulate", "analyse", "report", "background"]);
    assert_eq!(plan["steps"][1]["needs"], json!(["simulate"]));
    let dot = String::from_utf8(output_of(hpcsub().arg("graph").arg(&job)).stdout).unwrap();
    assert!(dot.contains("label=\"step analyse\""), "{dot}");
    assert!(dot.contains("reduce0 -> step1"), "{dot}");
}

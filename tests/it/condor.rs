//! Submitting to HTCondor, tested without HTCondor's daemons (not installable here): the submit
//! files and the DAG are read by HTCondor's own parsers from its Python bindings, and run by the
//! emulated pool of `condor/emulated_pool.py`. The venvs come from `condor/setup.sh`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::common::*;
use serde_json::Value;

/// The harness's Python environments, set up once per test binary.
fn venvs() -> &'static PathBuf {
    static VENVS: OnceLock<PathBuf> = OnceLock::new();
    VENVS.get_or_init(|| {
        let output = output_of(&mut Command::new(repo_path("condor/setup.sh")));
        assert!(
            output.status.success(),
            "condor/setup.sh (needs python3-venv and PyPI): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
    })
}

/// A harness script run by the htcondor-`version` environment; its JSON output.
fn harness(version: u32, script: &str, args: &[&Path]) -> Value {
    let python = venvs().join(format!("htcondor-{version}/bin/python"));
    let output = output_of(
        Command::new(python)
            .arg(repo_path(&format!("condor/{script}")))
            .args(args),
    );
    assert!(
        output.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The procs HTCondor's submit code expands `submit_file` into.
fn expand(submit_file: &Path) -> Vec<Value> {
    harness(24, "expand.py", &[submit_file])["procs"]
        .as_array()
        .unwrap()
        .clone()
}

/// Runs `dag` of `run_dir` on the emulated pool; (success, its summary).
fn emulate(run_dir: &Path, dag: &str, extra: &[&str]) -> (bool, Value) {
    venvs();
    let output = output_of(
        Command::new("python3")
            .arg(repo_path("condor/emulated_pool.py"))
            .arg(run_dir)
            .arg(dag)
            .args(extra)
            .env_remove("HPCSUB_ISA"),
    );
    let summary = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "emulated_pool.py printed no summary: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.success(), summary)
}

/// `hpcsub submit JOB --to condor --dry-run --run-dir RUN_DIR`, which must succeed.
fn submit_dry_run(job: &Path, run_dir: &Path) {
    let output = output_of(
        hpcsub()
            .args(["submit", "--to", "condor", "--dry-run", "--run-dir"])
            .arg(run_dir)
            .arg(job),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

const JOB: &str = "name: condor-check
seed: 3
compute:
  samples: 400001
  vars:
    a: uniform(5, 10)
    b: uniform(10, 20)
    c: uniform(-0.1, 0.1)
  expr: (-b + sqrt(b^2 - 4*a*c)) / (2*a)
reduce: [mean, std, min, max, {histogram: {bins: 7, range: [-0.01, 0.01]}}]
split:
  ranks: 3
  threads: 2
resources:
  time: 5m
  memory: 256MiB
  disk: 1GiB
condor:
  requirements: (OpSysAndVer == \"AlmaLinux9\") && (Arch == \"X86_64\")
  max_idle: 2
  retries: 1
  extra:
    accounting_group: group_physics.alice
    +ProjectName: '\"hpcsub tests\"'
";

fn assert_same_bits(gathered: &Value, local: &Value) {
    assert_eq!(gathered["result"].to_string(), local["result"].to_string());
    assert_eq!(
        gathered["histogram"].to_string(),
        local["histogram"].to_string()
    );
}

#[test]
fn htcondor_expands_one_proc_per_slice_and_the_emulated_dag_gives_the_bits_of_a_local_run() {
    let work = tempfile::tempdir().unwrap();
    let job = write_job(work.path(), "job.yaml", JOB);
    // Spaces and both quote characters, which the new-style arguments must carry literally.
    let run_dir = work.path().join("it's a \"run\"");
    submit_dry_run(&job, &run_dir);

    let procs = expand(&run_dir.join("job.sub"));
    assert_eq!(procs.len(), 3);
    let binary = Path::new(env!("CARGO_BIN_EXE_hpcsub"));
    for (slice, proc) in procs.iter().enumerate() {
        let argv: Vec<&str> = proc["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let slice_text = slice.to_string();
        assert_eq!(
            argv,
            ["slice", run_dir.to_str().unwrap(), "--index", &slice_text]
        );
        assert_eq!(proc["Cmd"], binary.to_str().unwrap());
        assert_eq!(proc["Iwd"], run_dir.to_str().unwrap());
        assert_eq!(proc["HpcsubSlice"], slice);
        assert_eq!(proc["ProcId"], slice);
        assert_eq!(proc["RequestCpus"], 2);
        assert_eq!(proc["RequestMemory"], 256);
        assert_eq!(proc["RequestDisk"], 1 << 20);
        assert_eq!(proc["AllowedExecuteDuration"], 300);
        assert_eq!(proc["JobBatchName"], "condor-check");
        assert_eq!(proc["JobMaterializeMaxIdle"], 2);
        assert_eq!(proc["ProjectName"], "hpcsub tests");
        assert!(
            proc["AccountingGroup"]
                .as_str()
                .unwrap()
                .starts_with("group_physics.alice")
        );
        assert!(
            proc["Requirements"]
                .as_str()
                .unwrap()
                .contains("OpSysAndVer == \"AlmaLinux9\"")
        );
        assert_eq!(proc["environment"], serde_json::json!({}));
    }
    let gather = expand(&run_dir.join("gather.sub"));
    assert_eq!(gather.len(), 1);
    assert_eq!(
        gather[0]["argv"],
        serde_json::json!(["gather", "--quiet", run_dir.to_str().unwrap()])
    );
    let dag = harness(25, "check_dag.py", &[&run_dir.join("job.dag")]);
    assert_eq!(
        dag,
        serde_json::json!({
            "nodes": {"slices": "job.sub", "gather": "gather.sub"},
            "retries": {"slices": 1},
            "edges": [["slices", "gather"]],
        })
    );

    let (succeeded, summary) = emulate(&run_dir, "job.dag", &[]);
    assert!(succeeded, "{summary}");
    let local = run_json(&job, &["--threads", "1"]);
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("result.json")).unwrap())
            .unwrap();
    assert_same_bits(&result, &local);
    let (code, gathered) = gather_json(&run_dir);
    assert_eq!(code, Some(0));
    assert_same_bits(&gathered, &local);

    // The event log the pool wrote is one HTCondor's reader accepts, and hpcsub reads the same
    // jobs from it: all of them ended.
    let log = harness_lines(&run_dir.join("condor.log"));
    assert_eq!(log.iter().filter(|e| e["type"] == 5).count(), 4);
    assert_eq!(log.iter().filter(|e| e["node"] == "slices").count(), 3);
    let status = one_json(&output_of(
        hpcsub().args(["status", "--json"]).arg(&run_dir),
    ));
    assert_eq!(status["done"], 3);
    assert_eq!(status["running"], 0);
    assert_eq!(status["pending"], 0);
    assert_eq!(status["result"], "current");
}

/// `read_events.py LOG`: one JSON object a line.
fn harness_lines(log: &Path) -> Vec<Value> {
    let python = venvs().join("htcondor-25/bin/python");
    let output = output_of(
        Command::new(python)
            .arg(repo_path("condor/read_events.py"))
            .arg(log),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn a_removed_proc_leaves_its_slice_missing_and_resubmit_runs_only_that_slice() {
    let work = tempfile::tempdir().unwrap();
    let job = write_job(work.path(), "job.yaml", JOB);
    let run_dir = work.path().join("run");
    submit_dry_run(&job, &run_dir);

    let (succeeded, summary) = emulate(&run_dir, "job.dag", &["--remove-proc", "1"]);
    assert!(!succeeded);
    assert_eq!(
        summary["nodes"]["slices"]["attempts"], 2,
        "RETRY 1: {summary}"
    );
    assert_eq!(summary["nodes"]["gather"]["skipped"], "a parent failed");
    let (code, report) = gather_json(&run_dir);
    assert_eq!(code, Some(3));
    assert_eq!(report["missing"], serde_json::json!([1]));

    let planned = success_json(&output_of(
        hpcsub()
            .args(["resubmit", "--dry-run", "--json"])
            .arg(&run_dir),
    ));
    assert_eq!(planned["slices"], serde_json::json!([1]));
    assert_eq!(
        planned["commands"],
        serde_json::json!([["condor_submit_dag", "resubmit-1.dag"]])
    );
    let procs = expand(&run_dir.join("resubmit-1.sub"));
    assert_eq!(procs.len(), 1);
    assert_eq!(procs[0]["HpcsubSlice"], 1);
    assert_eq!(procs[0]["argv"][3], "1");

    let (succeeded, summary) = emulate(&run_dir, "resubmit-1.dag", &[]);
    assert!(succeeded, "{summary}");
    let (code, gathered) = gather_json(&run_dir);
    assert_eq!(code, Some(0));
    assert_same_bits(&gathered, &run_json(&job, &["--threads", "1"]));
}

/// PATH with the emulated `condor_submit_dag` first.
fn emulated_path() -> String {
    venvs();
    format!(
        "{}:{}",
        repo_path("condor/emulated-bin").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn task_jobs_submit_wait_and_gather_through_condor_submit_dag() {
    let work = tempfile::tempdir().unwrap();
    let canary = work.path().join("canary");
    // The command reaches argv literally: `$(...)` and quotes are text, and `sh` finds its way
    // through the PATH the submit file passes on.
    let job = write_job(
        work.path(),
        "job.yaml",
        &format!(
            "name: condor-tasks\ntasks:\n  params:\n    x: [1, 2, 3, 4, 5]\n  result: number\n  command: [sh, -c, 'echo $(($1 * 10))', \"$(touch {}) 'q\", \"{{x}}\"]\nsplit: {{ranks: 2}}\n",
            canary.display()
        ),
    );
    let local = run_json(&job, &[]);
    let submitted = success_json(&output_of(
        hpcsub()
            .args(["submit", "--to", "condor", "--wait", "--json", "--run-dir"])
            .arg(work.path().join("run"))
            .arg(&job)
            .current_dir(work.path())
            .env("PATH", emulated_path()),
    ));
    assert_eq!(submitted["result"]["sum"], 150);
    assert_eq!(submitted["result"].to_string(), local["result"].to_string());
    assert_eq!(submitted["job_ids"].as_array().unwrap().len(), 1);
    assert!(!canary.exists());
    let sub = std::fs::read_to_string(work.path().join("run/job.sub")).unwrap();
    assert!(!sub.contains("touch") && !sub.contains("echo"), "{sub}");
}

#[test]
fn without_condor_submit_dag_the_error_names_dry_run() {
    let work = tempfile::tempdir().unwrap();
    let job = write_job(work.path(), "job.yaml", JOB);
    let output = output_of(
        hpcsub()
            .args(["submit", "--to", "condor", "--run-dir"])
            .arg(work.path().join("run"))
            .arg(&job)
            .env("PATH", "/nonexistent"),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("condor_submit_dag")
            && stderr.contains("HTCondor")
            && stderr.contains("--dry-run"),
        "{stderr}"
    );
    let output = output_of(
        hpcsub()
            .args([
                "submit",
                "--to",
                "condor",
                "--dry-run",
                "--mode",
                "mpi",
                "--run-dir",
            ])
            .arg(work.path().join("mpi"))
            .arg(&job),
    );
    assert_eq!(output.status.code(), Some(2));
    let output = output_of(
        hpcsub()
            .args(["submit", "--to", "condor", "--dry-run", "--run-dir"])
            .arg(work.path().join("$(Process)"))
            .arg(&job),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot carry"));
}

#[test]
fn hostile_condor_values_are_refused_where_they_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let base = "name: c\ncompute:\n  samples: 10\n  expr: 1\nsplit: {ranks: 3}\n";
    for (section, location, says) in [
        (
            "condor:\n  requirements: \"a\\nqueue 9\"\n",
            ":7:17:",
            "one line",
        ),
        (
            "condor:\n  requirements: \"$(touch x)\"\n",
            ":7:17:",
            "macro",
        ),
        (
            "condor:\n  extra:\n    executable: /bin/sh\n",
            ":8:5:",
            "written by hpcsub",
        ),
        (
            "condor:\n  extra:\n    Arguments: x\n",
            ":8:5:",
            "written by hpcsub",
        ),
        (
            "condor:\n  extra:\n    queue: \"9\"\n",
            ":8:5:",
            "written by hpcsub",
        ),
        (
            "condor:\n  extra:\n    +HpcsubSlice: \"0\"\n",
            ":8:5:",
            "set by hpcsub",
        ),
        (
            "condor:\n  extra:\n    acounting_group: g\n",
            ":8:5:",
            "accounting_group",
        ),
        (
            "condor:\n  extra:\n    pre_cmd: /bin/sh\n",
            ":8:5:",
            "not a submit command",
        ),
        (
            "condor:\n  extra:\n    \"+a b\": \"1\"\n",
            ":8:5:",
            "attribute name",
        ),
        (
            "condor:\n  extra:\n    rank: \"Memory\\nexecutable = /bin/sh\"\n",
            ":8:11:",
            "one line",
        ),
        ("condor:\n  retries: 101\n", ":7:12:", "between 0 and 100"),
        ("condor:\n  max_idle: 0\n", ":7:13:", "between 1"),
    ] {
        let job = write_job(dir.path(), "job.yaml", &format!("{base}{section}"));
        let output = output_of(hpcsub().arg("check").arg(&job));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{section}\n{stderr}");
        assert!(stderr.contains(location), "{section}\n{stderr}");
        assert!(stderr.contains(says), "{section}\n{stderr}");
    }
}

#[test]
fn task_jobs_over_files_and_lines_on_the_emulated_pool_give_the_exact_sums() {
    let work = tempfile::tempdir().unwrap();
    let (job, expected) = input_job(work.path());
    let submitted = success_json(&output_of(
        hpcsub()
            .args(["submit", "--to", "condor", "--wait", "--json", "--run-dir"])
            .arg(work.path().join("run"))
            .arg(&job)
            .env("PATH", emulated_path()),
    ));
    assert_eq!(submitted["result"], expected, "{submitted}");
}

#[test]
fn a_workflow_is_one_dag_on_the_emulated_pool_with_the_local_result() {
    let work = tempfile::tempdir().unwrap();
    let job = diamond_job(work.path());
    let local = local_workflow(&job, &work.path().join("local"));
    let submitted = success_json(&output_of(
        hpcsub()
            .args(["submit", "--to", "condor", "--wait", "--json", "--run-dir"])
            .arg(work.path().join("run"))
            .arg(&job)
            .env("PATH", emulated_path()),
    ));
    assert_eq!(
        statuses(&submitted),
        [
            ("top", "ran"),
            ("left", "ran"),
            ("right", "ran"),
            ("bottom", "ran")
        ]
    );
    assert_same_step_results(&submitted, &local);
    let dag = harness(25, "check_dag.py", &[&work.path().join("run/workflow.dag")]);
    assert_eq!(dag["retries"], serde_json::json!({}));
    let edges = dag["edges"].as_array().unwrap();
    assert!(
        edges.contains(&serde_json::json!(["top_gather", "left_slices"])),
        "{dag}"
    );
    assert!(
        edges.contains(&serde_json::json!(["right_gather", "bottom_slices"])),
        "{dag}"
    );
}

#[test]
fn a_failed_middle_step_is_resubmitted_as_a_dag_of_what_is_left_and_completes_to_the_local_result()
{
    let work = tempfile::tempdir().unwrap();
    let job = diamond_job(work.path());
    let local = local_workflow(&job, &work.path().join("local"));
    std::fs::write(work.path().join("broken"), "").unwrap();
    let run_dir = work.path().join("run");
    let on = |args: &[&str]| -> (Option<i32>, Value) {
        let output = output_of(
            hpcsub()
                .args(args)
                .arg("--json")
                .env("PATH", emulated_path())
                .current_dir(work.path()),
        );
        (output.status.code(), one_json(&output))
    };
    let run = run_dir.to_str().unwrap();
    let (code, failed) = on(&[
        "submit",
        "--to",
        "condor",
        "--wait",
        "--run-dir",
        run,
        job.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{failed}");
    assert_eq!(
        statuses(&failed),
        [
            ("top", "ran"),
            ("left", "failed"),
            ("right", "ran"),
            ("bottom", "skipped")
        ]
    );
    // A dry run writes the DAG of what is left: the failed step and the step after it.
    let (code, dry) = on(&["resubmit", "--dry-run", run]);
    assert_eq!(code, Some(0), "{dry}");
    assert_eq!(
        dry["commands"],
        serde_json::json!([["condor_submit_dag", "workflow-resubmit-1.dag"]])
    );
    let dag = harness(
        25,
        "check_dag.py",
        &[&run_dir.join("workflow-resubmit-1.dag")],
    );
    let mut edges: Vec<String> = dag["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| {
            format!(
                "{} -> {}",
                edge[0].as_str().unwrap(),
                edge[1].as_str().unwrap()
            )
        })
        .collect();
    edges.sort();
    assert_eq!(
        edges,
        [
            "bottom_slices-1 -> bottom_gather-1",
            "left_gather-1 -> bottom_slices-1",
            "left_slices-1 -> left_gather-1"
        ],
        "{dag}"
    );
    std::fs::remove_file(work.path().join("broken")).unwrap();
    let (code, completed) = on(&["resubmit", "--wait", run]);
    assert_eq!(code, Some(0), "{completed}");
    assert_eq!(
        statuses(&completed),
        [
            ("top", "ran"),
            ("left", "ran"),
            ("right", "ran"),
            ("bottom", "ran")
        ]
    );
    assert_same_step_results(&completed, &local);
    // Only the failed step and the one after it ran again, each in one more submission.
    assert_eq!(diamond_submissions(&run_dir), [1, 2, 1, 2]);
    let (_, status) = on(&["status", run]);
    for step in 0..4 {
        assert_eq!(
            status["steps"][step]["done"], status["steps"][step]["slices"],
            "{status}"
        );
    }
}

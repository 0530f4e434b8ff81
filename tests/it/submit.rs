//! `submit --dry-run`, `task` and `gather`: the run directory, scripts that hold nothing from the
//! job file, atomic checksummed parts, and a gather that names every missing or corrupt slice.
//! The generated scripts are run with bash, as Slurm would run them on a node.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use serde_json::Value;

const JOB: &str = "name: sub
seed: 5
compute:
  samples: 50001
  vars:
    a: uniform(5, 10)
    b: normal(0, 1)
  expr: (-b + sqrt(b^2 + 4*a)) / (2*a)
reduce: [mean, std, min, max, {histogram: {bins: 5, range: [-1, 1]}}]
split:
  ranks: 4
  threads: 2
resources:
  time: 1d12h
  memory: 512MiB
";

fn submit_dry_run(dir: &Path, job_text: &str) -> PathBuf {
    dry_run_slurm(&write_job(dir, "job.yaml", job_text), &dir.join("run"))
}

/// Runs a generated script with bash, as a Slurm node would.
fn run_script(run_dir: &Path, script: &str, array_task: Option<u32>) -> std::process::Output {
    let mut command = Command::new("bash");
    command.arg(run_dir.join(script)).current_dir(run_dir);
    if let Some(task) = array_task {
        command.env("SLURM_ARRAY_TASK_ID", task.to_string());
    }
    output_of(&mut command)
}

#[test]
fn the_scripts_run_every_slice_and_gather_the_bits_of_a_local_run() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = submit_dry_run(dir.path(), JOB);
    for file in [
        "job.yaml",
        "job.sha256",
        "manifest.json",
        "plan.json",
        "job.sbatch",
        "gather.sbatch",
        "logs",
        "parts",
    ] {
        assert!(run_dir.join(file).exists(), "{file}");
    }
    let script = std::fs::read_to_string(run_dir.join("job.sbatch")).unwrap();
    for line in [
        "#SBATCH --array=0-3",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --time=1-12:00:00",
        "#SBATCH --mem=512M",
        "#SBATCH --output=logs/%A_%a.out",
        "slice",
        "--index \"$((SLURM_ARRAY_TASK_ID + ${HPCSUB_SLICE_OFFSET:-0}))\"",
    ] {
        assert!(script.contains(line), "{line} missing from:\n{script}");
    }
    for task in 0..4 {
        let output = run_script(&run_dir, "job.sbatch", Some(task));
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(run_script(&run_dir, "gather.sbatch", None).status.success());
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("result.json")).unwrap())
            .unwrap();
    let local = run_json(
        &write_job(dir.path(), "local.yaml", JOB),
        &["--threads", "1"],
    );
    assert_eq!(result["result"].to_string(), local["result"].to_string());
    assert_eq!(
        result["histogram"].to_string(),
        local["histogram"].to_string()
    );
    assert_eq!(result["slices"], 4);
}

#[test]
fn gather_lists_missing_and_corrupt_slices_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = submit_dry_run(dir.path(), JOB);
    for slice in ["0", "1", "2", "3"] {
        assert!(
            output_of(hpcsub().arg("slice").arg(&run_dir).args(["--index", slice]))
                .status
                .success()
        );
    }
    assert_eq!(gather_json(&run_dir).0, Some(0));

    std::fs::remove_file(run_dir.join("parts/1.json")).unwrap();
    let part2 = run_dir.join("parts/2.json");
    let mut tampered: Value =
        serde_json::from_str(&std::fs::read_to_string(&part2).unwrap()).unwrap();
    tampered["end"] = (tampered["end"].as_u64().unwrap() - 1).into();
    std::fs::write(&part2, tampered.to_string()).unwrap();
    std::fs::write(
        run_dir.join("logs/77_1.out"),
        "slurmstepd: error: *** JOB CANCELLED ***",
    )
    .unwrap();
    let (code, report) = gather_json(&run_dir);
    assert_eq!(code, Some(3));
    assert_eq!(report["missing"], serde_json::json!([1]));
    assert_eq!(report["corrupt"], serde_json::json!([2]));
    let problems = report["problems"].as_array().unwrap();
    assert!(
        problems[0]["logs"][0]
            .as_str()
            .unwrap()
            .ends_with("logs/77_1.out")
    );
    assert!(
        problems[1]["problem"]
            .as_str()
            .unwrap()
            .contains("bad checksum")
    );

    // A part written for another job file is refused too, even with a valid checksum.
    let other_dir = dir.path().join("other");
    std::fs::create_dir(&other_dir).unwrap();
    let other = submit_dry_run(&other_dir, &JOB.replace("seed: 5", "seed: 6"));
    assert!(
        output_of(hpcsub().arg("slice").arg(&other).args(["--index", "2"]))
            .status
            .success()
    );
    std::fs::copy(other.join("parts/2.json"), &part2).unwrap();
    let (_, report) = gather_json(&run_dir);
    assert!(
        report["problems"][1]["problem"]
            .as_str()
            .unwrap()
            .contains("another job file")
    );

    // Rerunning the missing slices completes the run with the same bits.
    for slice in ["1", "2"] {
        assert!(
            output_of(hpcsub().arg("slice").arg(&run_dir).args(["--index", slice]))
                .status
                .success()
        );
    }
    let (code, complete) = gather_json(&run_dir);
    assert_eq!(code, Some(0));
    let local = run_json(
        &write_job(dir.path(), "local.yaml", JOB),
        &["--threads", "1"],
    );
    assert_eq!(complete["result"].to_string(), local["result"].to_string());
}

#[test]
fn nothing_from_the_job_file_or_the_path_reaches_a_shell() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = dir.path().join("it's $(touch canary) `touch canary` x");
    std::fs::create_dir_all(&hostile).unwrap();
    let run_dir = submit_dry_run(&hostile, &JOB.replace("ranks: 4", "ranks: 1"));
    let output = run_script(&run_dir, "job.sbatch", Some(0));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(run_dir.join("parts/0.json").exists());
    assert!(
        !dir.path().join("canary").exists()
            && !hostile.join("canary").exists()
            && !run_dir.join("canary").exists()
    );
    // Names that could break out of a #SBATCH line never validate.
    let bad = JOB.replace("name: sub", "name: \"x\\n#SBATCH --uid=0\"");
    let job = write_job(dir.path(), "bad.yaml", &bad);
    let output = output_of(
        hpcsub()
            .args(["submit", "--to", "slurm", "--dry-run"])
            .arg(&job),
    );
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn tasks_refuse_a_changed_job_file_and_slices_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = submit_dry_run(dir.path(), JOB);
    let output = output_of(hpcsub().arg("slice").arg(&run_dir).args(["--index", "4"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("out of range"));
    std::fs::write(run_dir.join("job.yaml"), JOB.replace("seed: 5", "seed: 7")).unwrap();
    let output = output_of(hpcsub().arg("slice").arg(&run_dir).args(["--index", "0"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("changed after submission"));
}

#[test]
fn without_sbatch_submit_names_dry_run_and_a_used_run_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(dir.path(), "job.yaml", JOB);
    let empty_path = tempfile::tempdir().unwrap();
    let output = output_of(
        hpcsub()
            .env("PATH", empty_path.path())
            .args(["submit", "--to", "slurm", "--run-dir"])
            .arg(dir.path().join("first"))
            .arg(&job),
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--dry-run"));
    submit_dry_run(dir.path(), JOB);
    let output = output_of(
        hpcsub()
            .args(["submit", "--to", "slurm", "--dry-run", "--run-dir"])
            .arg(dir.path().join("run"))
            .arg(&job),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not empty"));
}

/// `slurm:` values go on `#SBATCH` lines, so anything that could end a line, start a shell word
/// or smuggle a directive is refused at load time with its location.
#[test]
fn hostile_slurm_values_are_refused_and_good_ones_reach_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let base = "name: s\ncompute:\n  samples: 10\n  expr: 1\nsplit: {ranks: 3}\n";
    for (section, location) in [
        ("slurm:\n  partition: \"debug; touch /tmp/x\"\n", ":7:14:"),
        ("slurm:\n  account: \"a\\nb\"\n", ":7:12:"),
        ("slurm:\n  qos: \"$(id)\"\n", ":7:8:"),
        ("slurm:\n  extra: [\"--constraint=a b\"]\n", ":7:11:"),
        ("slurm:\n  extra: [\"--comment=`id`\"]\n", ":7:11:"),
        ("slurm:\n  extra: [\"--output=/etc/passwd\"]\n", ":7:11:"),
        ("slurm:\n  extra: [\"-p debug\"]\n", ":7:11:"),
        (
            "slurm:\n  extra: [\"--x=1\\n#SBATCH --wrap=id\"]\n",
            ":7:11:",
        ),
        ("slurm:\n  mode: mpii\n", ":7:9:"),
        ("slurm:\n  array_limit: 0\n", ":7:16:"),
    ] {
        let job = write_job(dir.path(), "job.yaml", &format!("{base}{section}"));
        let output = output_of(hpcsub().arg("check").arg(&job));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{section}\n{stderr}");
        assert!(stderr.contains(location), "{section}\n{stderr}");
    }
    let run_dir = submit_dry_run(
        dir.path(),
        &format!(
            "{base}slurm:\n  partition: debug\n  account: proj-1\n  qos: normal\n  extra: [\"--constraint=avx512&fma\", \"--exclusive\"]\n  array_limit: 2\n"
        ),
    );
    let script = std::fs::read_to_string(run_dir.join("job.sbatch")).unwrap();
    for line in [
        "#SBATCH --partition=debug",
        "#SBATCH --account=proj-1",
        "#SBATCH --qos=normal",
        "#SBATCH --constraint=avx512&fma",
        "#SBATCH --exclusive",
    ] {
        assert!(script.contains(line), "{line} missing:\n{script}");
    }
}

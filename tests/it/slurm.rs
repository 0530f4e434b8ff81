//! Submitting to a real Slurm: a private single-node cluster started by `slurm/start-cluster.sh`
//! in a temporary directory for each test (as root, no systemd, no accounting).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::Value;

pub struct Cluster {
    dir: tempfile::TempDir,
    pub conf: PathBuf,
}

impl Cluster {
    pub fn start() -> Cluster {
        Cluster::start_with_max_array_size(1001)
    }

    fn start_with_max_array_size(max_array_size: u32) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new(repo_path("slurm/start-cluster.sh"))
            .arg(dir.path())
            .env("MAX_ARRAY_SIZE", max_array_size.to_string())
            .output()
            .expect("slurm/start-cluster.sh runs (needs slurm-wlm and munge, as root)");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let conf = dir.path().join("slurm.conf");
        Cluster { dir, conf }
    }

    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command
            .env("SLURM_CONF", &self.conf)
            .env_remove("HPCSUB_ISA");
        command
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(repo_path("slurm/stop-cluster.sh"))
            .arg(self.dir.path())
            .status();
    }
}

const JOB: &str = "name: slurm-check
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
  ranks: 5
  threads: 1
resources:
  time: 5m
  memory: 256MiB
";

/// `hpcsub submit JOB --to slurm --json --run-dir RUN_DIR EXTRA...` on `cluster`, which must
/// succeed; its JSON.
fn submit(cluster: &Cluster, job: &Path, run_dir: &Path, extra: &[&str]) -> Value {
    success_json(&output_of(
        cluster
            .command(env!("CARGO_BIN_EXE_hpcsub"))
            .args(["submit", "--to", "slurm", "--json", "--run-dir"])
            .arg(run_dir)
            .args(extra)
            .arg(job),
    ))
}

/// JOB with `samples` whose every slice takes every CPU, so the slices run one at a time and
/// later ones stay pending.
fn job_taking_every_cpu(dir: &Path, samples: &str) -> PathBuf {
    let cpus = std::thread::available_parallelism().unwrap().get();
    let text = JOB
        .replace("threads: 1", &format!("threads: {cpus}"))
        .replace("samples: 400001", &format!("samples: {samples}"));
    write_job(dir, "job.yaml", &text)
}

#[test]
fn an_array_gives_the_bits_of_a_local_run() {
    let cluster = Cluster::start();
    let work = tempfile::tempdir().unwrap();
    let job = write_job(work.path(), "job.yaml", JOB);
    let local = run_json(&job, &["--threads", "1"]);
    let submitted = submit(&cluster, &job, &work.path().join("run"), &["--wait"]);
    assert_eq!(submitted["result"].to_string(), local["result"].to_string());
    assert_eq!(
        submitted["histogram"].to_string(),
        local["histogram"].to_string()
    );
    assert_eq!(submitted["job_ids"].as_array().unwrap().len(), 2);
    let run_dir = Path::new(submitted["run_dir"].as_str().unwrap());
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("result.json")).unwrap())
            .unwrap();
    assert_eq!(result["result"], submitted["result"]);
    assert!(run_dir.join("logs").read_dir().unwrap().count() >= 5);
}

#[test]
fn wait_on_a_submitted_run_shows_slices_done_then_gathers_the_local_bits() {
    let cluster = Cluster::start();
    let work = tempfile::tempdir().unwrap();
    let job = write_job(work.path(), "job.yaml", JOB);
    let local = run_json(&job, &["--threads", "1"]);
    let submitted = submit(&cluster, &job, &work.path().join("run"), &[]);
    let run_dir = submitted["run_dir"].as_str().unwrap();
    let output = output_of(cluster.command(env!("CARGO_BIN_EXE_hpcsub")).args([
        "wait",
        run_dir,
        "--json",
        "--progress",
        "json",
    ]));
    let waited = success_json(&output);
    assert_eq!(waited["result"].to_string(), local["result"].to_string());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last: Value = serde_json::from_str(stderr.lines().last().expect("progress lines")).unwrap();
    assert_eq!(
        (
            &last["progress"]["unit"],
            &last["progress"]["done"],
            &last["progress"]["total"]
        ),
        (&Value::from("slices"), &Value::from(5), &Value::from(5)),
        "{stderr}"
    );
}

#[test]
fn a_cancelled_slice_is_reported_missing_and_resubmit_completes_the_run() {
    let cluster = Cluster::start();
    let work = tempfile::tempdir().unwrap();
    let job = job_taking_every_cpu(work.path(), "40M");
    let submitted = submit(&cluster, &job, &work.path().join("run"), &[]);
    let array = submitted["job_ids"][0].as_str().unwrap().to_string();
    let run_dir = PathBuf::from(submitted["run_dir"].as_str().unwrap());
    let cancelled = output_of(cluster.command("scancel").arg(format!("{array}_4")));
    assert!(
        cancelled.status.success(),
        "{}",
        String::from_utf8_lossy(&cancelled.stderr)
    );

    let started = Instant::now();
    loop {
        let queue = output_of(cluster.command("squeue").args(["-h", "-o", "%i"]));
        if String::from_utf8_lossy(&queue.stdout).trim().is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "the run never left the queue"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        !run_dir.join("result.json").exists(),
        "the gather ran although a slice was cancelled"
    );
    let gathered = output_of(hpcsub().args(["gather", "--json"]).arg(&run_dir));
    assert_eq!(gathered.status.code(), Some(3));
    assert_eq!(one_json(&gathered)["missing"], serde_json::json!([4]));

    let resubmitted = success_json(&output_of(
        cluster
            .command(env!("CARGO_BIN_EXE_hpcsub"))
            .args(["resubmit", "--wait", "--json"])
            .arg(&run_dir),
    ));
    let local = run_json(&job, &["--threads", "1"]);
    assert_eq!(
        resubmitted["result"].to_string(),
        local["result"].to_string()
    );
    assert!(run_dir.join("result.json").exists());
}

#[test]
fn status_shows_a_queued_run_and_cancel_ends_it() {
    let cluster = Cluster::start();
    let work = tempfile::tempdir().unwrap();
    let job = job_taking_every_cpu(work.path(), "2e9");
    let submitted = submit(&cluster, &job, &work.path().join("run"), &[]);
    let run_dir = PathBuf::from(submitted["run_dir"].as_str().unwrap());
    let hpcsub_on = |args: &[&str]| {
        output_of(
            cluster
                .command(env!("CARGO_BIN_EXE_hpcsub"))
                .args(args)
                .arg(&run_dir),
        )
    };
    let status = one_json(&hpcsub_on(&["status", "--json"]));
    assert_eq!(status["slices"], 5);
    assert_eq!(status["result"], "absent");
    let queued = |status: &Value| -> u64 {
        let slices = status["running"].as_u64().unwrap() + status["pending"].as_u64().unwrap();
        let gathers: u64 = status["gather_queued"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum();
        slices + gathers
    };
    assert_eq!(
        queued(&status),
        6,
        "5 array elements and the gather: {status}"
    );

    let cancelled = hpcsub_on(&["cancel"]);
    assert!(
        cancelled.status.success(),
        "{}",
        String::from_utf8_lossy(&cancelled.stderr)
    );
    let started = Instant::now();
    while queued(&one_json(&hpcsub_on(&["status", "--json"]))) > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "cancel left jobs in the queue"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let gathered = output_of(hpcsub().args(["gather", "--json"]).arg(&run_dir));
    assert_eq!(gathered.status.code(), Some(3));
    assert!(
        !one_json(&gathered)["missing"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// Slurm caps the array index at MaxArraySize - 1: 5 slices under MaxArraySize=3 go as two arrays
/// (indices 0-2 and 0-1, the second offset by 3), and the gather waits for both.
#[test]
fn an_array_larger_than_max_array_size_is_split() {
    let cluster = Cluster::start_with_max_array_size(3);
    let work = tempfile::tempdir().unwrap();
    let job = write_job(work.path(), "job.yaml", JOB);
    let submitted = submit(&cluster, &job, &work.path().join("run"), &["--wait"]);
    assert_eq!(
        submitted["job_ids"].as_array().unwrap().len(),
        3,
        "{submitted}"
    );
    let local = run_json(&job, &["--threads", "1"]);
    assert_eq!(submitted["result"].to_string(), local["result"].to_string());
}

/// A task job on the cluster: tasks run in the directory the job was submitted from, a failed
/// task is reported by the gather, and `resubmit` runs only its slice's failed tasks again.
#[test]
fn task_jobs_fail_honestly_and_resubmit_reruns_the_failed_tasks() {
    let cluster = Cluster::start();
    let work = tempfile::tempdir().unwrap();
    write_job(
        work.path(),
        "work.sh",
        "if [ \"$1\" = 2 ] && [ ! -e fixed ]; then echo 'not fixed yet' >&2; exit 5; fi\necho $(( $1 * $1 ))\n",
    );
    write_job(
        work.path(),
        "tasks.yaml",
        "name: squares\ntasks:\n  count: 8\n  command: [\"sh\", \"work.sh\", \"{task}\"]\nreduce: [sum, max]\nsplit: {ranks: 3, threads: 2}\n",
    );
    let submitted = output_of(
        cluster
            .command(env!("CARGO_BIN_EXE_hpcsub"))
            .current_dir(work.path())
            .args(["submit", "tasks.yaml", "--to", "slurm", "--wait", "--json"]),
    );
    assert_eq!(
        submitted.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&submitted.stderr)
    );
    let failed_run = one_json(&submitted);
    assert_eq!(
        failed_run["result"],
        serde_json::json!({"count": 7, "sum": 136, "max": 49})
    );
    assert_eq!(failed_run["failed"][0]["task"], 2);
    let log = std::fs::read_to_string(failed_run["failed"][0]["log"].as_str().unwrap()).unwrap();
    assert!(log.contains("not fixed yet"), "{log}");
    let run_dir = PathBuf::from(failed_run["run_dir"].as_str().unwrap());
    assert!(!run_dir.join("result.json").exists());

    std::fs::write(work.path().join("fixed"), "").unwrap();
    let resubmitted = output_of(
        cluster
            .command(env!("CARGO_BIN_EXE_hpcsub"))
            .args(["resubmit", "--wait", "--json"])
            .arg(&run_dir),
    );
    assert!(
        resubmitted.status.success(),
        "{}",
        String::from_utf8_lossy(&resubmitted.stderr)
    );
    let local = output_of(hpcsub().current_dir(work.path()).args([
        "run",
        "tasks.yaml",
        "--json",
        "--quiet",
    ]));
    assert_eq!(one_json(&resubmitted)["result"], one_json(&local)["result"]);
    // Only task 2 ran again: the slice that ran it kept its other tasks' single attempt.
    let records = std::fs::read_to_string(run_dir.join("tasks.jsonl")).unwrap();
    let records: Vec<Value> = records
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 8);
    assert!(records.iter().all(|r| r["attempts"] == 1), "{records:?}");
    assert!(run_dir.join("result.json").exists());
}

/// An uneven task job: task `t` sleeps 0.4 s when even, 0.04 s when odd, appends its id to
/// `ran` once it has its result, and prints `t / 10`.
fn uneven_job(dir: &Path, balance: &str) -> PathBuf {
    write_job(
        dir,
        &format!("uneven-{balance}.yaml"),
        &format!(
            "name: uneven\ntasks:\n  count: 40\n  command: [\"python3\", \"-c\", \"import sys, time; t = int(sys.argv[1]); time.sleep(0.4 if t % 2 == 0 else 0.04); open('ran', 'a').write(str(t) + '\\\\n'); print(t / 10)\", \"{{task}}\"]\n  result: number\nreduce: [sum, mean, std]\nsplit:\n  slices: 2\n  threads: 1\n  balance: {balance}\n"
        ),
    )
}

/// The task records of a gathered run, by task id.
fn task_records(run_dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(run_dir.join("tasks.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn slices_claim_tasks_as_they_go_and_one_left_alone_finishes_a_cancelled_ones_tasks() {
    let cluster = Cluster::start();
    let work = tempfile::tempdir().unwrap();
    let job = uneven_job(work.path(), "dynamic");
    let submitted = submit(&cluster, &job, &work.path().join("run"), &[]);
    let array = submitted["job_ids"][0].as_str().unwrap().to_string();
    let run_dir = PathBuf::from(submitted["run_dir"].as_str().unwrap());

    // Cancel slice 1 midway: once it has finished a few tasks, long before the run is over.
    let journal = run_dir.join("parts/1.journal");
    let started = Instant::now();
    while std::fs::read_to_string(&journal).map_or(0, |j| j.lines().count()) < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "slice 1 never finished 3 tasks"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let cancelled = output_of(cluster.command("scancel").arg(format!("{array}_1")));
    assert!(cancelled.status.success());
    loop {
        let queue = output_of(cluster.command("squeue").args(["-h", "-o", "%i"]));
        if String::from_utf8_lossy(&queue.stdout).trim().is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "the run never left the queue"
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // The gather job found every task, from slice 0's part (what slice 1 finished before it
    // was cancelled is adopted from its journal, and keeps its record).
    let (code, gathered) = gather_json(&run_dir);
    assert_eq!(code, Some(0), "{gathered}");
    let records = task_records(&run_dir);
    let ids: Vec<u64> = records
        .iter()
        .map(|r| r["task"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, (0..40).collect::<Vec<_>>());
    let by_one = records.iter().filter(|r| r["slice"] == 1).count();
    assert!((3..40).contains(&by_one), "slice 1 ran {by_one} tasks");
    let mut ran: Vec<u64> = std::fs::read_to_string(work.path().join("ran"))
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    ran.sort_unstable();
    assert_eq!(
        ran,
        (0..40).collect::<Vec<_>>(),
        "a task ran twice or never"
    );
    let claims_log = std::fs::read_to_string(run_dir.join(format!("logs/{array}_0.out"))).unwrap();
    assert!(
        claims_log.contains("of slice 1, which is gone"),
        "{claims_log}"
    );

    let status = success_json(&output_of(
        cluster
            .command(env!("CARGO_BIN_EXE_hpcsub"))
            .args(["status", "--json"])
            .arg(&run_dir),
    ));
    assert_eq!(status["result"], "current", "{status}");
    assert_eq!(status["tasks"]["balance"], "dynamic");
    assert_eq!(status["tasks"]["finished"], 40, "{status}");
    assert_eq!(
        status["tasks"]["by_slice"],
        serde_json::json!([[40, 40], [0, 0]]),
        "slice 0 owns every batch, slice 1's taken over"
    );

    // The same bits as one thread here, and as a static split.
    let local = run_json(&job, &["--threads", "1"]);
    assert_eq!(gathered["result"].to_string(), local["result"].to_string());
    let fixed = uneven_job(work.path(), "static");
    let static_run = success_json(&output_of(
        cluster
            .command(env!("CARGO_BIN_EXE_hpcsub"))
            .args(["submit", "--to", "slurm", "--wait", "--json", "--run-dir"])
            .arg(work.path().join("static"))
            .arg(&fixed),
    ));
    assert_eq!(
        static_run["result"].to_string(),
        local["result"].to_string()
    );
    let static_records = task_records(Path::new(static_run["run_dir"].as_str().unwrap()));
    assert!(
        static_records
            .iter()
            .all(|r| r["slice"].as_u64() == r["task"].as_u64().map(|t| t % 2)),
        "a static slice ran another's task"
    );
}

/// `--mode mpi`: one job of `ranks` tasks under `srun --mpi=pmix` (the MPI build); the ranks
/// reduce with MPI and rank 0 writes result.json, with the bits of a local run.
#[test]
fn mpi_mode_runs_one_srun_job_with_the_bits_of_a_local_run() {
    let cluster = Cluster::start();
    let work = tempfile::tempdir().unwrap();
    let job = write_job(
        work.path(),
        "job.yaml",
        &JOB.replace("ranks: 5", "ranks: 2"),
    );
    let submitted = success_json(&output_of(
        cluster
            .command(mpi_binary())
            .args([
                "submit", "--to", "slurm", "--mode", "mpi", "--wait", "--json",
            ])
            .arg("--run-dir")
            .arg(work.path().join("run"))
            .arg(&job),
    ));
    assert_eq!(submitted["ranks"], 2, "MPI mode: one job of 2 ranks");
    assert_eq!(submitted["job_ids"].as_array().unwrap().len(), 1);
    let local = run_json(&job, &["--threads", "1"]);
    assert_eq!(submitted["result"].to_string(), local["result"].to_string());
    let script = std::fs::read_to_string(work.path().join("run/job.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --ntasks=2"), "{script}");
    assert!(script.contains("srun --mpi=pmix "), "{script}");
    let gathered = one_json(&output_of(
        hpcsub()
            .args(["gather", "--json"])
            .arg(work.path().join("run")),
    ));
    assert_eq!(gathered["result"], submitted["result"]);
}

#[test]
fn task_jobs_over_files_and_lines_as_an_array_give_the_exact_sums() {
    let cluster = Cluster::start();
    let work = tempfile::tempdir().unwrap();
    let (job, expected) = input_job(work.path());
    // Statically balanced, so each slice's share is known in advance.
    let text = std::fs::read_to_string(&job).unwrap();
    std::fs::write(
        &job,
        text.replace("threads: 2}", "threads: 2, balance: static}"),
    )
    .unwrap();
    let submitted = submit(&cluster, &job, &work.path().join("run"), &["--wait"]);
    assert_eq!(submitted["result"], expected, "{submitted}");
    assert_eq!(submitted["slices"], 2);
    let run_dir = Path::new(submitted["run_dir"].as_str().unwrap());
    let lines = std::fs::read_to_string(run_dir.join("tasks.jsonl")).unwrap();
    let records: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 6);
    // Each record names the slice that ran it and that slice's node (this machine).
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let mut slices: Vec<u64> = records
        .iter()
        .map(|r| {
            assert_eq!(r["node"], host.trim(), "{r}");
            r["slice"].as_u64().unwrap()
        })
        .collect();
    slices.sort();
    slices.dedup();
    assert_eq!(slices, [0, 1]);
    let status = |run_dir: &Path| {
        one_json(&output_of(
            cluster
                .command(env!("CARGO_BIN_EXE_hpcsub"))
                .args(["status", "--json"])
                .arg(run_dir),
        ))["tasks"]
            .clone()
    };
    assert_eq!(
        status(run_dir),
        serde_json::json!({"total": 6, "finished": 6, "balance": "static", "by_slice": [[3, 3], [3, 3]]})
    );
    // A slice stopped midway has no part: its journal says how far it got (a torn last line
    // is not a finished task).
    let part = run_dir.join("parts/1.json");
    let outcomes: Value = serde_json::from_str(&std::fs::read_to_string(&part).unwrap()).unwrap();
    let journal: String = outcomes["tasks"].as_array().unwrap()[..2]
        .iter()
        .map(|o| format!("{o}\n"))
        .collect();
    std::fs::write(
        run_dir.join("parts/1.journal"),
        journal + "{\"task\": 5, \"at",
    )
    .unwrap();
    std::fs::remove_file(&part).unwrap();
    assert_eq!(
        status(run_dir)["by_slice"],
        serde_json::json!([[3, 3], [2, 3]])
    );
}

#[test]
fn every_slice_sets_up_the_environment_before_its_tasks() {
    let cluster = Cluster::start();
    let work = tempfile::tempdir().unwrap();
    let job = environment_job(work.path());
    let submitted = success_json(&output_of(
        cluster
            .command(env!("CARGO_BIN_EXE_hpcsub"))
            .args(["submit", "--to", "slurm", "--wait", "--json", "--run-dir"])
            .arg(work.path().join("run"))
            .arg(&job)
            .env("MODULEPATH", test_modules()),
    ));
    assert_eq!(submitted["result"]["sum"], 4, "{submitted}");
    let run_dir = Path::new(submitted["run_dir"].as_str().unwrap());
    assert!(run_dir.join("logs/setup_1.err").exists());
}

#[test]
fn a_workflow_is_queued_as_one_graph_and_resubmit_completes_it_after_a_failed_step() {
    let cluster = Cluster::start();
    let work = tempfile::tempdir().unwrap();
    let job = diamond_job(work.path());
    let local = local_workflow(&job, &work.path().join("local"));
    std::fs::write(work.path().join("broken"), "").unwrap();
    let output_on = |args: &[&str]| -> Output {
        output_of(
            cluster
                .command(env!("CARGO_BIN_EXE_hpcsub"))
                .args(args)
                .arg("--json")
                .current_dir(work.path()),
        )
    };
    let on = |args: &[&str]| -> Value { one_json(&output_on(args)) };
    let run_dir = work.path().join("run");
    let run = run_dir.to_str().unwrap();
    let submitted = output_on(&[
        "submit",
        "--to",
        "slurm",
        "--wait",
        "--progress",
        "json",
        "--run-dir",
        run,
        job.to_str().unwrap(),
    ]);
    let failed = one_json(&submitted);
    // Waiting shows every step's slices on lines of its own, as they run.
    let mut last_of_step = std::collections::BTreeMap::new();
    for line in String::from_utf8_lossy(&submitted.stderr).lines() {
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let progress = value["progress"].clone();
        if progress["unit"] == "slices" {
            last_of_step.insert(progress["step"].as_str().unwrap().to_string(), progress);
        }
    }
    assert_eq!(
        last_of_step.keys().collect::<Vec<_>>(),
        ["bottom", "left", "right", "top"],
        "{}",
        String::from_utf8_lossy(&submitted.stderr)
    );
    assert_eq!(last_of_step["top"]["done"], 2);
    assert_eq!(last_of_step["left"]["failed"], 1);
    assert_eq!(
        statuses(&failed),
        [
            ("top", "ran"),
            ("left", "failed"),
            ("right", "ran"),
            ("bottom", "skipped")
        ]
    );
    assert_eq!(failed["error"]["kind"], "failed");
    let status = on(&["status", run]);
    assert_eq!(status["steps"][1]["failed"], 1);
    assert_eq!(status["steps"][3]["missing"], 1);
    // A dry run lists the failed step and the step after it, which needs it.
    let dry = on(&["resubmit", "--dry-run", run]);
    let listed: Vec<&str> = dry["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["left", "bottom"], "{dry}");
    std::fs::remove_file(work.path().join("broken")).unwrap();
    let completed = on(&["resubmit", "--wait", run]);
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
    // Only the failed step and the one after it were submitted again.
    assert_eq!(diamond_submissions(&run_dir), [1, 2, 1, 2]);
}

#[test]
fn a_slice_past_its_time_limit_is_reported_as_a_timeout() {
    let cluster = Cluster::start();
    let work = tempfile::tempdir().unwrap();
    let job = write_job(
        work.path(),
        "slow.yaml",
        "name: slow\ntasks:\n  params: {seconds: ['0', '300']}\n  command: [sleep, '{seconds}']\nsplit: {slices: 2}\nresources: {time: 1m}\n",
    );
    let output = output_of(
        cluster
            .command(env!("CARGO_BIN_EXE_hpcsub"))
            .args(["submit", "--to", "slurm", "--wait", "--json", "--run-dir"])
            .arg(work.path().join("run"))
            .arg(&job),
    );
    assert_eq!(output.status.code(), Some(3));
    let report = one_json(&output);
    // The slice that claimed the long task (whichever started first may take both).
    assert_eq!(report["missing"].as_array().unwrap().len(), 1, "{report}");
    let problem = report["problems"][0]["problem"].as_str().unwrap();
    assert!(problem.contains("TIMEOUT"), "{report}");
    // `status` says the same (the log parser is tested on captured output).
    let status = one_json(&output_of(
        cluster
            .command(env!("CARGO_BIN_EXE_hpcsub"))
            .args(["status", "--json"])
            .arg(work.path().join("run")),
    ));
    let reason = status["problems"][0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("TIMEOUT"), "{status}");
}

#[test]
fn a_requeued_slice_resumes_from_its_checkpoint_to_the_bits_of_a_local_run() {
    let cluster = Cluster::start();
    let work = tempfile::tempdir().unwrap();
    let job = long_slice(work.path());
    let local = run_json(&job, &[]);
    let run_dir = work.path().join("run");
    let submitted = submit(&cluster, &job, &run_dir, &[]);
    let array = submitted["job_ids"][0].as_str().unwrap().to_string();
    let run_dir = Path::new(submitted["run_dir"].as_str().unwrap()).to_path_buf();
    let started = Instant::now();
    while !run_dir.join("parts/0.ckpt").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no checkpoint was written"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let scontrol = |args: &[&str]| {
        let status = cluster.command("scontrol").args(args).status().unwrap();
        assert!(status.success(), "scontrol {args:?}");
    };
    let element = format!("{array}_0");
    scontrol(&["requeue", &element]);
    // The private cluster lets a requeued job start again after 10 s (`cred_expire`).
    let on = |args: &[&str]| -> Value {
        one_json(&output_of(
            cluster
                .command(env!("CARGO_BIN_EXE_hpcsub"))
                .args(args)
                .arg("--json")
                .arg(&run_dir),
        ))
    };
    let started = Instant::now();
    loop {
        let status = on(&["status"]);
        if status["result"] == "current" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the run did not finish: {status}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(on(&["gather"])["result"], local["result"]);
    let logs: String = std::fs::read_dir(run_dir.join("logs"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(logs.contains("stopped by signal 15"), "{logs}");
    assert!(
        logs.contains("resumed from its checkpoint at block"),
        "{logs}"
    );
}

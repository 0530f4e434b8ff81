//! Hostile input and leftovers: deep chains, endless files, foreign part files, a byte-order
//! mark, and processes that try to outlive their task.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::Value;

#[test]
fn a_chain_of_ten_thousand_vars_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut text =
        String::from("name: chain\ncompute:\n  samples: 1000\n  vars:\n    v0: uniform(0, 1)\n");
    for i in 1..10_000 {
        text.push_str(&format!("    v{i}: v{} + 1\n", i - 1));
    }
    text.push_str("  expr: v9999\n");
    let job = write_job(dir.path(), "chain.yaml", &text);
    let out = run_json(&job, &["--threads", "1"]);
    let mean = out["result"]["mean"].as_f64().unwrap();
    assert!((mean - 9999.5).abs() < 0.1, "{mean}");
    let graph = output_of(hpcsub().arg("graph").arg(&job));
    assert!(graph.status.success());
}

#[test]
fn endless_files_are_refused_promptly() {
    let started = Instant::now();
    let output = output_of(hpcsub().args(["check", "/dev/zero"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("larger than"));
    assert!(started.elapsed() < Duration::from_secs(10));

    let dir = tempfile::tempdir().unwrap();
    let job = write_job(
        dir.path(),
        "job.yaml",
        "name: zero\ncompute:\n  samples: 10000\n  expr: 1\nsplit: {slices: 2}\n",
    );
    let run_dir = dry_run_slurm(&job, &dir.path().join("run"));
    std::os::unix::fs::symlink("/dev/zero", run_dir.join("parts/1.json")).unwrap();
    let started = Instant::now();
    let (code, report) = gather_json(&run_dir);
    assert_eq!(code, Some(3));
    assert!(started.elapsed() < Duration::from_secs(10));
    let problem = report["problems"][1]["problem"].as_str().unwrap();
    assert!(problem.contains("not a regular file"), "{report}");
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_first_key() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(
        dir.path(),
        "bom.yaml",
        "\u{feff}name: bom\ncompute:\n  samples: 10\n  expr: 1\n",
    );
    assert_eq!(run_json(&job, &[])["job"], "bom");
}

/// Whether any process runs with `marker` in its command line.
fn running(marker: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline")).is_ok_and(|c| {
            String::from_utf8_lossy(&c)
                .replace('\0', " ")
                .contains(marker)
        })
    })
}

#[test]
fn processes_that_leave_their_tasks_group_end_with_the_task() {
    let dir = tempfile::tempdir().unwrap();
    // A task that times out with a grandchild in a session of its own, and one that ends at
    // once leaving one behind.
    let job = write_job(
        dir.path(),
        "leak.yaml",
        "name: leak\ntasks:\n  params: {wait: ['30', '0']}\n  command: [sh, -c, 'setsid sleep 231.{wait} > /dev/null 2>&1 & sleep $0', '{wait}']\n  timeout: 1s\n",
    );
    let out = run_output(&job, &[]);
    let report: Value = one_json(&out);
    assert_eq!(
        report["failed"][0]["reason"]
            .as_str()
            .unwrap()
            .split(';')
            .next(),
        Some("timed out after 1s")
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !running("sleep 231.30"),
        "the timed-out task's grandchild is left"
    );
    assert!(
        !running("sleep 231.0"),
        "the finished task's grandchild is left"
    );
}

#[test]
fn ctrl_c_ends_the_tasks_and_what_they_started() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(
        dir.path(),
        "interrupted.yaml",
        "name: interrupted\ntasks:\n  count: 1\n  command: [sh, -c, 'setsid sleep 232.5 > /dev/null 2>&1 & sleep 60']\n",
    );
    let mut child = hpcsub()
        .arg("run")
        .arg(&job)
        .arg("-q")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !running("sleep 232.5") {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the task did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill() has no memory-safety preconditions.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!running("sleep 232.5"));
}

#[test]
fn a_run_of_years_is_estimated_and_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(
        dir.path(),
        "years.yaml",
        "name: years\ncompute:\n  samples: 1e18\n  vars:\n    x: uniform(0, 1)\n  expr: sqrt(x)\n",
    );
    let plan = success_json(&output_of(hpcsub().args(["check", "--json"]).arg(&job)));
    assert!(
        plan["estimated_s"].as_f64().unwrap() > 86_400.0 * 365.0,
        "{plan}"
    );
    let mut child = hpcsub()
        .arg("run")
        .arg(&job)
        .arg("-q")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stderr.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        line.starts_with("warning: 1000000000000000000 samples will take about"),
        "{line}"
    );
    assert!(line.contains("days"), "{line}");
}

/// Runs slice 0 of `run_dir` and sends `signal` once a checkpoint exists; its exit code.
fn interrupted_slice(run_dir: &Path, signal: i32) -> Option<i32> {
    let mut child = hpcsub()
        .args(["slice", "--index", "0", "-q"])
        .arg(run_dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !run_dir.join("parts/0.ckpt").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no checkpoint was written"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill() has no memory-safety preconditions.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
    child.wait().unwrap().code()
}

#[test]
fn a_stopped_or_killed_slice_resumes_from_its_checkpoint_to_the_bits_of_a_local_run() {
    let dir = tempfile::tempdir().unwrap();
    let job = long_slice(dir.path());
    let local = run_json(&job, &[]);
    for (signal, code) in [(libc::SIGTERM, Some(85)), (libc::SIGKILL, None)] {
        let run_dir = dry_run_slurm(&job, &dir.path().join(format!("run-{signal}")));
        assert_eq!(interrupted_slice(&run_dir, signal), code, "signal {signal}");
        assert!(!run_dir.join("parts/0.json").exists());
        let resumed = success_json(&output_of(
            hpcsub()
                .args(["slice", "--index", "0", "--json"])
                .arg(&run_dir),
        ));
        assert!(
            resumed["resumed_at_block"].as_u64().unwrap() > 0,
            "{resumed}"
        );
        let (code, gathered) = gather_json(&run_dir);
        assert_eq!(code, Some(0), "{gathered}");
        assert_eq!(gathered["result"], local["result"], "signal {signal}");
        assert!(!run_dir.join("parts/0.ckpt").exists());
    }
}

/// Killed or stopped by SIGTERM (Slurm's time limit, a preemption), a task slice records only
/// the tasks that finished: those it was running die with it, and are not failures.
#[test]
fn a_task_slice_stopped_midway_reruns_only_its_unfinished_tasks() {
    for signal in [libc::SIGKILL, libc::SIGTERM] {
        let dir = tempfile::tempdir().unwrap();
        let counter = dir.path().join("runs.txt");
        let slow = dir.path().join("slow");
        std::fs::write(&slow, "").unwrap();
        // Tasks 3 to 5 take long while `slow` exists: the slice is stopped with them running.
        let job = write_job(
            dir.path(),
            "tasks.yaml",
            &format!(
                "name: journal\ntasks:\n  count: 6\n  command: [sh, -c, 'echo {{task}} >> {}; if [ {{task}} -ge 3 ] && [ -e {} ]; then echo $$ > {}/pid-{{task}}; exec sleep 20; fi; echo {{task}}']\nreduce: [sum]\nsplit: {{slices: 1, threads: 6}}\n",
                counter.display(),
                slow.display(),
                dir.path().display()
            ),
        );
        let run_dir = dry_run_slurm(&job, &dir.path().join("run"));
        let mut child = hpcsub()
            .args(["slice", "--index", "0", "-q"])
            .arg(&run_dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let journal = run_dir.join("parts/0.journal");
        let started = Instant::now();
        let journaled = || std::fs::read_to_string(&journal).map_or(0, |j| j.lines().count());
        let pid = |task: u64| std::fs::read_to_string(dir.path().join(format!("pid-{task}")));
        while journaled() < 3 || (3..6).any(|task| pid(task).map_or(true, |p| !p.ends_with('\n'))) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no task was journaled"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        if signal == libc::SIGTERM {
            // As Slurm's time limit does: the tasks get the signal too, a moment before the
            // slice does.
            for task in 3..6 {
                let task_pid: i32 = pid(task).unwrap().trim().parse().unwrap();
                // SAFETY: kill() has no memory-safety preconditions.
                unsafe {
                    libc::kill(task_pid, signal);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: kill() has no memory-safety preconditions.
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
        let _ = child.wait();
        let lines = std::fs::read_to_string(&journal).unwrap();
        assert_eq!(lines.lines().count(), 3, "signal {signal}: {lines}");
        assert!(!lines.contains("failure\":\""), "signal {signal}: {lines}");
        std::fs::remove_file(&slow).unwrap();
        let output = output_of(hpcsub().args(["slice", "--index", "0"]).arg(&run_dir));
        assert!(output.status.success(), "{output:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("3 tasks finished before this start")
        );
        let mut runs: Vec<u64> = std::fs::read_to_string(&counter)
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        runs.sort_unstable();
        assert_eq!(runs, [0, 1, 2, 3, 3, 4, 4, 5, 5], "tasks 0 to 2 ran once");
        let (code, gathered) = gather_json(&run_dir);
        assert_eq!(code, Some(0), "{gathered}");
        assert_eq!(gathered["result"]["sum"], 15);
        assert!(!journal.exists());
    }
}

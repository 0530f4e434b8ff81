//! `hpcsub run`: statistically correct, identical bits for every thread count, bounded memory.

use crate::common::*;
use serde_json::Value;

/// The quadratic kernel's exact mean and standard deviation (by numerical integration).
const QUADRATIC_MEAN: f64 = -9.3758e-6;
const QUADRATIC_STD: f64 = 4.0826e-3;

#[test]
fn quadratic_gives_the_exact_values_within_statistical_error() {
    let samples = 4_000_000.0;
    let out = run_json(&repo_path("jobs/quadratic.yaml"), &["--samples", "4M"]);
    let result = &out["result"];
    assert_eq!(result["count"], 4_000_000);
    let standard_error = QUADRATIC_STD / f64::sqrt(samples);
    assert_close(
        "mean",
        result["mean"].as_f64().unwrap(),
        QUADRATIC_MEAN,
        standard_error,
        4.0,
    );
    let std_error = QUADRATIC_STD / f64::sqrt(2.0 * samples);
    assert_close(
        "std",
        result["std"].as_f64().unwrap(),
        QUADRATIC_STD,
        std_error,
        4.0,
    );
    assert!(result["min"].as_f64().unwrap() < result["max"].as_f64().unwrap());
}

#[test]
fn json_has_the_documented_shape() {
    let out = run_json(
        &repo_path("jobs/quadratic.yaml"),
        &["--samples", "1000", "--threads", "2"],
    );
    let keys: Vec<&str> = out
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "job",
            "samples",
            "seed",
            "ranks",
            "threads",
            "result",
            "elapsed_s"
        ]
    );
    assert_eq!(out["job"], "quadratic");
    assert_eq!(out["samples"], 1000);
    assert_eq!(out["seed"], 42);
    assert_eq!(out["ranks"], 1);
    assert_eq!(out["threads"], 2);
    let result_keys: Vec<&str> = out["result"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(result_keys, ["count", "mean", "sem", "std", "min", "max"]);
}

const MANY_KINDS: &str = "name: kinds
seed: 123
compute:
  samples: 30001
  vars:
    u: uniform(-1, 2)
    n: normal(3, 2)
    x: exponential(4)
    i: index()
    d: where(u > 0, n * x, sqrt(abs(n)) - log(x + 1e-9))
  expr: d + sin(i / 1000) * atan2(u, n) + min(u, x)^2 - (n >= 3)
reduce: [count, sum, mean, var, std, min, max, {histogram: {bins: 13, range: [-5, 5]}}]
";

#[test]
fn every_thread_count_gives_the_same_bits() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(dir.path(), "kinds.yaml", MANY_KINDS);
    let reference = run_json(&job, &["--threads", "1"]);
    for threads in ["2", "3", "7"] {
        let other = run_json(&job, &["--threads", threads]);
        assert_eq!(
            reference["result"].to_string(),
            other["result"].to_string(),
            "threads {threads}"
        );
        assert_eq!(
            reference["histogram"].to_string(),
            other["histogram"].to_string()
        );
    }
}

/// Only arithmetic, square roots and uniforms: what the native path compiles to machine code.
/// The square root of negative numbers sends some blocks through the careful pass.
const ARITHMETIC: &str = "name: arithmetic
seed: 7
compute:
  samples: 30001
  vars:
    a: uniform(-1, 2)
    b: uniform(0.5, 3)
    i: index()
  expr: (-b + sqrt(a*b - 0.5)) / (2*a) + abs(a) * i * 1e-5
reduce: [count, sum, mean, var, std, min, max]
";

#[test]
fn every_code_path_gives_the_same_bits() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [("kinds.yaml", MANY_KINDS), ("arithmetic.yaml", ARITHMETIC)] {
        let job = write_job(dir.path(), name, text);
        let reference = run_json(&job, &["--threads", "1"]);
        for isa in ["portable", "avx2", "avx512", "native"] {
            let output = output_of(
                hpcsub()
                    .env("HPCSUB_ISA", isa)
                    .args(["run", "--json", "-q", "--threads", "2"])
                    .arg(&job),
            );
            if !output.status.success() {
                // With --json the error is the JSON on stdout.
                assert!(
                    String::from_utf8_lossy(&output.stdout).contains("does not support"),
                    "{output:?}"
                );
                continue;
            }
            let other: Value = serde_json::from_slice(&output.stdout).unwrap();
            assert_eq!(
                reference["result"].to_string(),
                other["result"].to_string(),
                "{name} on {isa}"
            );
        }
    }
}

#[test]
fn distributions_have_the_right_moments() {
    let dir = tempfile::tempdir().unwrap();
    let n = 2_000_000.0f64;
    let check = |name: &str, definition: &str, mean: f64, sd: f64| {
        let text = format!(
            "name: {name}\nseed: 5\ncompute:\n  samples: 2M\n  vars:\n    x: {definition}\n  expr: x\nreduce: [mean, std]\n"
        );
        let out = run_json(&write_job(dir.path(), "d.yaml", &text), &[]);
        let result = &out["result"];
        assert_close(
            name,
            result["mean"].as_f64().unwrap(),
            mean,
            sd / n.sqrt(),
            5.0,
        );
        let std = result["std"].as_f64().unwrap();
        assert!((std - sd).abs() < 0.01 * sd, "{name}: std {std} vs {sd}");
    };
    check("uniform", "uniform(-1, 3)", 1.0, 4.0 / 12f64.sqrt());
    check("normal", "normal(3, 2)", 3.0, 2.0);
    check("exponential", "exponential(4)", 0.25, 0.25);
}

#[test]
fn index_gives_exact_sums() {
    let dir = tempfile::tempdir().unwrap();
    let text = "name: idx\ncompute:\n  samples: 100003\n  vars:\n    i: index()\n  expr: i\nreduce: [sum, mean, min, max, var]\n";
    let job = write_job(dir.path(), "i.yaml", text);
    for threads in ["1", "3"] {
        let result = &run_json(&job, &["--threads", threads])["result"];
        let n = 100_003.0f64;
        assert_eq!(result["sum"].as_f64().unwrap(), n * (n - 1.0) / 2.0);
        assert_eq!(result["mean"].as_f64().unwrap(), (n - 1.0) / 2.0);
        assert_eq!(result["min"].as_f64().unwrap(), 0.0);
        assert_eq!(result["max"].as_f64().unwrap(), n - 1.0);
        let var = result["var"].as_f64().unwrap();
        let exact = n * (n + 1.0) / 12.0;
        assert!((var - exact).abs() / exact < 1e-14, "var {var} vs {exact}");
    }
}

#[test]
fn nan_samples_are_counted_and_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let text = "name: nan\ncompute:\n  samples: 1000\n  vars:\n    i: index()\n  expr: where(i < 10, 0/0, 1)\nreduce: [mean, sum]\n";
    let result = &run_json(&write_job(dir.path(), "n.yaml", text), &[])["result"];
    assert_eq!(result["count"], 990);
    assert_eq!(result["nan"], 10);
    assert_eq!(result["mean"], 1.0);
    assert_eq!(result["sum"], 990.0);
}

#[test]
fn overrides_take_precedence() {
    let out = run_json(
        &repo_path("jobs/pi.yaml"),
        &["--samples", "2.5k", "--seed", "9", "--threads", "1"],
    );
    assert_eq!(out["samples"], 2500);
    assert_eq!(out["seed"], 9);
    assert_eq!(out["threads"], 1);
}

#[test]
fn the_table_shows_each_statistic() {
    let output = output_of(
        hpcsub()
            .args(["run", "--samples", "100k"])
            .arg(repo_path("jobs/histogram.yaml")),
    );
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    for word in [
        "root-histogram",
        "count",
        "mean",
        "var",
        "histogram",
        "underflow",
    ] {
        assert!(text.contains(word), "{word} missing from:\n{text}");
    }
}

/// Peak resident memory of a 100M-sample run. A process's peak includes the memory of the process
/// it was started from (Linux keeps it across `exec`), and this test binary is large when many
/// tests run at once; so a small Python starts hpcsub and reads its children's peak.
#[test]
fn memory_does_not_grow_with_samples() {
    let measure = "import resource, subprocess, sys\n\
                   subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n\
                   print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)";
    let output = output_of(
        std::process::Command::new("python3")
            .args(["-c", measure, env!("CARGO_BIN_EXE_hpcsub")])
            .args(["run", "--json", "-q", "--threads", "2", "--samples", "100M"])
            .arg(repo_path("jobs/quadratic.yaml"))
            .env_remove("HPCSUB_ISA"),
    );
    assert!(output.status.success(), "{output:?}");
    let peak_kib: f64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap();
    let peak_mib = peak_kib / 1024.0;
    assert!(peak_mib < 50.0, "peak RSS {peak_mib:.1} MiB");
}

/// docs/reproduce_sample.py, written from the documented stream definition alone, must give
/// the same bits as the binary.
#[test]
fn the_documented_stream_definition_reproduces_samples() {
    let dir = tempfile::tempdir().unwrap();
    let draws = [
        ("uniform(5, 10)", ["uniform", "5", "10"].as_slice()),
        ("normal(3, 2)", &["normal", "3", "2"]),
        ("exponential(1.5)", &["exponential", "1.5"]),
    ];
    for (index, (draw, arguments)) in [0u64, 7, 8, 4095, 4097, 123_457, 129_999]
        .into_iter()
        .flat_map(|index| draws.iter().map(move |draw| (index, draw)))
    {
        // The sample alone, every other one a NaN the reduction skips: `max` is its value.
        let text = format!(
            "name: one\nseed: 42\ncompute:\n  samples: 130000\n  vars:\n    a: {draw}\n    i: index()\n  expr: where(i == {index}, a, 0/0)\nreduce: [max]\n"
        );
        let out = run_json(&write_job(dir.path(), "one.yaml", &text), &[]);
        let ours = out["result"]["max"].as_f64().unwrap();
        let python = std::process::Command::new("python3")
            .arg(repo_path("docs/reproduce_sample.py"))
            .args(["42", "a", &index.to_string()])
            .args(*arguments)
            .output()
            .expect("python3 runs");
        assert!(
            python.status.success(),
            "{}",
            String::from_utf8_lossy(&python.stderr)
        );
        let by_hand: f64 = String::from_utf8(python.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(
            ours.to_bits(),
            by_hand.to_bits(),
            "sample {index} of {draw}: {ours} vs {by_hand}"
        );
    }
}

/// Skipping statistics the job does not ask for must not change the ones it does.
#[test]
fn unrequested_statistics_do_not_change_requested_bits() {
    let dir = tempfile::tempdir().unwrap();
    let all = std::fs::read_to_string(repo_path("jobs/quadratic.yaml")).unwrap();
    let mean_only = all.replace("reduce: [mean, std, min, max]", "reduce: [mean]");
    assert_ne!(all, mean_only);
    let all = run_json(
        &write_job(dir.path(), "all.yaml", &all),
        &["--samples", "1M"],
    );
    let mean_only = run_json(
        &write_job(dir.path(), "mean.yaml", &mean_only),
        &["--samples", "1M"],
    );
    assert_eq!(all["result"]["mean"], mean_only["result"]["mean"]);
    assert_eq!(all["result"]["sem"], mean_only["result"]["sem"]);
    // count, mean and the standard error that follows every mean
    assert_eq!(mean_only["result"].as_object().unwrap().len(), 3);
}

/// Every example in `jobs/` is valid and runs (compute jobs on fewer samples), from the
/// repository root as the README shows.
#[test]
fn every_example_job_runs() {
    let mut jobs: Vec<_> = std::fs::read_dir(repo_path("jobs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    jobs.sort();
    assert!(jobs.len() >= 5, "{jobs:?}");
    for job in jobs {
        let text = std::fs::read_to_string(&job).unwrap();
        let mut command = hpcsub();
        command
            .current_dir(repo_path(""))
            .arg("run")
            .arg(&job)
            .args(["--json", "--quiet"]);
        if text.contains("\ncompute:") {
            command.args(["--samples", "100k"]);
        }
        let run_dir = tempfile::tempdir().unwrap();
        let workflow = text.contains("\nsteps:");
        if workflow {
            command.arg("--run-dir").arg(run_dir.path());
        }
        let output = output_of(&mut command);
        assert!(
            output.status.success(),
            "{}: {}",
            job.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let out = one_json(&output);
        if workflow {
            for step in out["steps"].as_array().unwrap() {
                assert_eq!(step["status"], "ran", "{}: {step}", job.display());
            }
        } else {
            assert!(
                !out["result"].as_object().unwrap().is_empty(),
                "{}",
                job.display()
            );
        }
    }
}

//! Jobs using every function of the language and every draw: compiled to machine code where
//! the CPU has AVX-512, statistically right, and the same bits on every code path and thread
//! count.

use serde_json::Value;

use crate::common::*;

/// `(expr, vars, exact mean)`: each a known integral.
const KERNELS: [(&str, &str, f64); 9] = [
    (
        "sqrt(x^2 + y^2)",
        "x: normal(0, 1)\n    y: normal(0, 1)",
        1.253_314_137_315_500_3,
    ),
    (
        "exp(-t) * sin(t)",
        "t: uniform(0, 10)",
        0.050_003_139_615_435_47,
    ),
    (
        "log(x) + atan2(y, x) + pow(x, y)",
        "x: uniform(0.5, 2)\n    y: uniform(-1, 1)",
        1.183_994_351_428_633_5,
    ),
    // E[exp(n)] = e^(1/2) and E[cos(n)] = e^(-1/2) for a standard normal n.
    (
        "exp(n) + cos(n)",
        "n: normal(0, 1)",
        1.648_721_270_700_128_2 + 0.606_530_659_712_633_4,
    ),
    // E[n^3] = mu^3 + 3 mu sd^2: negative bases with a whole exponent.
    ("n ^ 3", "n: normal(1, 1)", 4.0),
    // E[log10(z)] = -gamma / ln 10 for z ~ exponential(1).
    ("log10(z)", "z: exponential(1)", -0.250_681_578_134_852_2),
    // E[tan(u)] = -ln(cos 1) for u ~ uniform(0, 1).
    ("tan(u)", "u: uniform(0, 1)", 0.615_626_470_386_014_1),
    // E[sin(w)] for w ~ exponential(2) is 2 / (2^2 + 1); E[pow(2, -w)] = 2 / (2 + ln 2).
    (
        "sin(w) + pow(2, -w)",
        "w: exponential(2)",
        0.4 + 0.742_625_584_831_264_3,
    ),
    // Lanes outside the fast domains are patched: the same bits everywhere still.
    (
        "where(u < 0.5, log(u - 0.5) + exp(u * 2000), atan2(0, u - 1) + sin(u * 1e300))",
        "u: uniform(0, 1)",
        f64::NAN,
    ),
];

fn job_text(expr: &str, vars: &str) -> String {
    format!(
        "name: kernel\nseed: 19\ncompute:\n  samples: 100003\n  vars:\n    {vars}\n  expr: \"{expr}\"\nreduce: [mean, sem, min, max, {{histogram: {{bins: 11, range: [-3, 3]}}}}]\n"
    )
}

fn run_on(job: &std::path::Path, isa: &str, threads: &str) -> Option<Value> {
    let output = output_of(
        hpcsub()
            .env("HPCSUB_ISA", isa)
            .args(["run", "--json", "-q", "--threads", threads])
            .arg(job),
    );
    if !output.status.success() {
        // With --json the error is the JSON on stdout.
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("does not support"),
            "{output:?}"
        );
        return None;
    }
    Some(serde_json::from_slice(&output.stdout).unwrap())
}

#[test]
fn every_function_and_draw_gives_the_same_bits_on_every_path_and_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    for (expr, vars, _) in KERNELS {
        let job = write_job(dir.path(), "kernel.yaml", &job_text(expr, vars));
        let reference = run_on(&job, "portable", "1").unwrap();
        for isa in ["portable", "avx2", "avx512", "native"] {
            for threads in ["1", "2", "3"] {
                let Some(other) = run_on(&job, isa, threads) else {
                    continue;
                };
                assert_eq!(
                    reference["result"].to_string(),
                    other["result"].to_string(),
                    "{expr} on {isa} with {threads} threads"
                );
            }
        }
    }
}

#[test]
fn every_function_and_draw_gives_the_right_mean() {
    let dir = tempfile::tempdir().unwrap();
    for (expr, vars, exact) in KERNELS {
        if exact.is_nan() {
            continue;
        }
        let text = job_text(expr, vars).replace("samples: 100003", "samples: 4M");
        let out = run_json(&write_job(dir.path(), "kernel.yaml", &text), &[]);
        let result = &out["result"];
        assert_close(
            expr,
            result["mean"].as_f64().unwrap(),
            exact,
            result["sem"].as_f64().unwrap(),
            4.0,
        );
    }
}

#[test]
fn check_reports_the_native_path_for_every_function_and_draw() {
    let dir = tempfile::tempdir().unwrap();
    for (expr, vars, _) in KERNELS {
        let job = write_job(dir.path(), "kernel.yaml", &job_text(expr, vars));
        let output = output_of(hpcsub().env("HPCSUB_ISA", "native").arg("check").arg(&job));
        if !output.status.success() {
            assert!(String::from_utf8_lossy(&output.stderr).contains("does not support"));
            return; // no AVX-512 here
        }
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            text.contains("code on this machine: native: AVX-512 machine code"),
            "{expr}: {text}"
        );
    }
}

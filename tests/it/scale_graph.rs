//! `hpcsub scale` and `hpcsub graph`, driven through the binary: the table's measures, the plot
//! files, ranks through `mpirun`, and DOT that Graphviz accepts.

use std::path::Path;
use std::process::Command;

use crate::common::*;
use serde_json::Value;

const JOB: &str = "name: scaling
seed: 5
compute:
  samples: 300000
  vars:
    a: uniform(5, 10)
    b: uniform(10, 20)
    c: uniform(-0.1, 0.1)
  expr: (-b + sqrt(b^2 - 4*a*c)) / (2*a) + b^2
reduce: [mean, std, {histogram: {bins: 5, range: [0, 500]}}]
split:
  ranks: 3
";

#[test]
fn scale_reports_every_configuration_and_draws_svg_and_png() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(dir.path(), "job.yaml", JOB);
    let svg = dir.path().join("scaling.svg");
    let report = success_json(&output_of(
        hpcsub()
            .args([
                "scale",
                "--threads",
                "1,2,3",
                "--repeat",
                "2",
                "--json",
                "--plot",
            ])
            .arg(&svg)
            .arg(&job),
    ));
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for (row, threads) in rows.iter().zip([1, 2, 3]) {
        assert_eq!(row["threads"], threads);
        assert_eq!(row["times_s"].as_array().unwrap().len(), 2);
        let speedup = row["speedup"].as_f64().unwrap();
        let best = row["best_s"].as_f64().unwrap();
        let first_best = rows[0]["best_s"].as_f64().unwrap();
        assert!((speedup - first_best / best).abs() < 1e-12);
        assert!((row["efficiency"].as_f64().unwrap() - speedup / threads as f64).abs() < 1e-12);
    }
    assert_eq!(rows[0]["karp_flatt"], Value::Null);
    assert!(rows[1]["karp_flatt"].is_f64());
    assert_eq!(report["identical_results"], true);
    assert!(report["amdahl_serial_fraction"].is_f64());
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(
        report["warnings"].as_array().unwrap().is_empty(),
        cpus >= 3,
        "{report}"
    );

    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"));
    for series in [
        "ideal",
        "Amdahl fit (serial fraction",
        "1 rank x threads",
        "speed-up",
    ] {
        assert!(text.contains(series), "{series} missing from the SVG");
    }
    assert_eq!(
        text.matches("<circle").count(),
        3 + 1,
        "3 points and the legend's"
    );

    let png = dir.path().join("scaling.png");
    let table = output_of(
        hpcsub()
            .args(["scale", "--threads", "1,2", "--repeat", "1", "--plot"])
            .arg(&png)
            .arg(&job),
    );
    assert!(table.status.success());
    let stdout = String::from_utf8_lossy(&table.stdout);
    for heading in [
        "configuration",
        "speed-up",
        "efficiency",
        "Karp-Flatt",
        "1 rank x 2 threads",
    ] {
        assert!(stdout.contains(heading), "{heading} missing:\n{stdout}");
    }
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (800, 560));
}

const ONE_THREAD_ONE_AND_TWO_RANKS: [&str; 8] = [
    "scale",
    "--threads",
    "1",
    "--ranks",
    "1,2",
    "--repeat",
    "1",
    "--json",
];

#[test]
fn scale_runs_ranks_through_mpirun_with_the_mpi_build_and_says_why_not_without() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(dir.path(), "job.yaml", JOB);
    let report = success_json(&output_of(
        Command::new(mpi_binary())
            .args(ONE_THREAD_ONE_AND_TWO_RANKS)
            .arg(&job)
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
            .env("OMPI_MCA_pml", "ob1"),
    ));
    let ranks: Vec<&Value> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| &row["ranks"])
        .collect();
    assert_eq!(ranks, [1, 2]);
    assert_eq!(report["identical_results"], true, "{report}");

    let report = success_json(&output_of(
        hpcsub().args(ONE_THREAD_ONE_AND_TWO_RANKS).arg(&job),
    ));
    assert_eq!(report["rows"].as_array().unwrap().len(), 1);
    assert!(
        report["notes"][0]
            .as_str()
            .unwrap()
            .contains("skipped 2 ranks: this hpcsub was built without MPI")
    );
}

#[test]
fn scale_refuses_bad_lists() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(dir.path(), "job.yaml", JOB);
    for args in [
        ["--threads", "1,0"],
        ["--ranks", "two"],
        ["--plot", "x.pdf"],
    ] {
        let output = output_of(
            hpcsub()
                .arg("scale")
                .args(args)
                .arg(&job)
                .current_dir(dir.path()),
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// `dot -T svg` must accept `text`; the SVG.
fn render(text: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("Graphviz's dot is installed (apt-get install graphviz)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "dot refused it: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn graph(job: &Path, extra: &[&str]) -> String {
    let output = output_of(hpcsub().arg("graph").arg(job).args(extra));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn graphs_are_dot_that_graphviz_renders_with_every_variable_and_the_reduce() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(dir.path(), "job.yaml", JOB);
    let written = graph(&job, &[]);
    for expected in [
        "a ~ uniform(5, 10)",
        "b ~ uniform(10, 20)",
        "c ~ uniform(-0.1, 0.1)",
        "reduce: count, mean, sem, std, histogram(5 bins on [0, 500))",
        "exact merge of 3 slices",
    ] {
        assert!(written.contains(expected), "{expected} missing:\n{written}");
    }
    assert_eq!(written.matches("label=\"^\"").count(), 1, "b^2 is one node");
    assert!(render(&written).contains("<svg"));

    let optimized = graph(&job, &["--optimized"]);
    assert!(optimized.contains("fused"));
    assert!(optimized.contains("stream 0"));
    render(&optimized);
    assert!(graph(&job, &["--format", "svg"]).contains("<svg"));

    let tasks = graph(&repo_path("jobs/sweep.yaml"), &[]);
    assert!(tasks.contains("command (no shell)"));
    assert!(tasks.contains("reduce: count"));
    render(&tasks);

    let output = output_of(
        hpcsub()
            .args(["graph", "--format", "svg"])
            .arg(&job)
            .env("PATH", "/nonexistent"),
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("apt-get install graphviz"));
}

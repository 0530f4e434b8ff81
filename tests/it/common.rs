//! Helpers for the end-to-end tests: they drive the real `hpcsub` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

pub fn hpcsub() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hpcsub"));
    command.env_remove("HPCSUB_ISA");
    command
}

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Writes `text` as `name` in `dir` and returns its path.
pub fn write_job(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

pub fn output_of(command: &mut Command) -> Output {
    let output = command.output().expect("hpcsub runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "hpcsub panicked:\n{stderr}");
    output
}

/// The one JSON value a command printed on stdout (only rank 0 of an MPI job prints).
pub fn one_json(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut values = serde_json::Deserializer::from_str(&stdout).into_iter::<Value>();
    let first = values
        .next()
        .expect("one JSON value on stdout")
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&output.stderr)));
    assert!(
        values.next().is_none(),
        "more than one JSON value on stdout: {stdout}"
    );
    first
}

/// The one JSON value of a command that must have succeeded.
pub fn success_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    one_json(output)
}

/// `hpcsub gather RUN_DIR --json`: its exit code and JSON.
pub fn gather_json(run_dir: &Path) -> (Option<i32>, Value) {
    let output = output_of(hpcsub().args(["gather", "--json"]).arg(run_dir));
    (output.status.code(), one_json(&output))
}

/// `hpcsub run JOB --json --quiet EXTRA...`, whatever its exit code.
pub fn run_output(job: &Path, extra: &[&str]) -> Output {
    output_of(
        hpcsub()
            .arg("run")
            .arg(job)
            .args(["--json", "--quiet"])
            .args(extra),
    )
}

/// Runs `hpcsub run JOB --json` with extra arguments, which must succeed, and returns the
/// parsed object.
pub fn run_json(job: &Path, extra: &[&str]) -> Value {
    let output = run_output(job, extra);
    assert!(
        output.status.success(),
        "hpcsub run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    one_json(&output)
}

/// `|actual - expected| <= sigmas * standard_error`.
pub fn assert_close(name: &str, actual: f64, expected: f64, standard_error: f64, sigmas: f64) {
    assert!(
        (actual - expected).abs() <= sigmas * standard_error,
        "{name}: {actual} is not within {sigmas} standard errors ({standard_error}) of {expected}"
    );
}

/// The MPI build of hpcsub (`--features mpi`), built once into `target/mpi-tests` so that
/// `cargo test` stays the one test command.
pub fn mpi_binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let target = repo_path("target/mpi-tests");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--features", "mpi", "--bin", "hpcsub", "--target-dir"])
            .arg(&target)
            .current_dir(repo_path(""))
            .status()
            .expect("cargo runs");
        assert!(
            status.success(),
            "building hpcsub with --features mpi failed: install openmpi-bin libopenmpi-dev libclang-dev"
        );
        target.join("debug/hpcsub")
    })
}

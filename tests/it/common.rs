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

/// A task job over files and lines whose tasks print arrays and histograms, written into `dir`:
/// `data/*.txt` hold numbers (multiples of 1/8, so every sum is exact in doubles), `cuts.txt`
/// holds one cut a line. Returns the job file and the result a direct computation gives.
pub fn input_job(dir: &Path) -> (PathBuf, Value) {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let files: [&[i64]; 3] = [&[1, 2, 3, 4], &[5, 9, 13], &[0, 7, 8, 15, 16, 2]];
    for (i, eighths) in files.iter().enumerate() {
        let text: Vec<String> = eighths
            .iter()
            .map(|e| (*e as f64 / 8.0).to_string())
            .collect();
        std::fs::write(data.join(format!("f{i}.txt")), text.join("\n") + "\n").unwrap();
    }
    std::fs::write(dir.join("cuts.txt"), "# cut in eighths\n0\n\n4\n").unwrap();
    std::fs::write(
        dir.join("analyse.py"),
        r#"import json, sys
values = [float(v) for v in open(sys.argv[1]).read().split()]
cut = int(sys.argv[2]) / 8
kept = [v for v in values if v >= cut]
edges = [0, 0.5, 1, 1.5, 2, 2.5]
counts = [sum(1 for v in kept if lo <= v < hi) for lo, hi in zip(edges, edges[1:])]
print(json.dumps({"n": len(kept), "moments": [sum(kept), sum(v * v for v in kept)],
                  "h": {"edges": edges, "counts": counts}}))
"#,
    )
    .unwrap();
    let job = write_job(
        dir,
        "inputs.yaml",
        "name: inputs\ntasks:\n  files: \"data/*.txt\"\n  lines: cuts.txt\n  command: [python3, analyse.py, \"{file}\", \"{line}\"]\n  result: json\nreduce: [sum]\nsplit: {slices: 2, threads: 2}\n",
    );
    let (mut n, mut sum, mut squares) = (0i64, 0f64, 0f64);
    let mut counts = [0u64; 5];
    for eighths in files {
        for cut in [0, 4] {
            for &e in eighths.iter().filter(|&&e| e >= cut) {
                let v = e as f64 / 8.0;
                n += 1;
                sum += v;
                squares += v * v;
                if let Some(bin) = counts.get_mut((v / 0.5) as usize) {
                    *bin += 1;
                }
            }
        }
    }
    let expected = serde_json::json!({
        "n": {"count": 6, "sum": n},
        "moments": {"count": 6, "sum": [sum, squares]},
        "h": {"count": 6, "edges": [0.0, 0.5, 1.0, 1.5, 2.0, 2.5], "counts": counts},
    });
    (job, expected)
}

/// The environment modules shipped for the tests (`MODULEPATH`).
pub fn test_modules() -> PathBuf {
    repo_path("tests/fixtures/modules")
}

/// A task job whose 4 tasks each print 1 only if they see what `environment:` set up: a variable
/// the setup script exports and a program the test module puts on PATH.
pub fn environment_job(dir: &Path) -> PathBuf {
    std::fs::write(
        dir.join("setup.sh"),
        "# sourced by bash before any task runs\nexport SETUP_VAR=\"from setup\"\necho 'setting up'\n",
    )
    .unwrap();
    write_job(
        dir,
        "env.yaml",
        "name: env\nenvironment:\n  modules: [hpcsub-test/1.0]\n  script: setup.sh\ntasks:\n  count: 4\n  command: [sh, -c, 'test \"$SETUP_VAR\" = \"from setup\" && test \"$HPCSUB_TEST_MODULE\" = \"loaded 1.0\" && hpcsub-test-tool']\nreduce: [sum]\nsplit: {slices: 2, threads: 2}\n",
    )
}

/// A diamond workflow written into `dir`: `top` (4 tasks), `left` (a task reading `top`'s
/// result file) and `right` (a compute step whose samples, draw and expression use `top`'s count
/// and sum: 4096 samples of 3 * 6 / 4096, exact in binary), and `bottom`, which needs both.
/// `left` fails while `dir/broken` exists. Its result: bottom's sum is 2 * (0+1+2+3) +
/// 3 * (0+1+2+3) = 30.
pub fn diamond_job(dir: &Path) -> PathBuf {
    write_job(
        dir,
        "diamond.yaml",
        r#"name: diamond
steps:
  top:
    tasks:
      count: 4
      command: [sh, -c, 'echo {task}']
      result: number
    split: {slices: 2}
  left:
    needs: [top]
    tasks:
      count: 1
      command: [python3, -c, "import json, os, sys; assert not os.path.exists('broken'), 'broken'; print(2 * json.load(open(sys.argv[1]))['result']['sum'])", "{steps.top.result}"]
      result: number
  right:
    needs: [top]
    compute:
      samples: 1024 * steps.top.count
      vars:
        u: uniform(0, steps.top.sum)
      expr: 3 * steps.top.sum / 4096 + 0 * u
    reduce: [sum, max]
  bottom:
    needs: [left, right]
    tasks:
      count: 1
      command: [python3, -c, "import json, sys; print(int(sum(json.load(open(p))['result']['sum'] for p in sys.argv[1:])))", "{steps.left.result}", "{steps.right.result}"]
      result: number
"#,
    )
}

/// The report of running the workflow `job` here, into `run_dir`.
pub fn local_workflow(job: &Path, run_dir: &Path) -> Value {
    one_json(&output_of(
        hpcsub()
            .arg("run")
            .arg(job)
            .args(["--json", "-q", "--run-dir"])
            .arg(run_dir),
    ))
}

/// Asserts that two reports of the diamond give every step the same result.
pub fn assert_same_step_results(report: &Value, local: &Value) {
    for step in 0..4 {
        assert_eq!(
            report["steps"][step]["report"]["result"], local["steps"][step]["report"]["result"],
            "step {step}"
        );
    }
}

/// How many submissions each step of the submitted diamond in `run_dir` has recorded.
pub fn diamond_submissions(run_dir: &Path) -> [usize; 4] {
    ["top", "left", "right", "bottom"].map(|step| {
        let manifest: Value = serde_json::from_str(
            &std::fs::read_to_string(run_dir.join(format!("steps/{step}/manifest.json"))).unwrap(),
        )
        .unwrap();
        manifest["submissions"].as_array().unwrap().len()
    })
}

/// The status of each step of a workflow report, by name.
pub fn statuses(report: &Value) -> Vec<(&str, &str)> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect()
}

/// `hpcsub submit JOB --to slurm --dry-run --json --run-dir RUN_DIR`: the run directory it printed.
pub fn dry_run_slurm(job: &Path, run_dir: &Path) -> PathBuf {
    let printed = success_json(&output_of(
        hpcsub()
            .args([
                "submit",
                "--to",
                "slurm",
                "--dry-run",
                "--json",
                "--run-dir",
            ])
            .arg(run_dir)
            .arg(job),
    ));
    assert_eq!(printed["job_ids"], serde_json::json!([]));
    PathBuf::from(printed["run_dir"].as_str().unwrap())
}

pub fn long_slice_text(samples: u64) -> String {
    format!(
        "name: long\nseed: 9\ncompute:\n  samples: {samples}\n  vars:\n    a: uniform(5, 10)\n    b: uniform(10, 20)\n  expr: sqrt(b^2 - 4*a) / a\nreduce: [mean, std, min, max]\nsplit: {{slices: 1, threads: 2}}\nresources: {{checkpoint: 0.5s}}\n"
    )
}

/// A compute job whose one slice takes some seconds here, saving its progress every half
/// second. Its size comes from a short run: the debug build on a CPU without AVX-512 (no
/// generated machine code) is about a thousand times slower than the release build with it.
pub fn long_slice(dir: &Path) -> PathBuf {
    const PROBE: u64 = 4 << 20;
    let probe = write_job(dir, "probe.yaml", &long_slice_text(PROBE));
    let elapsed = run_json(&probe, &[])["elapsed_s"].as_f64().unwrap();
    let samples = (PROBE as f64 * 6.0 / elapsed.max(1e-3)) as u64;
    write_job(dir, "long.yaml", &long_slice_text(samples.max(PROBE)))
}

//! The Python package: the wheel built by `python/build-wheel.sh` (maturin) from this tree,
//! installed offline into a fresh virtual environment, then its pytest suite (tests/python: the
//! API, the Executor, a real Jupyter kernel, pandas) and the lesson (docs/lesson.py) run there
//! against a private Slurm cluster and the emulated HTCondor pool.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;
use crate::slurm::Cluster;

fn checked(command: &mut Command, what: &str) -> Output {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A fresh virtual environment in `dir` with only the wheel and its one dependency
/// (cloudpickle, installed first from PyPI) installed; the wheel itself offline.
fn install_offline(dir: &Path, wheel: &Path) -> PathBuf {
    let venv = dir.join("venv");
    checked(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        "python3 -m venv (needs python3-venv)",
    );
    checked(
        Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "cloudpickle==3.1.1",
        ]),
        "pip install cloudpickle",
    );
    checked(
        Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "--quiet",
                "--no-index",
                "--disable-pip-version-check",
            ])
            .arg(wheel)
            .env_remove("PIP_FIND_LINKS"),
        "pip install --no-index WHEEL",
    );
    venv
}

#[test]
fn the_wheel_installs_offline_and_passes_the_api_tests_and_the_lesson() {
    let build = checked(
        &mut Command::new(repo_path("python/build-wheel.sh")),
        "python/build-wheel.sh (needs python3-venv and PyPI for maturin)",
    );
    let wheel = PathBuf::from(String::from_utf8_lossy(&build.stdout).trim());
    let name = wheel.file_name().unwrap().to_string_lossy().to_string();
    // The platform tag maturin gave after checking the binary's symbols (auditwheel = "check").
    assert!(
        name.starts_with(&format!(
            "hpcsub-{}-py3-none-manylinux_",
            env!("CARGO_PKG_VERSION")
        )) && name.ends_with("_x86_64.whl"),
        "{name}"
    );
    let work = tempfile::tempdir().unwrap();
    let venv = install_offline(work.path(), &wheel);
    checked(
        Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "pytest==8.3.5",
            "ipykernel==7.4.0",
            "nbclient==0.11.0",
            "nbformat==5.11.1",
            "pandas==3.1.1",
            "mypy==2.4.1",
            "numpy==2.4.6",
            "submitit==1.5.4",
        ]),
        "pip install pytest, a Jupyter kernel, pandas, mypy, numpy and submitit (the lesson's comparison)",
    );
    // The emulated HTCondor pool runs what `Executor(to="condor")` submits; it needs the
    // htcondor venvs of condor/setup.sh.
    checked(
        &mut Command::new(repo_path("condor/setup.sh")),
        "condor/setup.sh (needs python3-venv and PyPI)",
    );
    let cluster = Cluster::start();
    let python = |args: &[&str]| {
        let mut command = Command::new(venv.join("bin/python"));
        command
            .args(args)
            .current_dir(work.path())
            .env("SLURM_CONF", &cluster.conf)
            .env("HPCSUB_TEST_SLURM", "1")
            .env("HPCSUB_TEST_NOTEBOOK", "1")
            .env("HPCSUB_CARGO_BINARY", env!("CARGO_BIN_EXE_hpcsub"))
            .env("HPCSUB_TEST_CONDOR_PATH", repo_path("condor/emulated-bin"))
            .env_remove("HPCSUB_BINARY")
            .env_remove("HPCSUB_ISA");
        command
    };
    let tests = repo_path("tests/python");
    checked(
        &mut python(&[
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            tests.to_str().unwrap(),
        ]),
        "pytest tests/python",
    );
    // The installed package type-checks as its users' checkers see it (py.typed).
    checked(
        &mut python(&[
            "-m",
            "mypy",
            "--strict",
            "--ignore-missing-imports",
            "--no-incremental",
            "-p",
            "hpcsub",
        ]),
        "mypy --strict -p hpcsub",
    );
    let lesson = checked(
        &mut python(&[repo_path("docs/lesson.py").to_str().unwrap()]),
        "docs/lesson.py",
    );
    let text = String::from_utf8_lossy(&lesson.stdout);
    assert!(text.contains("same bits on every backend: yes"), "{text}");
    assert!(text.contains("slurm array of 4"), "{text}");
}

"""The API's tests run against the installed wheel (tests/it/python.rs builds it, installs it
into a fresh virtual environment and runs pytest there), never against the source tree."""

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest


@pytest.fixture
def cargo_binary() -> str:
    """The binary `cargo test` built, whose bits the wheel's must match."""
    path = os.environ.get("HPCSUB_CARGO_BINARY")
    if not path:
        pytest.skip("HPCSUB_CARGO_BINARY is not set (tests/it/python.rs sets it)")
    return path


@pytest.fixture
def slurm() -> None:
    """A Slurm cluster to submit to (tests/it/python.rs starts a private one): the tests that
    need it fail without it when HPCSUB_TEST_SLURM=1, else they are skipped."""
    reachable = shutil.which("sinfo") is not None and subprocess.run(["sinfo", "--noheader"], capture_output=True).returncode == 0
    if not reachable:
        if os.environ.get("HPCSUB_TEST_SLURM") == "1":
            pytest.fail("HPCSUB_TEST_SLURM=1 but no Slurm cluster answers (SLURM_CONF?)")
        pytest.skip("no Slurm cluster")


def alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie has ended; only its parent has not read its status)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


def wait_for_pid_files(files: list[Path], process: "subprocess.Popen[str]", seconds: float = 60) -> list[int]:
    """The pids the tasks of `process` wrote into `files`, once all have."""
    deadline = time.monotonic() + seconds
    while not all(f.exists() and f.read_text() for f in files):
        assert time.monotonic() < deadline, "the tasks never started"
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        time.sleep(0.05)
    return [int(f.read_text()) for f in files]

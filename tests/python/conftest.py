"""The API's tests run against the installed wheel (tests/it/python.rs builds it, installs it
into a fresh virtual environment and runs pytest there), never against the source tree."""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


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
    reachable = subprocess.run(["sinfo", "--noheader"], capture_output=True).returncode == 0 if _has("sinfo") else False
    if not reachable:
        if os.environ.get("HPCSUB_TEST_SLURM") == "1":
            pytest.fail("HPCSUB_TEST_SLURM=1 but no Slurm cluster answers (SLURM_CONF?)")
        pytest.skip("no Slurm cluster")


def _has(program: str) -> bool:
    from shutil import which

    return which(program) is not None

"""The API's tests run against the installed wheel (tests/it/python.rs builds it, installs it
into a fresh virtual environment and runs pytest there), never against the source tree."""

import os
import shutil
import subprocess

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

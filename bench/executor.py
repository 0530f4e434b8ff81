"""hpcsub.Executor against what its users would use instead, side by side in one run.

    python/build-wheel.sh
    python3 -m venv /tmp/hpcsub-env
    /tmp/hpcsub-env/bin/pip install cloudpickle==3.1.1 submitit==1.5.4
    /tmp/hpcsub-env/bin/pip install target/python/wheels/hpcsub-*.whl
    eval "$(slurm/start-cluster.sh /tmp/hpcsub-slurm)"    # for the Slurm half
    /tmp/hpcsub-env/bin/python bench/executor.py

1. Local: 1,000 trivial calls through ``map``, ``hpcsub.Executor(processes=2)`` against
   ``concurrent.futures.ProcessPoolExecutor(max_workers=2)``, interleaved, 7 rounds; each hpcsub
   round in a fresh run directory (every batch is kept on disk). Target: at most 2x.
2. Slurm: 100 trivial calls through ``map``, from the call to the last result, against
   submitit's ``map_array`` (one job array, as hpcsub's) on the same cluster, interleaved, 3
   rounds. Target: at most 1x. Skipped, saying so, when ``sinfo`` reaches no cluster.

Prints Markdown tables of the rounds' best and median, and the ratios of the medians.
"""

from __future__ import annotations

import concurrent.futures
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import hpcsub

LOCAL_CALLS, LOCAL_ROUNDS = 1_000, 7
SLURM_CALLS, SLURM_ROUNDS = 100, 3


def trivial(x: int) -> int:
    return x


def interleaved(variants: dict[str, Callable[[], list[int]]], rounds: int, expected: list[int]) -> dict[str, list[float]]:
    """Each variant's wall times, round-robin so that the machine's drift hits them alike."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, work in variants.items():
            started = time.perf_counter()
            got = work()
            times[name].append(time.perf_counter() - started)
            assert got == expected, f"{name}: wrong results"
    return times


def table(title: str, rounds: dict[str, list[float]], baseline: str) -> None:
    print(f"\n{title}\n")
    print("| variant | best (s) | median (s) | median / baseline |")
    print("| --- | ---: | ---: | ---: |")
    base = statistics.median(rounds[baseline])
    for name, times in rounds.items():
        median = statistics.median(times)
        print(f"| {name} | {min(times):.3f} | {median:.3f} | {median / base:.2f}x |")


def local(scratch: Path) -> None:
    expected = list(range(LOCAL_CALLS))

    def pool() -> list[int]:
        with concurrent.futures.ProcessPoolExecutor(max_workers=2) as executor:
            return list(executor.map(trivial, expected))

    def ours() -> list[int]:
        run_dir = Path(tempfile.mkdtemp(dir=scratch))
        with hpcsub.Executor(processes=2, run_dir=run_dir, progress=False) as executor:
            return list(executor.map(trivial, expected))

    variants = {"ProcessPoolExecutor(max_workers=2)": pool, "hpcsub.Executor(processes=2)": ours}
    rounds = interleaved(variants, LOCAL_ROUNDS, expected)
    table(f"{LOCAL_CALLS} trivial calls, 2 workers, {LOCAL_ROUNDS} rounds interleaved", rounds, "ProcessPoolExecutor(max_workers=2)")


def slurm(scratch: Path) -> None:
    if shutil.which("sinfo") is None or subprocess.run(["sinfo", "--noheader"], capture_output=True).returncode != 0:
        print("\nslurm: skipped, no cluster answers `sinfo`")
        return
    import submitit

    expected = list(range(SLURM_CALLS))
    partition = subprocess.run(["sinfo", "--noheader", "-o", "%R"], capture_output=True, text=True).stdout.split()[0]

    def theirs() -> list[int]:
        executor = submitit.AutoExecutor(folder=tempfile.mkdtemp(dir=scratch), cluster="slurm")
        executor.update_parameters(timeout_min=5, slurm_partition=partition)
        jobs = executor.map_array(trivial, expected)
        return [job.result() for job in jobs]

    def ours() -> list[int]:
        run_dir = Path(tempfile.mkdtemp(dir=scratch))
        with hpcsub.Executor(to="slurm", slices=4, run_dir=run_dir, progress=False, resources={"time": "5m"}) as executor:
            return list(executor.map(trivial, expected))

    variants = {"submitit map_array": theirs, "hpcsub.Executor(to='slurm', slices=4) map": ours}
    rounds = interleaved(variants, SLURM_ROUNDS, expected)
    table(f"{SLURM_CALLS} trivial calls on the private Slurm cluster, {SLURM_ROUNDS} rounds interleaved", rounds, "submitit map_array")


def main() -> None:
    print(f"python {sys.version.split()[0]}, hpcsub {hpcsub.__version__}")
    with tempfile.TemporaryDirectory(prefix="hpcsub-bench-") as scratch:
        local(Path(scratch))
        slurm(Path(scratch))


if __name__ == "__main__":
    main()

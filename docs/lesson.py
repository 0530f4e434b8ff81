"""The lesson, redone with hpcsub from Python: the same functions, the executor's name replaced.

The lesson takes the tutorial's two workloads from one core to many. Ten tasks of growing
duration (``quadratic_formula(task_id)`` sleeps 0.1 task_id s, then computes a small mean) go from
a for-loop to ``ThreadPoolExecutor``, to ``ProcessPoolExecutor``, to a cluster; a
``dask.delayed`` graph adds two increments; the mean of the quadratic formula's root over 200
million random points goes from numpy on one core to many. Every cell below runs the lesson's
code with ``hpcsub.Executor`` where the lesson had another executor, beside that executor, and
prints the timings side by side, with the check that every backend gave the same bits.

    python/build-wheel.sh         # the wheel, once, where Rust is (see the README)
    python3 -m venv /tmp/hpcsub-env
    /tmp/hpcsub-env/bin/pip install cloudpickle==3.1.1 numpy==2.4.6 submitit==1.5.4
    /tmp/hpcsub-env/bin/pip install target/python/wheels/hpcsub-*.whl
    /tmp/hpcsub-env/bin/python docs/lesson.py   # from anywhere; Slurm needs a cluster

The Slurm cells submit to whatever cluster ``sinfo`` reaches (the tests start the private one of
slurm/; see "Submitting to Slurm" in the README) and are skipped, saying so, when none does;
submitit's are skipped when it is not installed.
"""

from __future__ import annotations

import concurrent.futures
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

import hpcsub

JOBS = Path(__file__).resolve().parent.parent / "jobs"
TASK_IDS = list(range(10))
POINTS, CHUNKS = 200_000_000, 20


# -- the lesson's functions, defined here in __main__ (so they travel by value) --------------


def quadratic_formula(task_id: int, samples: int = 1_000) -> float:
    time.sleep(0.1 * task_id)
    rng = random.Random(task_id)
    total = 0.0
    for _ in range(samples):
        a = rng.uniform(5, 10)
        b = rng.uniform(10, 20)
        c = rng.uniform(-0.1, 0.1)
        total += (-b + (b * b - 4 * a * c) ** 0.5) / (2 * a)
    return total / samples


def increment(x: int) -> int:
    return x + 1


def add(x: int, y: int) -> int:
    return x + y


def chunk_mean(chunk: int) -> float:
    """The mean root over one of CHUNKS equal chunks of the 200M points."""
    rng = np.random.default_rng([42, chunk])
    n = POINTS // CHUNKS
    a = rng.uniform(5, 10, n)
    b = rng.uniform(10, 20, n)
    c = rng.uniform(-0.1, 0.1, n)
    return float(((-b + np.sqrt(b**2 - 4 * a * c)) / (2 * a)).mean())


# -- the cells ------------------------------------------------------------------------------------


def on_executor(make: Callable[[], concurrent.futures.Executor]) -> Callable[[], list[float]]:
    """The lesson's ThreadPoolExecutor cell, with `make` giving the executor."""

    def cell() -> list[float]:
        with make() as executor:
            futures = {executor.submit(quadratic_formula, task_id): task_id for task_id in TASK_IDS}
            results = {}
            for future in concurrent.futures.as_completed(futures):
                results[futures[future]] = future.result()
        return [results[t] for t in TASK_IDS]

    return cell


def delayed_graph(make: Callable[[], hpcsub.Executor]) -> Callable[[], int]:
    """The lesson's dask.delayed cell: futures as arguments make the graph."""

    def cell() -> int:
        with make() as executor:
            c = executor.submit(increment, 7)
            d = executor.submit(increment, 6)
            return int(executor.submit(add, c, d).result())

    return cell


def slurm_partition() -> str | None:
    if shutil.which("sinfo") is None:
        return None
    done = subprocess.run(["sinfo", "--noheader", "-o", "%R"], capture_output=True, text=True)
    return done.stdout.split()[0] if done.returncode == 0 and done.stdout.strip() else None


def submitit_cell(folder: Path, partition: str) -> Callable[[], list[float]] | None:
    try:
        import submitit
    except ImportError:
        return None

    def cell() -> list[float]:
        executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
        executor.update_parameters(timeout_min=10, slurm_partition=partition)
        jobs = executor.map_array(quadratic_formula, TASK_IDS)
        return [job.result() for job in jobs]

    return cell


def main() -> None:
    rows: list[dict[str, Any]] = []

    def timed(step: str, how: str, cell: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = cell()
        rows.append({"step": step, "how": how, "wall_s": time.perf_counter() - started, "result": result})
        return result

    scratch = Path(tempfile.mkdtemp(prefix="hpcsub-lesson-"))
    runs = iter(range(1_000))

    def run_dir() -> Path:
        return scratch / f"run-{next(runs)}"

    tasks = "10 tasks"
    expected = timed(tasks, "for-loop", lambda: [quadratic_formula(t) for t in TASK_IDS])
    timed(tasks, "ThreadPoolExecutor(10)", on_executor(lambda: concurrent.futures.ThreadPoolExecutor(max_workers=10)))
    timed(tasks, "hpcsub.Executor(threads=10)", on_executor(lambda: hpcsub.Executor(threads=10, run_dir=run_dir(), progress=False)))
    timed(tasks, "ProcessPoolExecutor(10)", on_executor(lambda: concurrent.futures.ProcessPoolExecutor(max_workers=10)))
    timed(tasks, "hpcsub.Executor(processes=10)", on_executor(lambda: hpcsub.Executor(processes=10, run_dir=run_dir(), progress=False)))
    timed("delayed graph", "hpcsub.Executor()", delayed_graph(lambda: hpcsub.Executor(run_dir=run_dir(), progress=False)))

    chunks = list(range(CHUNKS))
    mean = "200M mean (numpy)"
    timed(mean, "for-loop", lambda: float(np.mean([chunk_mean(c) for c in chunks])))

    def on_pool() -> float:
        with concurrent.futures.ProcessPoolExecutor(max_workers=2) as pool:
            return float(np.mean(list(pool.map(chunk_mean, chunks))))

    timed(mean, "ProcessPoolExecutor(2)", on_pool)
    exact: list[dict[str, Any]] = []

    def map_reduce(**options: Any) -> Callable[[], float]:
        def cell() -> float:
            with hpcsub.Executor(run_dir=run_dir(), progress=False, **options) as executor:
                exact.append(executor.map_reduce(chunk_mean, chunks, reduce=["mean", "std"]))
            return float(exact[-1]["mean"])

        return cell

    timed(mean, "hpcsub map_reduce, 2 processes", map_reduce(processes=2))

    kernel = JOBS / "quadratic.yaml"
    job = "200M-sample kernel"
    kernels = [
        timed(job, "hpcsub.run, 1 thread", lambda: hpcsub.run(kernel, threads=1, progress=False)),
        timed(job, "hpcsub.run, all cores", lambda: hpcsub.run(kernel, progress=False)),
    ]

    partition = slurm_partition()
    if partition is not None:
        slurm = {"to": "slurm", "slices": 4, "resources": {"time": "10m"}}
        timed(tasks, "hpcsub.Executor(to='slurm', slices=4)", on_executor(lambda: hpcsub.Executor(run_dir=run_dir(), progress=False, **slurm)))
        theirs = submitit_cell(scratch / "submitit", partition)
        if theirs is not None:
            timed(tasks, "submitit map_array", theirs)
        else:
            print("submitit: skipped, not installed (pip install submitit)\n")
        timed("delayed graph", "hpcsub.Executor(to='slurm')", delayed_graph(lambda: hpcsub.Executor(run_dir=run_dir(), progress=False, **slurm)))
        timed(mean, "hpcsub map_reduce, slurm array of 4", map_reduce(**slurm))

        def kernel_on_slurm() -> hpcsub.Result:
            return hpcsub.submit(kernel, to="slurm", run_dir=run_dir()).wait(progress=False)

        kernels.append(timed(job, "hpcsub.submit, slurm array of 4", kernel_on_slurm))
    else:
        print("slurm: skipped, no cluster answers `sinfo` (see the README to start one)\n")

    print(f"{'step':<20} {'how':<40} {'wall s':>8}  result")
    for row in rows:
        result = row["result"]
        if isinstance(result, hpcsub.Result):
            shown = f"mean {result.result['mean']!r}"
        elif isinstance(result, list):
            shown = f"sum {sum(result)!r}" + ("" if result == expected else "  WRONG")
        else:
            shown = repr(result)
        print(f"{row['step']:<20} {row['how']:<40} {row['wall_s']:>8.3f}  {shown}")
    graphs_right = all(row["result"] == 15 for row in rows if row["step"] == "delayed graph")
    tasks_right = all(row["result"] == expected for row in rows if row["step"] == tasks)
    same = all(k.result == kernels[0].result for k in kernels) and all(e == exact[0] for e in exact)
    print(f"\nthe lesson's answers on every executor: {'yes' if graphs_right and tasks_right else 'NO'}")
    print(f"same bits on every backend: {'yes' if same else 'NO'}")
    shutil.rmtree(scratch, ignore_errors=True)
    if not (same and graphs_right and tasks_right):
        raise SystemExit(1)


if __name__ == "__main__":
    main()

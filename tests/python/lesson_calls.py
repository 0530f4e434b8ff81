"""A script of the lesson's kind, run by test_executor.py as ``python lesson_calls.py BACKEND
RUN_DIR``: every function is defined here in ``__main__`` (so it travels by value), and every
answer is checked against the same function called directly. Prints one JSON object."""

from __future__ import annotations

import concurrent.futures
import json
import sys
import time

import numpy as np

import hpcsub


def quadratic_formula(task_id: int, samples: int = 2_000) -> np.ndarray:
    rng = np.random.default_rng(task_id)
    a = rng.uniform(5, 10, samples)
    b = rng.uniform(10, 20, samples)
    c = rng.uniform(-0.1, 0.1, samples)
    return (-b + np.sqrt(b**2 - 4 * a * c)) / (2 * a)


def mean_root(task_id: int) -> float:
    return float(quadratic_formula(task_id).mean())


def increment(x: int) -> int:
    return x + 1


def add(x: int, y: int) -> int:
    return x + y


class Unlucky(ValueError):
    pass


def unlucky(n: int) -> int:
    if n == 3:
        raise Unlucky(f"task {n} is unlucky")
    return n


def sleeps(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def main() -> None:
    backend, run_dir = sys.argv[1], sys.argv[2]
    options: dict = {"slices": 2} if backend != "local" else {"processes": 2}
    report: dict = {}
    task_ids = list(range(6))
    with hpcsub.Executor(to=backend, run_dir=run_dir, progress=False, **options) as executor:
        # submit + as_completed, numpy arrays back
        futures = {executor.submit(quadratic_formula, t): t for t in task_ids}
        arrays = {}
        for future in concurrent.futures.as_completed(futures):
            arrays[futures[future]] = future.result()
        report["arrays_equal"] = all(np.array_equal(arrays[t], quadratic_formula(t)) for t in task_ids)
        # map, in order
        report["map_equal"] = list(executor.map(mean_root, task_ids)) == [mean_root(t) for t in task_ids]
        # map_reduce: exact statistics
        report["map_reduce"] = executor.map_reduce(mean_root, task_ids, reduce=["count", "sum", "mean", "std", "min", "max"])
        report["map_reduce_arrays"] = executor.map_reduce(lambda t: quadratic_formula(t, 4), task_ids, reduce=["sum"])
        # the delayed graph
        a, b = 7, 6
        c = executor.submit(increment, a)
        d = executor.submit(increment, b)
        total = executor.submit(add, c, d)
        report["graph"] = total.result()
        report["graph_expected"] = add(increment(a), increment(b))
        # a call that raises
        raised = [executor.submit(unlucky, n) for n in range(5)]
        error = raised[3].exception()
        report["raised_type"] = type(error).__name__
        report["raised_is_unlucky"] = isinstance(error, Unlucky)
        report["raised_traceback"] = "in unlucky" in str(getattr(error, "__cause__", ""))
        report["others"] = [f.result() for i, f in enumerate(raised) if i != 3]
    # a call killed by its time limit, in an executor of its own
    limits = {"timeout": "2s"} if backend == "local" else {"resources": {"time": "1m"}}
    slow_seconds = 3 if backend == "local" else 150
    with hpcsub.Executor(to=backend, run_dir=run_dir + "-limit", progress=False, **limits) as executor:
        slow = executor.submit(sleeps, slow_seconds)
        try:
            slow.result()
            report["killed"] = None
        except hpcsub.TaskFailed as failure:
            report["killed"] = {"state": failure.state, "reason": failure.reason}
    print(json.dumps(report))


if __name__ == "__main__":
    main()

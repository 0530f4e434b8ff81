"""What a call of the Python API costs beyond the command it runs, side by side in one run.

Run with the Python of an environment where the wheel is installed:

    python/build-wheel.sh
    python3 -m venv /tmp/hpcsub-env && /tmp/hpcsub-env/bin/pip install target/python/wheels/hpcsub-*.whl
    /tmp/hpcsub-env/bin/python bench/python_api.py

Each variant runs the same 1,000-sample job (so the work is nothing and the cost is all
overhead), interleaved round-robin, 50 rounds; prints a Markdown table of best and median.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import hpcsub

ROUNDS = 50
JOB = {
    "name": "tiny",
    "seed": 1,
    "compute": {"samples": 1000, "vars": {"x": "uniform(0, 1)"}, "expr": "x"},
    "reduce": ["mean"],
}


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "tiny.yaml"
        path.write_text(json.dumps(JOB))
        binary = hpcsub.binary()
        variants = {
            "the command: subprocess.run([hpcsub, 'run', JOB, '--json'])": lambda: json.loads(
                subprocess.run([binary, "run", str(path), "--json", "--quiet"], capture_output=True, check=True).stdout
            ),
            "hpcsub.run(path, progress=False)": lambda: hpcsub.run(path, progress=False),
            "hpcsub.run(path) (progress read from --progress json)": lambda: hpcsub.run(path),
            "hpcsub.run(dict, progress=False) (writes and removes a job file)": lambda: hpcsub.run(JOB, progress=False),
            "hpcsub.check(path)": lambda: hpcsub.check(path),
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(ROUNDS):
            for name, call in variants.items():
                started = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - started)
    base = statistics.median(times[next(iter(variants))])
    print(f"| call ({ROUNDS} rounds, interleaved) | best (ms) | median (ms) | median − the command's (ms) |")
    print("| --- | ---: | ---: | ---: |")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"| {name} | {min(samples) * 1e3:.2f} | {median * 1e3:.2f} | {(median - base) * 1e3:+.2f} |")


if __name__ == "__main__":
    main()

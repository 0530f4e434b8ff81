"""The kernels of jobs/smearing.yaml, jobs/normal.yaml, jobs/exp_sin.yaml and
jobs/log_atan2_pow.yaml in numpy, in chunks of 10 million samples (the whole arrays would need
gigabytes and be slower).

    numpy_kernels.py KERNEL N       # KERNEL: smearing, normal, exp_sin or log_atan2_pow

Prints one JSON object: the mean and the seconds the computation took (imports excluded), as
`hpcsub run --json` reports `elapsed_s`.
"""
import json
import sys
import time

import numpy as np

CHUNK = 10_000_000


def smearing(rng, n):
    energy = rng.uniform(10, 20, n)
    resolution = rng.normal(0, 0.05, n)
    return energy * (1 + resolution)


def normal(rng, n):
    x = rng.standard_normal(n)
    y = rng.standard_normal(n)
    return np.sqrt(x**2 + y**2)


def exp_sin(rng, n):
    t = rng.uniform(0, 10, n)
    return np.exp(-t) * np.sin(t)


def log_atan2_pow(rng, n):
    x = rng.uniform(0.5, 2, n)
    y = rng.uniform(-1, 1, n)
    return np.log(x) + np.arctan2(y, x) + np.power(x, y)


KERNELS = {"smearing": smearing, "normal": normal, "exp_sin": exp_sin, "log_atan2_pow": log_atan2_pow}

if __name__ == "__main__":
    kernel, n = KERNELS[sys.argv[1]], int(sys.argv[2])
    rng = np.random.default_rng(42)
    start = time.perf_counter()
    total, done = 0.0, 0
    while done < n:
        size = min(CHUNK, n - done)
        total += kernel(rng, size).sum()
        done += size
    elapsed = time.perf_counter() - start
    print(json.dumps({"mean": total / n, "elapsed_s": elapsed}))

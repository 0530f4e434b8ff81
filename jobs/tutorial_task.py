"""One task of the tutorial's task-parallel lesson: quadratic_formula(task_id).

The tutorial's tasks take longer as their id grows (task i sleeps 0.1 * i seconds, standing in for
work), then compute the mean of the quadratic formula's larger root over a small sample seeded by
the task id. hpcsub runs it once per task and sums the printed numbers exactly.
"""

import random
import sys
import time


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


if __name__ == "__main__":
    print(repr(quadratic_formula(int(sys.argv[1]))))

"""Step `simulate` of jobs/pipeline.yaml: events of one parameter point, written to OUTDIR."""
import random
import sys

mass, outdir = float(sys.argv[1]), sys.argv[2]
rng = random.Random(int(mass * 1000))
with open(f"{outdir}/events.txt", "w") as f:
    for _ in range(500):
        # a peak at `mass` over a falling background, in 1/16 steps (exact in binary)
        e = rng.gauss(mass, 3) if rng.random() < 0.3 else rng.expovariate(1 / 40)
        f.write(f"{round(max(e, 0) * 16) / 16}\n")
print(500)

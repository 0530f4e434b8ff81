"""Step `analyse` of jobs/pipeline.yaml: the histogram of one simulated point's events."""
import json
import sys

events_dir, expected = sys.argv[1], int(sys.argv[2])
energies = [float(line) for line in open(f"{events_dir}/events.txt")]
assert len(energies) == expected, (len(energies), expected)
edges = list(range(0, 130, 10))
counts = [sum(1 for e in energies if lo <= e < hi) for lo, hi in zip(edges, edges[1:])]
print(json.dumps({"events": len(energies), "energy": {"edges": edges, "counts": counts}}))

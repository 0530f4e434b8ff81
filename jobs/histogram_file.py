"""One task of jobs/histograms.yaml: the energy histogram of one data file, as JSON."""
import csv
import json
import sys

EDGES = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]

with open(sys.argv[1], newline="") as f:
    energies = [float(row["energy_gev"]) for row in csv.DictReader(f)]
counts = [sum(1 for e in energies if lo <= e < hi) for lo, hi in zip(EDGES, EDGES[1:])]
print(json.dumps({
    "events": len(energies),
    "energy": {"edges": EDGES, "counts": counts},
    "moments": [sum(energies), sum(e * e for e in energies)],
}))

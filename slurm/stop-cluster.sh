#!/usr/bin/env bash
# Stop the private cluster started by start-cluster.sh under DIR (by PID; no systemd).
set -uo pipefail
dir=$(realpath -m "${1:-/tmp/hpcsub-slurm}")
for pidfile in "$dir/run/slurmd.pid" "$dir/run/slurmctld.pid" "$dir/munge/munged.pid"; do
  pid=$(cat "$pidfile" 2>/dev/null) || continue
  kill "$pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
  rm -f "$pidfile"
done
exit 0

#!/usr/bin/env bash
# Builds the wheel (the `hpcsub` command and the Python package) with maturin, pinned, from a
# virtual environment of its own: DIR/wheels/hpcsub-VERSION-py3-none-manylinux_*.whl.
# Usage: python/build-wheel.sh [DIR]   (default: target/python)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$repo/target/python}"
mkdir -p "$dir"
# One build at a time: maturin writes into the one target directory.
exec 9>"$dir/.lock"
flock 9
venv="$dir/maturin-venv"
if ! "$venv/bin/maturin" --version 2>/dev/null | grep -q '^maturin 1\.16\.0$'; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'maturin==1.16.0'
fi
rm -rf "$dir/wheels"
cd "$repo"
"$venv/bin/maturin" build --release --quiet --out "$dir/wheels" >&2
ls "$dir"/wheels/hpcsub-*.whl

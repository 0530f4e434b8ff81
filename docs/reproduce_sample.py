#!/usr/bin/env python3
"""Reproduce by hand the value a uniform/exponential var takes at one sample.

    python3 docs/reproduce_sample.py SEED VAR_NAME INDEX LOW HIGH      # uniform(LOW, HIGH)

This is the stream definition of docs/reproducibility.md written out in plain Python, with no
hpcsub code involved; the test suite checks it against the binary bit for bit.
"""
import struct
import sys

MASK = (1 << 64) - 1
BLOCK_SAMPLES = 4096
LANES = 8


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def name_hash(name):
    h = 0xCBF29CE484222325
    for byte in name.encode():
        h = ((h ^ byte) * 0x100000001B3) & MASK
    return h


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK


def raw_output(seed, var_name, index):
    key = mix64(seed ^ mix64(name_hash(var_name)))
    block, offset = divmod(index, BLOCK_SAMPLES)
    step, lane = divmod(offset, LANES)
    state = key ^ mix64((block * LANES + lane) & MASK)
    s = []
    for _ in range(4):
        state = (state + 0x9E3779B97F4A7C15) & MASK
        s.append(mix64(state))
    for _ in range(step + 1):
        result = (rotl((s[0] + s[3]) & MASK, 23) + s[0]) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
    return result


def unit_interval(x):
    return struct.unpack("<d", struct.pack("<Q", 0x3FF0000000000000 | (x >> 12)))[0] - 1.0


if __name__ == "__main__":
    seed, name, index, low, high = sys.argv[1:6]
    u = unit_interval(raw_output(int(seed), name, int(index)))
    print(repr(float(low) + (float(high) - float(low)) * u))

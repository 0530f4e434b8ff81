#!/usr/bin/env python3
"""Reproduce by hand the value a random var takes at one sample.

    python3 docs/reproduce_sample.py SEED VAR_NAME INDEX uniform LOW HIGH
    python3 docs/reproduce_sample.py SEED VAR_NAME INDEX normal MEAN SD
    python3 docs/reproduce_sample.py SEED VAR_NAME INDEX exponential RATE

This is the stream definition of docs/reproducibility.md written out in plain Python, with no
hpcsub code involved (Python's floats are IEEE doubles, and nothing here is fused); the test
suite checks it against the binary bit for bit. `log` is fdlibm's, as hpcsub computes it, not
`math.log`, whose last bit depends on the platform's C library.
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


def from_bits(bits):
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


def to_bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def unit_interval(x):
    return from_bits(0x3FF0000000000000 | (x >> 12)) - 1.0


def open_unit_interval(x):
    return from_bits(0x3FF0000000000000 | (x >> 12)) - (1.0 - 2.0**-53)


LG = [6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
      2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
      1.479819860511658591e-01]
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10


def log(x):
    """fdlibm's natural logarithm, for a positive normal x."""
    bits = to_bits(x)
    k = ((bits >> 52) & 0x7FF) - 1023
    m = from_bits((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
    if to_bits(m) >= 0x3FF6A09E00000000:
        m, k = m * 0.5, k + 1
    f = m - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (LG[1] + w * (LG[3] + w * LG[5]))
    t2 = z * (LG[0] + w * (LG[2] + w * (LG[4] + w * LG[6])))
    r = t2 + t1
    dk = float(k)
    return s * (hfsq + r) + dk * LN2_LO - hfsq + f + dk * LN2_HI


# Wichura's AS 241 (PPND16), its polynomials in Estrin's order.
A = [3.387132872796366608, 133.14166789178437745, 1971.5909503065514427, 13731.693765509461125,
     45921.953931549871457, 67265.770927008700853, 33430.575583588128105, 2509.0809287301226727]
B = [1.0, 42.313330701600911252, 687.1870074920579083, 5394.1960214247511077,
     21213.794301586595867, 39307.89580009271061, 28729.085735721942674, 5226.495278852854561]
C = [1.42343711074968357734, 4.6303378461565452959, 5.7694972214606914055, 3.64784832476320460504,
     1.27045825245236838258, 0.24178072517745061177, 0.0227238449892691845833,
     7.7454501427834140764e-4]
D = [1.0, 2.05319162663775882187, 1.6763848301838038494, 0.68976733498510000455,
     0.14810397642748007459, 0.0151986665636164571966, 5.475938084995344946e-4,
     1.05075007164441684324e-9]
E = [6.6579046435011037772, 5.4637849111641143699, 1.7848265399172913358, 0.29656057182850489123,
     0.026532189526576123093, 0.0012426609473880784386, 2.71155556874348757815e-5,
     2.01033439929228813265e-7]
F = [1.0, 0.59983220655588793769, 0.13692988092273580531, 0.0148753612908506148525,
     7.868691311456132591e-4, 1.8463183175100546818e-5, 1.4215117583164458887e-7,
     2.04426310338993978564e-15]


def polynomial(c, x):
    """c[0] + c[1] x + ... + c[7] x^7 in Estrin's order, as hpcsub 0.3 and later evaluate it."""
    x2 = x * x
    x4 = x2 * x2
    p01 = x * c[1] + c[0]
    p23 = x * c[3] + c[2]
    p45 = x * c[5] + c[4]
    p67 = x * c[7] + c[6]
    return (p01 + x2 * p23) + x4 * (p45 + x2 * p67)


def inverse_normal_cdf(p):
    q = p - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        return q * polynomial(A, r) / polynomial(B, r)
    tail = p if q < 0.0 else 1.0 - p
    r = (-log(tail)) ** 0.5
    if r <= 5.0:
        r = r - 1.6
        magnitude = polynomial(C, r) / polynomial(D, r)
    else:
        r = r - 5.0
        magnitude = polynomial(E, r) / polynomial(F, r)
    return -magnitude if q < 0.0 else magnitude


if __name__ == "__main__":
    seed, name, index, distribution, *parameters = sys.argv[1:]
    x = raw_output(int(seed), name, int(index))
    parameters = [float(p) for p in parameters]
    if distribution == "uniform":
        low, high = parameters
        print(repr(low + (high - low) * unit_interval(x)))
    elif distribution == "normal":
        mean, sd = parameters
        print(repr(mean + sd * inverse_normal_cdf(open_unit_interval(x))))
    elif distribution == "exponential":
        (rate,) = parameters
        print(repr(-log(1.0 - unit_interval(x)) / rate))
    else:
        raise SystemExit(f"unknown distribution {distribution!r}: uniform, normal or exponential")

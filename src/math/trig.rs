//! `sin`, `cos`, `tan` and `atan2`: fdlibm's k_sin.c, k_cos.c, k_tan.c, s_atan.c and e_atan2.c,
//! with the medium-size argument reduction of e_rem_pio2.c.

// fdlibm's constants, digit for digit, so they can be checked against the source; those that
// are `std::f64::consts` round to the same doubles (a test checks it).
#![allow(clippy::excessive_precision, clippy::approx_constant)]

use super::{Bits, Special, TO_INT, Vector, VectorExt};

const INV_PIO2: f64 = 6.36619772367581382433e-01;
/// pi/2 in two parts; the first has 33 bits, so `n * PIO2_1` is exact for the `n < 2^20` of the
/// fast domain.
const PIO2_1: f64 = 1.57079632673412561417e+00;
const PIO2_1T: f64 = 6.07710050650619224932e-11;
/// The fast domain of the trigonometric functions: `|x| < 2^20 pi/2`.
const REDUCTION_LIMIT: f64 = 1_647_099.0;

/// `x = n pi/2 + (y0 + y1)`, `|y0 + y1| <= pi/4`: the first round of fdlibm's medium-size
/// reduction (pi/2 to 85 bits). Returns `(n mod 4, y0, y1)` and whether the round cancelled
/// more than 16 bits (`2^16 |y0| < |x|`), where fdlibm goes on to more rounds: those lanes
/// (`x` within about `2^-16 |x|` of a multiple of pi/2) are patched.
#[inline(always)]
fn reduce<M: Vector + ?Sized>(m: &mut M, x: M::V) -> [M::V; 4] {
    let n = m.mul_c(x, INV_PIO2);
    let n = m.add_c(n, TO_INT);
    let n = m.sub_c(n, TO_INT);
    let w = m.mul_c(n, PIO2_1);
    let r = m.sub(x, w);
    let w = m.mul_c(n, PIO2_1T);
    let y0 = m.sub(r, w);
    let y1 = m.sub(r, y0);
    let y1 = m.sub(y1, w);
    let ax = m.abs(x);
    let ay = m.abs(y0);
    let ay = m.mul_c(ay, 65536.0);
    let cancelled = m.lt(ay, ax);
    let quarter = m.mul_c(n, 0.25);
    let quarter = m.floor(quarter);
    let quarter = m.mul_c(quarter, 4.0);
    let quadrant = m.sub(n, quarter);
    [quadrant, y0, y1, cancelled]
}

const S: [f64; 6] = [
    -1.66666666666666324348e-01,
    8.33333333332248946124e-03,
    -1.98412698298579493134e-04,
    2.75573137070700676789e-06,
    -2.50507602534068634195e-08,
    1.58969099521155010221e-10,
];

/// sin(x + y) on [-pi/4, pi/4], `y` the tail of `x`.
#[inline(always)]
fn kernel_sin<M: Vector + ?Sized>(m: &mut M, x: M::V, y: M::V) -> M::V {
    let z = m.mul(x, x);
    let w = m.mul(z, z);
    let r = m.horner(z, &S[1..4]);
    let tail = m.horner(z, &S[4..6]);
    let zw = m.mul(z, w);
    let tail = m.mul(zw, tail);
    let r = m.add(r, tail);
    let v = m.mul(z, x);
    let half_y = m.mul_c(y, 0.5);
    let vr = m.mul(v, r);
    let a = m.sub(half_y, vr);
    let a = m.mul(z, a);
    let a = m.sub(a, y);
    let vs1 = m.mul_c(v, S[0]);
    let a = m.sub(a, vs1);
    m.sub(x, a)
}

const C: [f64; 6] = [
    4.16666666666666019037e-02,
    -1.38888888888741095749e-03,
    2.48015872894767294178e-05,
    -2.75573143513906633035e-07,
    2.08757232129817482790e-09,
    -1.13596475577881948265e-11,
];

/// cos(x + y) on [-pi/4, pi/4].
#[inline(always)]
fn kernel_cos<M: Vector + ?Sized>(m: &mut M, x: M::V, y: M::V) -> M::V {
    let z = m.mul(x, x);
    let w = m.mul(z, z);
    let r = m.horner(z, &C[0..3]);
    let r = m.mul(z, r);
    let tail = m.horner(z, &C[3..6]);
    let ww = m.mul(w, w);
    let tail = m.mul(ww, tail);
    let r = m.add(r, tail);
    let hz = m.mul_c(z, 0.5);
    let w = m.c_sub(1.0, hz);
    let a = m.c_sub(1.0, w);
    let a = m.sub(a, hz);
    let zr = m.mul(z, r);
    let xy = m.mul(x, y);
    let b = m.sub(zr, xy);
    let a = m.add(a, b);
    m.add(w, a)
}

/// The lanes `sin`, `cos` and `tan` patch: outside the fast domain, or where the reduction
/// cancelled.
#[inline(always)]
fn to_patch<M: Vector + ?Sized>(m: &mut M, x: M::V, cancelled: M::V) -> M::V {
    let within = m.magnitude_below(x, REDUCTION_LIMIT);
    let outside = m.not(within);
    m.or(outside, cancelled)
}

/// Below these (fdlibm's), `sin x` and `tan x` round to `x` and `cos x` to 1.
const SIN_TINY: f64 = 1.0 / 67_108_864.0;
const COS_TINY: f64 = f64::from_bits(0x3E46_A09E_0000_0000);
const TAN_TINY: f64 = 1.0 / 134_217_728.0;
/// `sin` and `cos` of the reduced argument.
#[inline(always)]
fn sin_cos<M: Vector + ?Sized>(m: &mut M, x: M::V) -> [M::V; 4] {
    let [quadrant, y0, y1, cancelled] = reduce(m, x);
    let s = kernel_sin(m, y0, y1);
    let c = kernel_cos(m, y0, y1);
    [quadrant, s, c, cancelled]
}

/// The sine: `±sin` or `±cos` of the reduced argument, by quadrant. `|x| < 2^-26` gives `x`
/// (so `-0` stays `-0`); `|x| >= 2^20 pi/2`, infinities and NaN are patched.
#[inline(always)]
pub fn sin<M: Vector + ?Sized>(m: &mut M, x: M::V) -> M::V {
    let [quadrant, s, c, cancelled] = sin_cos(m, x);
    let fast = by_quadrant(m, quadrant, [s, c], false);
    let tiny = m.magnitude_below(x, SIN_TINY);
    let fast = m.select(tiny, x, fast);
    let patched = to_patch(m, x, cancelled);
    m.patch(Special::Sin, patched, fast, [x, x])
}

/// The cosine, as `sin` one quadrant on; `|x| < 2^-27 sqrt(2)` gives 1.
#[inline(always)]
pub fn cos<M: Vector + ?Sized>(m: &mut M, x: M::V) -> M::V {
    let [quadrant, s, c, cancelled] = sin_cos(m, x);
    let fast = by_quadrant(m, quadrant, [s, c], true);
    let tiny = m.magnitude_below(x, COS_TINY);
    let one = m.constant(1.0);
    let fast = m.select(tiny, one, fast);
    let patched = to_patch(m, x, cancelled);
    m.patch(Special::Cos, patched, fast, [x, x])
}

/// The sine (`cosine` false) or cosine in quadrant `q` of values `s` and `c` of the reduced
/// argument: sine `s, c, -s, -c` and cosine `c, -s, -c, s` for `q = 0, 1, 2, 3`.
#[inline(always)]
fn by_quadrant<M: Vector + ?Sized>(
    m: &mut M,
    quadrant: M::V,
    [s, c]: [M::V; 2],
    cosine: bool,
) -> M::V {
    let half = m.mul_c(quadrant, 0.5);
    let half_floor = m.floor(half);
    let odd = m.ne(half, half_floor);
    let value = if cosine {
        m.select(odd, s, c)
    } else {
        m.select(odd, c, s)
    };
    let negative = if cosine {
        let one = m.constant(1.0);
        let two = m.constant(2.0);
        let from_one = m.le(one, quadrant);
        let to_two = m.le(quadrant, two);
        m.and(from_one, to_two)
    } else {
        m.ge_c(quadrant, 2.0)
    };
    let negated = m.neg(value);
    m.select(negative, negated, value)
}

const T: [f64; 13] = [
    3.33333333333334091986e-01,
    1.33333333333201242699e-01,
    5.39682539762260521377e-02,
    2.18694882948595424599e-02,
    8.86323982359930005737e-03,
    3.59207910759131235356e-03,
    1.45620945432529025516e-03,
    5.88041240820264096874e-04,
    2.46463134818469906812e-04,
    7.81794442939557092300e-05,
    7.14072491382608190305e-05,
    -1.85586374855275456654e-05,
    2.59073051863633712884e-05,
];
const PIO4: f64 = 7.85398163397448278999e-01;
const PIO4_LO: f64 = 3.06161699786838301793e-17;

/// The tangent: fdlibm's kernel on the reduced argument, which near ±pi/4 works on
/// `pi/4 - |x|` and for odd quadrants returns `-1/tan` computed in two parts.
#[inline(always)]
pub fn tan<M: Vector + ?Sized>(m: &mut M, x0: M::V) -> M::V {
    let [quadrant, x, y, cancelled] = reduce(m, x0);
    let half = m.mul_c(quadrant, 0.5);
    let half_floor = m.floor(half);
    let odd = m.ne(half, half_floor);
    let ax = m.abs(x);
    let big = m.ge_c(ax, f64::from_bits(0x3FE5_9428_0000_0000));
    let negative = m.lt_c(x, 0.0);
    let flip = m.and(big, negative);
    let neg_x = m.neg(x);
    let neg_y = m.neg(y);
    let xs = m.select(flip, neg_x, x);
    let ys = m.select(flip, neg_y, y);
    let a = m.c_sub(PIO4, xs);
    let b = m.c_sub(PIO4_LO, ys);
    let moved = m.add(a, b);
    let x = m.select(big, moved, x);
    let zero = m.constant(0.0);
    let y = m.select(big, zero, y);
    let z = m.mul(x, x);
    let w = m.mul(z, z);
    let r = m.horner(w, &[T[1], T[3], T[5], T[7], T[9], T[11]]);
    let v = m.horner(w, &[T[2], T[4], T[6], T[8], T[10], T[12]]);
    let v = m.mul(z, v);
    let s = m.mul(z, x);
    let rv = m.add(r, v);
    let a = m.mul(s, rv);
    let a = m.add(a, y);
    let a = m.mul(z, a);
    let r = m.add(y, a);
    let st0 = m.mul_c(s, T[0]);
    let r = m.add(r, st0);
    let w = m.add(x, r);
    // Near ±pi/4: s - 2 (x + (r - w^2/(w + s))), s = ±1 by quadrant, then the sign of x.
    let sign = m.select_c(odd, -1.0, 1.0);
    let ww = m.mul(w, w);
    let ws = m.add(w, sign);
    let q = m.div(ww, ws);
    let q = m.sub(r, q);
    let q = m.add(x, q);
    let q = m.mul_c(q, 2.0);
    let near = m.sub(sign, q);
    let near_negative = m.neg(near);
    let near = m.select(flip, near_negative, near);
    // Odd quadrants: -1/(x + r) with the division corrected in two parts.
    let w0 = m.bits(Bits::HighWord, w);
    let v = m.sub(w0, x);
    let v = m.sub(r, v);
    let minus_one = m.constant(-1.0);
    let a = m.div(minus_one, w);
    let a0 = m.bits(Bits::HighWord, a);
    let aw = m.mul(a0, w0);
    let e = m.add_c(aw, 1.0);
    let av = m.mul(a0, v);
    let e = m.add(e, av);
    let e = m.mul(a, e);
    let reciprocal = m.add(a0, e);
    let small = m.select(odd, reciprocal, w);
    let fast = m.select(big, near, small);
    let tiny = m.magnitude_below(x0, TAN_TINY);
    let fast = m.select(tiny, x0, fast);
    let patched = to_patch(m, x0, cancelled);
    m.patch(Special::Tan, patched, fast, [x0, x0])
}

const ATAN_HI: [f64; 4] = [
    4.63647609000806093515e-01,
    7.85398163397448278999e-01,
    9.82793723247329054082e-01,
    1.57079632679489655800e+00,
];
const ATAN_LO: [f64; 4] = [
    2.26987774529616870924e-17,
    3.06161699786838301793e-17,
    1.39033110312309984516e-17,
    6.12323399573676603587e-17,
];
const AT: [f64; 11] = [
    3.33333333333329318027e-01,
    -1.99999999998764832476e-01,
    1.42857142725034663711e-01,
    -1.11111104054623557880e-01,
    9.09088713343650656196e-02,
    -7.69187620504482999495e-02,
    6.66107313738753120669e-02,
    -5.83357013379057348645e-02,
    4.97687799461593236017e-02,
    -3.65315727442169155270e-02,
    1.62858201153657823623e-02,
];
const HUGE_RATIO: f64 = f64::from_bits(0x7E70_0000_0000_0000);
const PI: f64 = 3.1415926535897931160E+00;
const PI_LO: f64 = 1.2246467991473531772E-16;

/// atan(a + c) as `hi - e`, for `a >= 0` and a tiny correction `c`: fdlibm's five intervals,
/// each `(p a - q) / (p + q a)` for its own `(p, q)`, which gives each interval's transform
/// with exact extra operations; `c` joins the low part of the interval's angle `hi`.
#[inline(always)]
fn atan_positive<M: Vector + ?Sized>(m: &mut M, a: M::V, c: M::V) -> [M::V; 2] {
    // Intervals from 7/16, 11/16, 19/16 and 39/16 on.
    let cuts = [0.4375, 0.6875, 1.1875, 2.4375];
    let at_least: Vec<M::V> = cuts.iter().map(|&cut| m.ge_c(a, cut)).collect();
    let mut p = m.constant(1.0);
    let mut q = m.constant(0.0);
    let mut hi = m.constant(0.0);
    let mut lo = m.constant(0.0);
    for (id, (pq, condition)) in [(2.0, 1.0), (1.0, 1.0), (1.0, 1.5), (0.0, 1.0)]
        .into_iter()
        .zip(at_least)
        .enumerate()
    {
        let (p_id, q_id) = pq;
        let (p_id, q_id) = (m.constant(p_id), m.constant(q_id));
        p = m.select(condition, p_id, p);
        q = m.select(condition, q_id, q);
        let (hi_id, lo_id) = (m.constant(ATAN_HI[id]), m.constant(ATAN_LO[id]));
        hi = m.select(condition, hi_id, hi);
        lo = m.select(condition, lo_id, lo);
    }
    let pa = m.mul(p, a);
    let numerator = m.sub(pa, q);
    let qa = m.mul(q, a);
    let denominator = m.add(p, qa);
    let x = m.div(numerator, denominator);
    let z = m.mul(x, x);
    let w = m.mul(z, z);
    let s1 = m.horner(w, &[AT[0], AT[2], AT[4], AT[6], AT[8], AT[10]]);
    let s1 = m.mul(z, s1);
    let s2 = m.horner(w, &[AT[1], AT[3], AT[5], AT[7], AT[9]]);
    let s2 = m.mul(w, s2);
    let s = m.add(s1, s2);
    let lo = m.add(lo, c);
    let xs = m.mul(x, s);
    let e = m.sub(xs, lo);
    let e = m.sub(e, x);
    [hi, e]
}

/// Veltkamp's split of `v` into a high part of 26 bits and the rest, both exact.
#[inline(always)]
fn split<M: Vector + ?Sized>(m: &mut M, v: M::V) -> [M::V; 2] {
    let c = m.mul_c(v, 134_217_729.0);
    let d = m.sub(c, v);
    let hi = m.sub(c, d);
    let lo = m.sub(v, hi);
    [hi, lo]
}

/// What `atan(|y/x|)` needs added for the rounding of `r = y/x`: `(y - r x) / x` (with `r x`
/// exact by Dekker's product) over `1 + r^2`, signed as `|r|` moves. Zero where the split could
/// overflow (`|x|` or `|r|` beyond 2^970) or the products, near `y`, overflow or underflow
/// (`|y|` beyond 2^1000 or below 2^-960).
#[inline(always)]
fn ratio_correction<M: Vector + ?Sized>(m: &mut M, y: M::V, x: M::V, r: M::V) -> M::V {
    let p = m.mul(r, x);
    let [rh, rl] = split(m, r);
    let [xh, xl] = split(m, x);
    let e = m.mul(rh, xh);
    let e = m.sub(e, p);
    let t = m.mul(rh, xl);
    let e = m.add(e, t);
    let t = m.mul(rl, xh);
    let e = m.add(e, t);
    let t = m.mul(rl, xl);
    let e = m.add(e, t);
    let numerator = m.sub(y, p);
    let numerator = m.sub(numerator, e);
    let r_negative = m.lt_c(r, 0.0);
    let flipped = m.neg(numerator);
    let numerator = m.select(r_negative, flipped, numerator);
    let r2 = m.mul(r, r);
    let r2 = m.add_c(r2, 1.0);
    let denominator = m.mul(x, r2);
    let c = m.div(numerator, denominator);
    let x_ok = m.magnitude_below(x, SPLIT_HIGH);
    let r_ok = m.magnitude_below(r, SPLIT_HIGH);
    let y_ok = m.magnitude_within(y, PRODUCT_LOW, PRODUCT_HIGH);
    let ok = m.and(x_ok, r_ok);
    let ok = m.and(ok, y_ok);
    let zero = m.constant(0.0);
    m.select(ok, c, zero)
}

/// Beyond these, `atan2` scales its arguments for the correction.
const BIG: f64 = f64::from_bits(0x7830_0000_0000_0000);
const SMALL: f64 = f64::from_bits(0x07B0_0000_0000_0000);
/// 2^970, 2^-960 and 2^1000.
const SPLIT_HIGH: f64 = f64::from_bits(0x7C90_0000_0000_0000);
const PRODUCT_LOW: f64 = f64::from_bits(0x03F0_0000_0000_0000);
const PRODUCT_HIGH: f64 = f64::from_bits(0x7E70_0000_0000_0000);

/// atan2(y, x): atan(|y/x|), corrected for the rounding of the division, placed in the
/// quadrant of (x, y) with pi in two parts and `pi - atan` in extra precision. Fast when both
/// are finite and nonzero; other lanes are patched.
#[inline(always)]
pub fn atan2<M: Vector + ?Sized>(m: &mut M, y: M::V, x: M::V) -> M::V {
    let signed_ratio = m.div(y, x);
    // The correction is that of any (y, x) scaled alike, which keeps its products in range.
    let y_big = m.magnitude_within(y, BIG, f64::INFINITY);
    let x_big = m.magnitude_within(x, BIG, f64::INFINITY);
    let big = m.or(y_big, x_big);
    let y_small = m.magnitude_below(y, SMALL);
    let up = m.select_c(y_small, 2f64.powi(120), 1.0);
    let down = m.constant(2f64.powi(-120));
    let factor = m.select(big, down, up);
    let scaled_y = m.mul(y, factor);
    let scaled_x = m.mul(x, factor);
    let correction = ratio_correction(m, scaled_y, scaled_x, signed_ratio);
    let ratio = m.abs(signed_ratio);
    // Beyond 2^1000 the angle is pi/2 to the last bit, and an infinite ratio would give NaN
    // in the interval transform (0 * inf).
    let huge = m.ge_c(ratio, HUGE_RATIO);
    let clamped = m.constant(HUGE_RATIO);
    let ratio = m.select(huge, clamped, ratio);
    let [hi, e] = atan_positive(m, ratio, correction);
    let z = m.sub(hi, e);
    // pi - z = (pi - hi) + e + pi_lo, with the rounding of pi - hi kept (Knuth's two-sum).
    let s = m.c_sub(PI, hi);
    let b = m.sub_c(s, PI);
    let sb = m.sub(s, b);
    let err = m.c_sub(PI, sb);
    let minus_hi = m.neg(hi);
    let hb = m.sub(minus_hi, b);
    let err = m.add(err, hb);
    let tail = m.add_c(e, PI_LO);
    let tail = m.add(tail, err);
    let left = m.add(s, tail);
    let y_negative = m.lt_c(y, 0.0);
    let x_negative = m.lt_c(x, 0.0);
    let right = m.select(x_negative, left, z);
    let negated = m.neg(right);
    let fast = m.select(y_negative, negated, right);
    let x_ok = m.magnitude_within(x, 0.0, f64::INFINITY);
    let y_ok = m.magnitude_within(y, 0.0, f64::INFINITY);
    let within = m.and(x_ok, y_ok);
    let outside = m.not(within);
    m.patch(Special::Atan2, outside, fast, [y, x])
}

#[cfg(test)]
mod tests {
    use std::f64::consts;

    #[test]
    fn fdlibm_s_digits_are_the_standard_constants() {
        assert_eq!(super::INV_PIO2, consts::FRAC_2_PI);
        assert_eq!(super::PIO4, consts::FRAC_PI_4);
        assert_eq!(super::ATAN_HI[1], consts::FRAC_PI_4);
        assert_eq!(super::ATAN_HI[3], consts::FRAC_PI_2);
        assert_eq!(super::PI, consts::PI);
    }
}

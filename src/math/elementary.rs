//! `exp`, `log`, `log10` and `pow`: fdlibm's e_exp.c, e_log.c, e_log10.c and e_pow.c.

// fdlibm's constants, digit for digit, so they can be checked against the source; those that
// are `std::f64::consts` round to the same doubles (a test checks it).
#![allow(clippy::excessive_precision, clippy::approx_constant)]

use super::{Bits, Special, TO_INT, Vector, VectorExt};

/// Just below the smallest normal double: `|x| > LARGEST_SUBNORMAL` holds for normal `x`.
const LARGEST_SUBNORMAL: f64 = f64::from_bits(0x000F_FFFF_FFFF_FFFF);
const LN2_HI: f64 = 6.93147180369123816490e-01;
const LN2_LO: f64 = 1.90821492927058770002e-10;
const INV_LN2: f64 = 1.44269504088896338700e+00;
const EXP_P: [f64; 5] = [
    1.66666666666666019037e-01,
    -2.77777777770155933842e-03,
    6.61375632143793436117e-05,
    -1.65339022054652515390e-06,
    4.13813679705723846039e-08,
];

/// `e^x`. Fast for `|x| <= 708`, where the result is normal; other lanes are patched.
///
/// `x = k ln2 + r` with `k` the whole number nearest `x/ln2` (ties to even), `r = hi - lo`
/// kept as two parts, then `e^r = 1 - ((lo - r c/(2 - c)) - hi)` with `c = r - r^2 P(r^2)`,
/// and `e^x = 2^k e^r`, exact since the result is normal.
#[inline(always)]
pub fn exp<M: Vector + ?Sized>(m: &mut M, x: M::V) -> M::V {
    let t = m.mul_c(x, INV_LN2);
    let k = m.add_c(t, TO_INT);
    let k = m.sub_c(k, TO_INT);
    let k_hi = m.mul_c(k, LN2_HI);
    let hi = m.sub(x, k_hi);
    let lo = m.mul_c(k, LN2_LO);
    let r = m.sub(hi, lo);
    let r2 = m.mul(r, r);
    let p = m.horner(r2, &EXP_P);
    let p = m.mul(r2, p);
    let c = m.sub(r, p);
    let rc = m.mul(r, c);
    let two_minus_c = m.c_sub(2.0, c);
    let q = m.div(rc, two_minus_c);
    let q = m.sub(lo, q);
    let q = m.sub(q, hi);
    let y = m.c_sub(1.0, q);
    let scale = m.bits(Bits::PowerOfTwo, k);
    let fast = m.mul(y, scale);
    let within = m.magnitude_below(x, 708.0);
    let outside = m.not(within);
    m.patch(Special::Exp, outside, fast, [x, x])
}

const LG: [f64; 7] = [
    6.666666666666735130e-01,
    3.999999999940941908e-01,
    2.857142874366239149e-01,
    2.222219843214978396e-01,
    1.818357216161805012e-01,
    1.531383769920937332e-01,
    1.479819860511658591e-01,
];
/// fdlibm reduces the significand to `[sqrt(2)/2, sqrt(2))` at this high word.
const SQRT2_CUT: u64 = 0x3FF6_A09E_0000_0000;

/// The common part of `log` and `log10` for positive normal `x`: `x = 2^k (1 + f)` and
/// `log(1 + f) = f - hfsq + s (hfsq + R)`. Returns `(k, f, hfsq, s (hfsq + R))`.
#[inline(always)]
fn log_parts<M: Vector + ?Sized>(m: &mut M, x: M::V) -> [M::V; 4] {
    let significand = m.bits(Bits::Significand, x);
    let exponent = m.bits(Bits::Exponent, x);
    let above = m.ge_c(significand, f64::from_bits(SQRT2_CUT));
    let halved = m.mul_c(significand, 0.5);
    let reduced = m.select(above, halved, significand);
    let carry = m.select_c(above, 1.0, 0.0);
    let k = m.add(exponent, carry);
    let f = m.sub_c(reduced, 1.0);
    let half_f = m.mul_c(f, 0.5);
    let hfsq = m.mul(half_f, f);
    let two = m.constant(2.0);
    let denominator = m.add(two, f);
    let s = m.div(f, denominator);
    let z = m.mul(s, s);
    let w = m.mul(z, z);
    let t1 = m.horner(w, &[LG[1], LG[3], LG[5]]);
    let t1 = m.mul(w, t1);
    let t2 = m.horner(w, &[LG[0], LG[2], LG[4], LG[6]]);
    let t2 = m.mul(z, t2);
    let r = m.add(t2, t1);
    let hfsq_r = m.add(hfsq, r);
    let tail = m.mul(s, hfsq_r);
    [k, f, hfsq, tail]
}

/// Lanes `log` and `log10` compute fast: positive, normal and finite.
#[inline(always)]
fn outside_log_domain<M: Vector + ?Sized>(m: &mut M, x: M::V) -> M::V {
    let low = m.ge_c(x, f64::MIN_POSITIVE);
    let high = m.lt_c(x, f64::INFINITY);
    let within = m.and(low, high);
    m.not(within)
}

/// The natural logarithm: `k ln2_hi + (f - hfsq + s (hfsq + R) + k ln2_lo)` in fdlibm's
/// order. The same bits as `libm::log` for positive normal `x`; other lanes are patched.
#[inline(always)]
pub fn log<M: Vector + ?Sized>(m: &mut M, x: M::V) -> M::V {
    let [k, f, hfsq, tail] = log_parts(m, x);
    let k_lo = m.mul_c(k, LN2_LO);
    let v = m.add(tail, k_lo);
    let v = m.sub(v, hfsq);
    let v = m.add(v, f);
    let k_hi = m.mul_c(k, LN2_HI);
    let fast = m.add(v, k_hi);
    let outside = outside_log_domain(m, x);
    m.patch(Special::Log, outside, fast, [x, x])
}

const IVLN10_HI: f64 = 4.34294481878168880939e-01;
const IVLN10_LO: f64 = 2.50829467116452752298e-11;
const LOG10_2_HI: f64 = 3.01029995663611771306e-01;
const LOG10_2_LO: f64 = 3.69423907715893078616e-13;

/// The base-10 logarithm, with `log(1 + f)` split into a 21-bit `hi` so `hi / ln10` is exact.
/// The same bits as `libm::log10` for positive normal `x`; other lanes are patched.
#[inline(always)]
pub fn log10<M: Vector + ?Sized>(m: &mut M, x: M::V) -> M::V {
    let [k, f, hfsq, tail] = log_parts(m, x);
    let hi = m.sub(f, hfsq);
    let hi = m.bits(Bits::HighWord, hi);
    let lo = m.sub(f, hi);
    let lo = m.sub(lo, hfsq);
    let lo = m.add(lo, tail);
    let val_hi = m.mul_c(hi, IVLN10_HI);
    let y = m.mul_c(k, LOG10_2_HI);
    let val_lo = m.mul_c(k, LOG10_2_LO);
    let lo_hi = m.add(lo, hi);
    let term = m.mul_c(lo_hi, IVLN10_LO);
    let val_lo = m.add(val_lo, term);
    let term = m.mul_c(lo, IVLN10_HI);
    let val_lo = m.add(val_lo, term);
    let w = m.add(y, val_hi);
    let correction = m.sub(y, w);
    let correction = m.add(correction, val_hi);
    let val_lo = m.add(val_lo, correction);
    let fast = m.add(val_lo, w);
    let outside = outside_log_domain(m, x);
    m.patch(Special::Log10, outside, fast, [x, x])
}

const DP_H1: f64 = 5.84962487220764160156e-01;
const DP_L1: f64 = 1.35003920212974897128e-08;
const POW_L: [f64; 6] = [
    5.99999999999994648725e-01,
    4.28571428578550184252e-01,
    3.33333329818377432918e-01,
    2.72728123808534006489e-01,
    2.30660745775561754067e-01,
    2.06975017800338417784e-01,
];
const LG2: f64 = 6.93147180559945286227e-01;
const LG2_H: f64 = 6.93147182464599609375e-01;
const LG2_L: f64 = -1.90465429995776804525e-09;
const CP: f64 = 9.61796693925975554329e-01;
const CP_H: f64 = 9.61796700954437255859e-01;
const CP_L: f64 = -7.02846165095275826516e-09;

/// `x^y`, fdlibm's algorithm: `log2|x|` in extra precision (`t1 + t2`), times `y` split into
/// `y1 + y2`, then `2^z` with the integer part of `z` scaled in exactly. `y = 1`, `-1` and
/// `1/2` give `x`, `1/x` and `sqrt(x)` exactly (fdlibm's, patched), `y = 2` gives `x*x`, and a negative `x` with a whole
/// `y` takes the sign of `(-1)^y`. Fast for normal finite `x != 0` and finite `y` with
/// `|y| < 2^31` (and `x > 0` or `y` whole); other lanes are patched.
#[inline(always)]
pub fn pow<M: Vector + ?Sized>(m: &mut M, x: M::V, y: M::V) -> M::V {
    let ax = m.abs(x);
    // x = 2^n * ax with ax in [1, sqrt(3)) split at sqrt(3/2): k selects bp = 1 or 1.5.
    let significand = m.bits(Bits::Significand, ax);
    let exponent = m.bits(Bits::Exponent, ax);
    let high = m.bits(Bits::HighWord, significand);
    let beyond_sqrt3 = m.ge_c(high, f64::from_bits(0x3FFB_B67A_0000_0000));
    let sqrt_1_5 = m.constant(f64::from_bits(0x3FF3_988E_0000_0000));
    let above_sqrt_1_5 = m.lt(sqrt_1_5, high);
    let not_beyond = m.not(beyond_sqrt3);
    let k1 = m.and(above_sqrt_1_5, not_beyond);
    let halved = m.mul_c(significand, 0.5);
    let ax = m.select(beyond_sqrt3, halved, significand);
    let carry = m.select_c(beyond_sqrt3, 1.0, 0.0);
    let n = m.add(exponent, carry);
    let bp = m.select_c(k1, 1.5, 1.0);
    let dp_h = m.select_c(k1, DP_H1, 0.0);
    let dp_l = m.select_c(k1, DP_L1, 0.0);
    // ss = s_h + s_l = (ax - bp) / (ax + bp)
    let u = m.sub(ax, bp);
    let sum = m.add(ax, bp);
    let one = m.constant(1.0);
    let v = m.div(one, sum);
    let ss = m.mul(u, v);
    let s_h = m.bits(Bits::HighWord, ss);
    let t_h = m.bits(Bits::HighWord, sum);
    let t_h_bp = m.sub(t_h, bp);
    let t_l = m.sub(ax, t_h_bp);
    let sht = m.mul(s_h, t_h);
    let e = m.sub(u, sht);
    let shl = m.mul(s_h, t_l);
    let e = m.sub(e, shl);
    let s_l = m.mul(v, e);
    // log(ax)
    let s2 = m.mul(ss, ss);
    let s4 = m.mul(s2, s2);
    let poly = m.horner(s2, &POW_L);
    let r = m.mul(s4, poly);
    let sh_ss = m.add(s_h, ss);
    let term = m.mul(s_l, sh_ss);
    let r = m.add(r, term);
    let s2 = m.mul(s_h, s_h);
    let t_h = m.add_c(s2, 3.0);
    let t_h = m.add(t_h, r);
    let t_h = m.bits(Bits::HighWord, t_h);
    let t_l = m.sub_c(t_h, 3.0);
    let t_l = m.sub(t_l, s2);
    let t_l = m.sub(r, t_l);
    // u + v = ss (1 + ...)
    let u = m.mul(s_h, t_h);
    let v1 = m.mul(s_l, t_h);
    let v2 = m.mul(t_l, ss);
    let v = m.add(v1, v2);
    // 2/(3 log2) (ss + ...)
    let p_h = m.add(u, v);
    let p_h = m.bits(Bits::HighWord, p_h);
    let p_l = m.sub(p_h, u);
    let p_l = m.sub(v, p_l);
    let z_h = m.mul_c(p_h, CP_H);
    let z_l = m.mul_c(p_h, CP_L);
    let term = m.mul_c(p_l, CP);
    let z_l = m.add(z_l, term);
    let z_l = m.add(z_l, dp_l);
    // log2(ax) = n + dp_h + z_h + z_l = t1 + t2
    let t1 = m.add(z_h, z_l);
    let t1 = m.add(t1, dp_h);
    let t1 = m.add(t1, n);
    let t1 = m.bits(Bits::HighWord, t1);
    let t2 = m.sub(t1, n);
    let t2 = m.sub(t2, dp_h);
    let t2 = m.sub(t2, z_h);
    let t2 = m.sub(z_l, t2);
    // (y1 + y2) (t1 + t2)
    let y1 = m.bits(Bits::HighWord, y);
    let y2 = m.sub(y, y1);
    let p_l = m.mul(y2, t1);
    let term = m.mul(y, t2);
    let p_l = m.add(p_l, term);
    let p_h = m.mul(y1, t1);
    let z = m.add(p_l, p_h);
    // 2^(p_h + p_l): the nearest whole number to z (by its high word) comes out exactly.
    let az = m.abs(z);
    let az_high = m.bits(Bits::HighWord, az);
    let whole = m.add_c(az_high, 0.5);
    let whole = m.floor(whole);
    let z_negative = m.lt_c(z, 0.0);
    let negated = m.neg(whole);
    let whole = m.select(z_negative, negated, whole);
    let p_h = m.sub(p_h, whole);
    let t = m.add(p_l, p_h);
    let t = m.bits(Bits::HighWord, t);
    let u = m.mul_c(t, LG2_H);
    let v = m.sub(t, p_h);
    let v = m.sub(p_l, v);
    let v = m.mul_c(v, LG2);
    let term = m.mul_c(t, LG2_L);
    let v = m.add(v, term);
    let z = m.add(u, v);
    let w = m.sub(z, u);
    let w = m.sub(v, w);
    let t = m.mul(z, z);
    let poly = m.horner(t, &EXP_P);
    let poly = m.mul(t, poly);
    let t1 = m.sub(z, poly);
    let zt1 = m.mul(z, t1);
    let t1_minus_2 = m.sub_c(t1, 2.0);
    let r = m.div(zt1, t1_minus_2);
    let zw = m.mul(z, w);
    let wzw = m.add(w, zw);
    let r = m.sub(r, wzw);
    let r = m.sub(r, z);
    let z = m.c_sub(1.0, r);
    let magnitude = m.scale(z, whole);
    // The sign of (-1)^y for negative x and whole y.
    let y_floor = m.floor(y);
    let y_whole = m.eq(y_floor, y);
    let half_y = m.mul_c(y, 0.5);
    let half_floor = m.floor(half_y);
    let y_odd = m.ne(half_floor, half_y);
    let y_odd = m.and(y_whole, y_odd);
    let x_negative = m.lt_c(x, 0.0);
    let flip = m.and(x_negative, y_odd);
    let negated = m.neg(magnitude);
    let fast = m.select(flip, negated, magnitude);
    // The fast domain; `y = 1`, `-1` and `1/2` are fdlibm's exact cases (`x`, `1/x`,
    // `sqrt(x)`), which the patch gives: rare lanes, so no lane pays for a root and a division.
    let x_not_negative = m.not(x_negative);
    let x_normal = m.magnitude_within(x, LARGEST_SUBNORMAL, f64::INFINITY);
    let y_moderate = m.magnitude_below(y, 2147483648.0);
    let y_whole_or_x_positive = m.or(y_whole, x_not_negative);
    let within = m.and(x_normal, y_moderate);
    let within = m.and(within, y_whole_or_x_positive);
    let outside = m.not(within);
    let mut exact = m.eq(y, one);
    for special_y in [-1.0, 0.5] {
        let special_y = m.constant(special_y);
        let is = m.eq(y, special_y);
        exact = m.or(exact, is);
    }
    let outside = m.or(outside, exact);
    let value = m.patch(Special::Pow, outside, fast, [x, y]);
    // The compiler turns `x^2` into `x*x`; a 2 known only at run time gives the same.
    let two = m.constant(2.0);
    let y_is_two = m.eq(y, two);
    let square = m.mul(x, x);
    m.select(y_is_two, square, value)
}

#[cfg(test)]
mod tests {
    use std::f64::consts;

    #[test]
    fn fdlibm_s_digits_are_the_standard_constants() {
        assert_eq!(super::INV_LN2, consts::LOG2_E);
        assert_eq!(super::LG2, consts::LN_2);
    }
}

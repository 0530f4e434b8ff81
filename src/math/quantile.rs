//! The draws' transforms of one uniform into one value: the normal quantile (Wichura's AS 241)
//! and the exponential's `-log(1 - u) / rate`.

// The coefficients are copied digit for digit from the published algorithm so they can be
// checked against it; the compiler rounds them to the nearest f64.
#![allow(clippy::excessive_precision)]

use super::{Scalar, Special, Vector, VectorExt, log};

const A: [f64; 8] = [
    3.387_132_872_796_366_608,
    133.141_667_891_784_377_45,
    1_971.590_950_306_551_442_7,
    13_731.693_765_509_461_125,
    45_921.953_931_549_871_457,
    67_265.770_927_008_700_853,
    33_430.575_583_588_128_105,
    2_509.080_928_730_122_672_7,
];
const B: [f64; 8] = [
    1.0,
    42.313_330_701_600_911_252,
    687.187_007_492_057_908_3,
    5_394.196_021_424_751_107_7,
    21_213.794_301_586_595_867,
    39_307.895_800_092_710_61,
    28_729.085_735_721_942_674,
    5_226.495_278_852_854_561,
];
const C: [f64; 8] = [
    1.423_437_110_749_683_577_34,
    4.630_337_846_156_545_295_9,
    5.769_497_221_460_691_405_5,
    3.647_848_324_763_204_605_04,
    1.270_458_252_452_368_382_58,
    0.241_780_725_177_450_611_77,
    0.022_723_844_989_269_184_583_3,
    7.745_450_142_783_414_076_4e-4,
];
const D: [f64; 8] = [
    1.0,
    2.053_191_626_637_758_821_87,
    1.676_384_830_183_803_849_4,
    0.689_767_334_985_100_004_55,
    0.148_103_976_427_480_074_59,
    0.015_198_666_563_616_457_196_6,
    5.475_938_084_995_344_946e-4,
    1.050_750_071_644_416_843_24e-9,
];
const E: [f64; 8] = [
    6.657_904_643_501_103_777_2,
    5.463_784_911_164_114_369_9,
    1.784_826_539_917_291_335_8,
    0.296_560_571_828_504_891_23,
    0.026_532_189_526_576_123_093,
    0.001_242_660_947_388_078_438_6,
    2.711_555_568_743_487_578_15e-5,
    2.010_334_399_292_288_132_65e-7,
];
const F: [f64; 8] = [
    1.0,
    0.599_832_206_555_887_937_69,
    0.136_929_880_922_735_805_31,
    0.014_875_361_290_850_614_852_5,
    7.868_691_311_456_132_591e-4,
    1.846_318_317_510_054_681_8e-5,
    1.421_511_758_316_445_888_7e-7,
    2.044_263_103_389_939_785_64e-15,
];
/// AS 241 one value at a time, its polynomials in Estrin's order: the definition the vector
/// form follows, and the value of the lanes it patches (`r > 5`, `p` below about 1.4e-11).
pub fn as241(p: f64) -> f64 {
    fn ratio(numerator: &[f64; 8], denominator: &[f64; 8], x: f64) -> f64 {
        let powers = Scalar.estrin_powers(x);
        Scalar.estrin8(powers, numerator) / Scalar.estrin8(powers, denominator)
    }
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180_625 - q * q;
        let powers = Scalar.estrin_powers(r);
        return q * Scalar.estrin8(powers, &A) / Scalar.estrin8(powers, &B);
    }
    let tail = if q < 0.0 { p } else { 1.0 - p };
    let r = (-libm::log(tail)).sqrt();
    let magnitude = if r <= 5.0 {
        ratio(&C, &D, r - 1.6)
    } else {
        ratio(&E, &F, r - 5.0)
    };
    if q < 0.0 { -magnitude } else { magnitude }
}

/// The standard normal quantile of `p` in (0, 1), Wichura's AS 241 (PPND16), accurate to about
/// 1e-16 relative. Every lane computes the central branch (`|p - 1/2| <= 0.425`) and the tail
/// branch (`r = sqrt(-log(min(p, 1 - p)))` for `r <= 5`), then keeps its own branch's
/// numerator and denominator for one division; the far tail (`r > 5`) is patched with
/// [`as241`]. Each lane does exactly the operations of [`as241`], whose polynomials are in
/// Estrin's order since hpcsub 0.3 (0.1 and 0.2 used Horner's, as published; Estrin's chain
/// is less than half as deep, the normal jobs run about 11% faster, and the last bits of their
/// values changed). (The loops use its two halves instead,
/// [`normal_quantile_central`] and [`normal_quantile_tail`], to compute the tail branch only
/// in tail lanes.)
#[inline(always)]
pub fn normal_quantile<M: Vector + ?Sized>(m: &mut M, p: M::V) -> M::V {
    let q = m.sub_c(p, 0.5);
    let central = is_central(m, q);
    let (central_numerator, central_denominator) = central_ratio(m, q);
    let (negative, tail_numerator, tail_denominator, far) = tail_ratio(m, p, q);
    let numerator = m.select(central, central_numerator, tail_numerator);
    let denominator = m.select(central, central_denominator, tail_denominator);
    let value = m.div(numerator, denominator);
    let in_tail = m.not(central);
    let flip = m.and(in_tail, negative);
    let negated = m.neg(value);
    let value = m.select(flip, negated, value);
    m.patch(Special::NormalQuantile, far, value, [p, p])
}

/// [`normal_quantile`] of a central `p` (`|p - 1/2| <= 0.425`), the same operations, and whether
/// `p` is central. For a loop that computes only the tail lanes' branch (with
/// [`normal_quantile_tail`]) instead of both branches in every lane: the same values.
#[inline(always)]
pub fn normal_quantile_central<M: Vector + ?Sized>(m: &mut M, p: M::V) -> (M::V, M::V) {
    let q = m.sub_c(p, 0.5);
    let central = is_central(m, q);
    let (numerator, denominator) = central_ratio(m, q);
    (m.div(numerator, denominator), central)
}

/// [`normal_quantile`] of a `p` in the tails (`|p - 1/2| > 0.425`), the same operations.
#[inline(always)]
pub fn normal_quantile_tail<M: Vector + ?Sized>(m: &mut M, p: M::V) -> M::V {
    let q = m.sub_c(p, 0.5);
    let (negative, numerator, denominator, far) = tail_ratio(m, p, q);
    let value = m.div(numerator, denominator);
    let negated = m.neg(value);
    let value = m.select(negative, negated, value);
    m.patch(Special::NormalQuantile, far, value, [p, p])
}

#[inline(always)]
fn is_central<M: Vector + ?Sized>(m: &mut M, q: M::V) -> M::V {
    let aq = m.abs(q);
    let limit = m.constant(0.425);
    m.le(aq, limit)
}

/// The central branch's numerator and denominator, of `q = p - 1/2`.
#[inline(always)]
fn central_ratio<M: Vector + ?Sized>(m: &mut M, q: M::V) -> (M::V, M::V) {
    let qq = m.mul(q, q);
    let r = m.c_sub(0.180_625, qq);
    let powers = m.estrin_powers(r);
    let a = m.estrin8(powers, &A);
    let numerator = m.mul(q, a);
    (numerator, m.estrin8(powers, &B))
}

/// Whether `q = p - 1/2` is negative, the tail branch's numerator and denominator (of its
/// magnitude), and whether `p` is in the far tail (`r > 5`), which they do not cover.
#[inline(always)]
fn tail_ratio<M: Vector + ?Sized>(m: &mut M, p: M::V, q: M::V) -> (M::V, M::V, M::V, M::V) {
    let negative = m.lt_c(q, 0.0);
    let complement = m.c_sub(1.0, p);
    let tail = m.select(negative, p, complement);
    let log_tail = log(m, tail);
    let minus_log = m.neg(log_tail);
    let r = m.sqrt(minus_log);
    let five = m.constant(5.0);
    let far = m.lt(five, r);
    let r = m.sub_c(r, 1.6);
    let powers = m.estrin_powers(r);
    let numerator = m.estrin8(powers, &C);
    let denominator = m.estrin8(powers, &D);
    (negative, numerator, denominator, far)
}

/// An exponential value of rate `rate` from `complement = 1 - u`, `u` uniform in [0, 1):
/// `-log(1 - u) / rate`, computed as `log(1 - u) / -rate`, which is the same double (IEEE
/// division is exact up to one rounding that is symmetric in sign), one operation fewer.
#[inline(always)]
pub fn exponential<M: Vector + ?Sized>(m: &mut M, complement: M::V, rate: M::V) -> M::V {
    let log_complement = m.call(Special::Log, [complement, complement]);
    let minus_rate = m.neg(rate);
    m.div(log_complement, minus_rate)
}

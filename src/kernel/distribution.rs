//! Turning the raw 64-bit outputs of a stream into a distribution's values. Each value uses
//! exactly one output, so sample `i` of a var always uses output `i` of its stream.

use super::rng::{Lanes, open_unit_interval, unit_interval};
use crate::expr::Distribution;

/// Fills `out` with the next values of `distribution` from `lanes`.
#[inline(always)]
pub fn draw(distribution: Distribution, lanes: &mut Lanes, out: &mut [f64]) {
    match distribution {
        Distribution::Uniform { low, high } => {
            let width = high - low;
            lanes.fill(out, |x| low + width * unit_interval(x));
        }
        Distribution::Exponential { rate } => {
            lanes.fill(out, |x| -libm::log(1.0 - unit_interval(x)) / rate);
        }
        Distribution::Normal { mean, sd } => {
            lanes.fill(out, |x| {
                mean + sd * inverse_normal_cdf(open_unit_interval(x))
            });
        }
        Distribution::Index => unreachable!("index() draws no random numbers"),
    }
}

/// The standard normal quantile for `p` in (0, 1): Wichura's algorithm AS 241 (PPND16), accurate
/// to about 1e-16 relative. One uniform in, one normal out, which keeps streams aligned.
// The coefficients are copied digit for digit from the published algorithm so they can be
// checked against it; the compiler rounds them to the nearest f64.
#[allow(clippy::excessive_precision)]
pub fn inverse_normal_cdf(p: f64) -> f64 {
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
    fn polynomial(coefficients: &[f64; 8], x: f64) -> f64 {
        coefficients.iter().rev().fold(0.0, |acc, c| acc * x + c)
    }
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180_625 - q * q;
        return q * polynomial(&A, r) / polynomial(&B, r);
    }
    let tail = if q < 0.0 { p } else { 1.0 - p };
    let r = (-libm::log(tail)).sqrt();
    let magnitude = if r <= 5.0 {
        let r = r - 1.6;
        polynomial(&C, r) / polynomial(&D, r)
    } else {
        let r = r - 5.0;
        polynomial(&E, r) / polynomial(&F, r)
    };
    if q < 0.0 { -magnitude } else { magnitude }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal_cdf(x: f64) -> f64 {
        0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
    }

    #[test]
    fn known_quantiles() {
        assert_eq!(inverse_normal_cdf(0.5), 0.0);
        assert!((inverse_normal_cdf(0.975) - 1.959_963_984_540_054).abs() < 1e-15);
        assert!((inverse_normal_cdf(0.025) + 1.959_963_984_540_054).abs() < 1e-15);
        assert!((inverse_normal_cdf(1e-10) + 6.361_340_902_404_056).abs() < 1e-13);
    }

    #[test]
    fn inverts_the_cdf_everywhere() {
        // The stream's smallest p is 2^-53; far tails are checked down to 1e-300. An error of
        // one ulp in x moves the cdf by about (1 + x^2) ulps, relative to the tail probability.
        let mut p = 1e-300;
        while p < 1.0 {
            let x = inverse_normal_cdf(p);
            let back = normal_cdf(x);
            let tail = p.min(1.0 - p);
            let tolerance = 4.0 * f64::EPSILON * (1.0 + x * x) * tail;
            assert!((back - p).abs() <= tolerance, "p={p} x={x} back={back}");
            p *= 1.7;
        }
    }

    #[test]
    fn symmetric() {
        for p in [0.001, 0.1, 0.3, 0.42] {
            assert!((inverse_normal_cdf(p) + inverse_normal_cdf(1.0 - p)).abs() < 1e-14);
        }
    }
}

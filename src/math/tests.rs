//! The vector math against MPFR: at most one ulp from the correctly rounded value over 10^7
//! arguments per function, random over the whole domain plus edge cases. The maxima measured
//! are written in docs/reproducibility.md; `cargo test --release --lib accuracy --
//! --nocapture` prints them.

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rug::Float;
use rug::float::Round;
use rug::ops::Pow;

use super::*;

const PRECISION: u32 = 160;

/// The functions of the language (the normal quantile is checked against the normal cdf).
fn functions() -> impl Iterator<Item = Special> {
    Special::ALL
        .into_iter()
        .filter(|&special| special != Special::NormalQuantile)
}

/// Arguments per function.
const ARGUMENTS: usize = 10_000_000;

fn reference(special: Special, a: f64, b: f64) -> Float {
    let x = Float::with_val(PRECISION, a);
    let y = Float::with_val(PRECISION, b);
    match special {
        Special::Exp => x.exp(),
        Special::Log => x.ln(),
        Special::Log10 => x.log10(),
        Special::Sin => x.sin(),
        Special::Cos => x.cos(),
        Special::Tan => x.tan(),
        Special::Atan2 => x.atan2(&y),
        Special::Pow => x.pow(&y),
        Special::NormalQuantile => unreachable!("AS 241 is checked against the normal cdf"),
    }
}

/// How far `ours` is from `exact`, in units of the last place of doubles at `exact`, and
/// whether it is within one ulp of the correctly rounded double.
fn error(ours: f64, exact: &Float) -> (f64, bool) {
    let rounded = exact.to_f64_round(Round::Nearest);
    if rounded.is_nan() || ours.is_nan() {
        let agree = rounded.is_nan() && ours.is_nan();
        return (if agree { 0.0 } else { f64::INFINITY }, agree);
    }
    if rounded.is_infinite() || ours.is_infinite() || rounded == 0.0 && ours == 0.0 {
        let agree = rounded == ours && rounded.is_sign_negative() == ours.is_sign_negative();
        return (if agree { 0.0 } else { f64::INFINITY }, agree);
    }
    let exponent = exact.get_exp().unwrap_or(-1074);
    let ulp = Float::with_val(PRECISION, 1) << (exponent - 53).max(-1074);
    let difference = Float::with_val(PRECISION, ours) - exact;
    let ulps = (difference.abs() / ulp).to_f64();
    let steps = (ours.to_bits() as i64).abs_diff(rounded.to_bits() as i64);
    let same_sign = ours.is_sign_negative() == rounded.is_sign_negative();
    (ulps, same_sign && steps <= 1)
}

/// A double with uniformly random bits: every exponent equally likely, NaN and infinities
/// included.
fn any_bits(rng: &mut Xoshiro256PlusPlus) -> f64 {
    f64::from_bits(rng.next_u64())
}

fn uniform(rng: &mut Xoshiro256PlusPlus, low: f64, high: f64) -> f64 {
    low + (high - low) * ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
}

/// The `i`-th random argument (pair) of `special`: mostly where jobs use the function, the
/// rest over every double.
fn argument(special: Special, rng: &mut Xoshiro256PlusPlus) -> (f64, f64) {
    let pick = rng.next_u64() % 100;
    let one = |x: f64| (x, x);
    match special {
        Special::Exp => one(match pick {
            0..60 => uniform(rng, -745.2, 709.8),
            60..90 => uniform(rng, -40.0, 40.0),
            _ => any_bits(rng),
        }),
        Special::Log | Special::Log10 => one(match pick {
            0..70 => f64::from_bits(rng.next_u64() >> 1),
            70..90 => uniform(rng, 0.7, 1.3),
            _ => any_bits(rng),
        }),
        Special::Sin | Special::Cos | Special::Tan => one(match pick {
            0..50 => uniform(rng, -10.0, 10.0),
            50..80 => uniform(rng, -1_647_099.0, 1_647_099.0),
            80..99 => uniform(rng, -1.0, 1.0) * 2f64.powi(-((rng.next_u64() % 60) as i32)),
            _ => any_bits(rng),
        }),
        Special::Atan2 => match pick {
            0..50 => (uniform(rng, -10.0, 10.0), uniform(rng, -10.0, 10.0)),
            50..90 => (any_bits(rng), any_bits(rng)),
            _ => (uniform(rng, -1e-3, 1e-3), uniform(rng, -1e3, 1e3)),
        },
        Special::Pow => match pick {
            0..40 => (uniform(rng, 0.0, 10.0), uniform(rng, -50.0, 50.0)),
            40..70 => {
                let x = f64::from_bits(rng.next_u64() >> 1);
                let reach = 1000.0 / x.log2().abs().max(1.0);
                (x, uniform(rng, -reach, reach))
            }
            70..90 => (
                uniform(rng, -10.0, 10.0),
                (rng.next_u64() % 61) as f64 - 30.0,
            ),
            _ => (any_bits(rng), any_bits(rng)),
        },
        Special::NormalQuantile => unreachable!("AS 241 is checked against the normal cdf"),
    }
}

const EDGES: [f64; 24] = [
    0.0,
    -0.0,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
    f64::MIN_POSITIVE,
    -f64::MIN_POSITIVE,
    5e-324,
    -5e-324,
    f64::MAX,
    f64::MIN,
    1.0,
    -1.0,
    0.5,
    2.0,
    708.0,
    -708.0,
    709.782712893384,
    -745.1332191019411,
    std::f64::consts::FRAC_PI_4,
    0.6744,
    1_647_099.0,
    1e22,
    1.0 / 134_217_728.0,
];

struct Measured {
    max_ulps: f64,
    worst: (f64, f64),
    beyond_one_ulp: Vec<(f64, f64, f64)>,
}

fn measure(special: Special, arguments: impl Iterator<Item = (f64, f64)>) -> Measured {
    let mut measured = Measured {
        max_ulps: 0.0,
        worst: (0.0, 0.0),
        beyond_one_ulp: Vec::new(),
    };
    for (a, b) in arguments {
        let ours = scalar(special, a, b);
        let (ulps, within) = error(ours, &reference(special, a, b));
        if ulps > measured.max_ulps {
            measured.max_ulps = ulps;
            measured.worst = (a, b);
        }
        if !within && measured.beyond_one_ulp.len() < 10 {
            measured.beyond_one_ulp.push((a, b, ours));
        }
    }
    measured
}

#[test]
fn accuracy_against_mpfr() {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let count = std::env::var("HPCSUB_ACCURACY_ARGUMENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(ARGUMENTS);
    let mut report = Vec::new();
    for special in functions() {
        let edges: Vec<(f64, f64)> = EDGES
            .iter()
            .flat_map(|&a| EDGES.iter().map(move |&b| (a, b)))
            .collect();
        let mut parts = vec![measure(special, edges.into_iter())];
        parts.extend(std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    scope.spawn(move || {
                        let mut rng = Xoshiro256PlusPlus::seed_from_u64(t as u64 + 1);
                        let share = count / threads + usize::from(t < count % threads);
                        measure(special, (0..share).map(|_| argument(special, &mut rng)))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a measuring thread"))
                .collect::<Vec<_>>()
        }));
        let worst = parts
            .iter()
            .max_by(|x, y| x.max_ulps.total_cmp(&y.max_ulps))
            .expect("parts");
        let beyond: Vec<_> = parts
            .iter()
            .flat_map(|p| p.beyond_one_ulp.clone())
            .collect();
        println!(
            "{:6} max {:.3} ulp at {:?} over {} arguments",
            special.name(),
            worst.max_ulps,
            worst.worst,
            count + EDGES.len() * EDGES.len()
        );
        report.push((special, worst.max_ulps, beyond));
    }
    for (special, _, beyond) in &report {
        assert!(
            beyond.is_empty(),
            "{}: more than one ulp from the correctly rounded value at {beyond:?}",
            special.name()
        );
    }
}

/// The exact standard normal quantile of `p`, by Newton's method on MPFR's `erfc` from `start`
/// (a double within a few ulps): each step about squares the relative error, so two steps from
/// 10^-15 leave less than 10^-45.
fn exact_normal_quantile(p: f64, start: f64) -> Float {
    let p = Float::with_val(PRECISION, p);
    let sqrt_2 = Float::with_val(PRECISION, 2).sqrt();
    let sqrt_2pi = (Float::with_val(PRECISION, rug::float::Constant::Pi) * 2u32).sqrt();
    let mut x = Float::with_val(PRECISION, start);
    for _ in 0..2 {
        let cdf = (-(x.clone() / &sqrt_2)).erfc() / 2u32;
        let density = (-(x.clone().square() / 2u32)).exp() / &sqrt_2pi;
        x -= (cdf - &p) / density;
    }
    x
}

/// The `p` of the normal draws: mostly the stream's own grid (`from_bits(...) - (1 - 2^-53)`),
/// the rest spread evenly over the exponents down to the smallest, `2^-53`, on either side.
fn normal_probability(rng: &mut Xoshiro256PlusPlus) -> f64 {
    let grid =
        f64::from_bits(0x3FF0_0000_0000_0000 | rng.next_u64() >> 12) - (1.0 - f64::EPSILON / 2.0);
    if rng.next_u64() % 100 < 70 {
        return grid;
    }
    let tail = (grid + 1.0) / 2.0 * 2f64.powi(-((rng.next_u64() % 53) as i32));
    if rng.next_u64().is_multiple_of(2) {
        tail
    } else {
        1.0 - tail
    }
}

/// Draws' values against the exact quantile. Each draw is a few ulps at most from it; the
/// maximum measured over 10^7 points is in docs/reproducibility.md
/// (`HPCSUB_ACCURACY_ARGUMENTS=10000000 cargo test --release --lib normal_quantile_accuracy --
/// --nocapture`, 9 minutes on 2 cores); `cargo test` checks 10^5.
#[test]
fn normal_quantile_accuracy_against_mpfr() {
    let count: usize = std::env::var("HPCSUB_ACCURACY_ARGUMENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(ARGUMENTS / 100);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let extremes = [
        f64::EPSILON / 2.0,
        0.5,
        1.0 - f64::EPSILON / 2.0,
        0.975,
        0.025,
    ];
    let worst = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut rng = Xoshiro256PlusPlus::seed_from_u64(100 + t as u64);
                    let share = count / threads + usize::from(t < count % threads);
                    let points: Vec<f64> =
                        (0..share).map(|_| normal_probability(&mut rng)).collect();
                    let points = points
                        .into_iter()
                        .chain((t == 0).then_some(extremes).into_iter().flatten());
                    points
                        .map(|p| {
                            let ours = scalar(Special::NormalQuantile, p, p);
                            (error(ours, &exact_normal_quantile(p, ours)).0, p)
                        })
                        .max_by(|a, b| a.0.total_cmp(&b.0))
                        .expect("points")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a measuring thread"))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .expect("threads")
    });
    println!(
        "normal quantile max {:.3} ulp at p = {:e} over {count} points",
        worst.0, worst.1
    );
    assert!(worst.0 < 8.0, "{worst:?}");
}

#[test]
fn log_and_log10_give_the_bits_of_libm_on_normal_numbers() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    for _ in 0..100_000 {
        let x = f64::from_bits(rng.next_u64() >> 1);
        assert_eq!(
            scalar(Special::Log, x, x).to_bits(),
            libm::log(x).to_bits(),
            "{x}"
        );
        assert_eq!(
            scalar(Special::Log10, x, x).to_bits(),
            libm::log10(x).to_bits(),
            "{x}"
        );
    }
}

#[test]
fn special_values_are_libm_s() {
    for special in functions() {
        for &a in &EDGES {
            for &b in &EDGES {
                let ours = scalar(special, a, b);
                let theirs = special.fallback(a, b);
                assert!(
                    ours.to_bits() == theirs.to_bits()
                        || (ours.is_nan() && theirs.is_nan())
                        || (ours - theirs).abs() <= 2.0 * f64::EPSILON * theirs.abs(),
                    "{}({a}, {b}) = {ours}, libm {theirs}",
                    special.name()
                );
            }
        }
    }
    assert_eq!(
        scalar(Special::Sin, -0.0, 0.0).to_bits(),
        (-0.0f64).to_bits()
    );
    assert_eq!(scalar(Special::Pow, 3.0, 2.0), 9.0);
    assert_eq!(scalar(Special::Pow, -2.0, 3.0), -8.0);
    assert_eq!(scalar(Special::Pow, 2.0, 0.5), std::f64::consts::SQRT_2);
}

#[test]
fn scale_rounds_once_into_the_subnormals() {
    assert_eq!(scale(1.5, 3.0), 12.0);
    assert_eq!(scale(1.0, -1074.0), 5e-324);
    assert_eq!(scale(1.5, -1074.0), 1e-323);
    assert_eq!(scale(1.0, 1024.0), f64::INFINITY);
    assert_eq!(scale(1.0, f64::NAN), 0.0);
    assert_eq!(scale(1.0, f64::INFINITY), f64::INFINITY);
}

fn inverse_normal_cdf(p: f64) -> f64 {
    normal_quantile(&mut Scalar, p)
}

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

#[test]
fn the_vector_normal_quantile_gives_the_bits_of_as241() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
    let far_tail = [1e-300, 2f64.powi(-53), 1e-12, 1.0 - 2f64.powi(-53)];
    let grid = (0..1_000_000).map(|_| {
        f64::from_bits(0x3FF0_0000_0000_0000 | rng.next_u64() >> 12) - (1.0 - f64::EPSILON / 2.0)
    });
    for p in grid.chain(far_tail) {
        let ours = normal_quantile(&mut Scalar, p);
        assert_eq!(ours.to_bits(), quantile::as241(p).to_bits(), "p = {p}");
    }
}

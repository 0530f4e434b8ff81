//! Double-double arithmetic (about 106 significant bits), used once per run to derive mean,
//! variance and standard deviation from exact sums without losing precision when mean >> std.
//! Algorithms from Dekker (1971) and Knuth, as in the QD library of Hida, Li and Bailey.

use std::ops::{Add, Div, Mul, Neg, Sub};

/// `hi + lo` with `|lo| <= ulp(hi) / 2`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DoubleDouble {
    hi: f64,
    lo: f64,
}

/// `a + b` as an unevaluated sum `s + e` with `s = fl(a + b)`, exactly (Knuth's TwoSum).
pub fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    (s, e)
}

/// Like [`two_sum`] but requires `|a| >= |b|`.
fn quick_two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    (s, b - (s - a))
}

/// `a * b` as `p + e` exactly; `mul_add` is a correctly rounded fused multiply-add on every
/// platform (in software where the CPU has none), so `e` is exact.
pub fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    (p, a.mul_add(b, -p))
}

impl DoubleDouble {
    pub const ZERO: DoubleDouble = DoubleDouble { hi: 0.0, lo: 0.0 };

    pub fn from_parts(hi: f64, lo: f64) -> Self {
        let (hi, lo) = two_sum(hi, lo);
        DoubleDouble { hi, lo }
    }

    pub fn to_f64(self) -> f64 {
        self.hi + self.lo
    }

    pub fn sqrt(self) -> DoubleDouble {
        if self.hi <= 0.0 || !self.hi.is_finite() {
            return DoubleDouble::from(self.hi.sqrt());
        }
        let x = self.hi.sqrt();
        let correction = (self - DoubleDouble::from(x) * DoubleDouble::from(x)).hi / (2.0 * x);
        DoubleDouble::from_parts(x, correction)
    }
}

impl From<f64> for DoubleDouble {
    fn from(x: f64) -> Self {
        DoubleDouble { hi: x, lo: 0.0 }
    }
}

impl Neg for DoubleDouble {
    type Output = DoubleDouble;
    fn neg(self) -> DoubleDouble {
        DoubleDouble {
            hi: -self.hi,
            lo: -self.lo,
        }
    }
}

impl Add for DoubleDouble {
    type Output = DoubleDouble;
    fn add(self, other: DoubleDouble) -> DoubleDouble {
        if !self.hi.is_finite() || !other.hi.is_finite() {
            return DoubleDouble::from(self.hi + other.hi);
        }
        let (s, e) = two_sum(self.hi, other.hi);
        let (t, f) = two_sum(self.lo, other.lo);
        let (s, e) = quick_two_sum(s, e + t);
        let (hi, lo) = quick_two_sum(s, e + f);
        DoubleDouble { hi, lo }
    }
}

impl Sub for DoubleDouble {
    type Output = DoubleDouble;
    fn sub(self, other: DoubleDouble) -> DoubleDouble {
        self + (-other)
    }
}

impl Mul for DoubleDouble {
    type Output = DoubleDouble;
    fn mul(self, other: DoubleDouble) -> DoubleDouble {
        let (p, e) = two_prod(self.hi, other.hi);
        if !p.is_finite() {
            return DoubleDouble::from(p);
        }
        let (hi, lo) = quick_two_sum(p, e + (self.hi * other.lo + self.lo * other.hi));
        DoubleDouble { hi, lo }
    }
}

impl Div for DoubleDouble {
    type Output = DoubleDouble;
    fn div(self, other: DoubleDouble) -> DoubleDouble {
        let q1 = self.hi / other.hi;
        if !q1.is_finite() || other.hi == 0.0 {
            return DoubleDouble::from(q1);
        }
        let r = self - other * DoubleDouble::from(q1);
        let q2 = r.hi / other.hi;
        let r = r - other * DoubleDouble::from(q2);
        let q3 = r.hi / other.hi;
        let (hi, lo) = quick_two_sum(q1, q2);
        DoubleDouble { hi, lo } + DoubleDouble::from(q3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_bits_a_double_loses() {
        let third = DoubleDouble::from(1.0) / DoubleDouble::from(3.0);
        let back = third * DoubleDouble::from(3.0);
        assert_eq!(back.to_f64(), 1.0);
        assert!((back - DoubleDouble::from(1.0)).to_f64().abs() < 1e-31);
        let big = DoubleDouble::from(1e16) + DoubleDouble::from(1.0);
        assert_eq!((big - DoubleDouble::from(1e16)).to_f64(), 1.0);
    }

    #[test]
    fn sqrt_is_accurate() {
        let two = DoubleDouble::from(2.0).sqrt();
        let square = two * two;
        assert!((square - DoubleDouble::from(2.0)).to_f64().abs() < 1e-30);
        assert_eq!(DoubleDouble::ZERO.sqrt().to_f64(), 0.0);
        assert!(DoubleDouble::from(-1.0).sqrt().to_f64().is_nan());
    }

    #[test]
    fn non_finite_values_propagate() {
        let inf = DoubleDouble::from(f64::INFINITY);
        assert_eq!((inf + DoubleDouble::from(1.0)).to_f64(), f64::INFINITY);
        assert!((inf - inf).to_f64().is_nan());
        assert!(
            (DoubleDouble::from(0.0) / DoubleDouble::from(0.0))
                .to_f64()
                .is_nan()
        );
    }
}

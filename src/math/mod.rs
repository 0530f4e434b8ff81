//! The transcendental functions and the draws' transforms, each written once as a sequence of
//! exact primitive operations over any [`Vector`]: one `f64` ([`Scalar`], for constant folding
//! and one-off values), or a register program that the portable, AVX2 and AVX-512 loops and the
//! generated AVX-512 code all run (`kernel::program`). Every primitive is an exact IEEE
//! operation or integer work on the bits, and nothing uses fused multiply-add, so every
//! instantiation gives the same bits.
//!
//! The algorithms are those of fdlibm (Sun, 1993), as ported by FreeBSD, musl and the `libm`
//! crate, with each branch turned into a selection between lanes: each lane runs the
//! operations fdlibm's branch would. Inputs outside a function's fast domain (zeros, infinities,
//! NaN, subnormals, huge arguments; listed in docs/reproducibility.md) are rare in a Monte Carlo
//! job; those lanes are *patched*: computed by the `libm` crate (fdlibm too), one lane at a time,
//! on every code path.

mod elementary;
pub mod quantile;
mod trig;

pub use elementary::{exp, log, log10, pow};
pub use quantile::{exponential, normal_quantile, normal_quantile_central, normal_quantile_tail};
pub use trig::{atan2, cos, sin, tan};

/// An operation on the bits of a double, defined for every input so every path agrees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bits {
    /// The biased exponent field minus 1023, as a double: `floor(log2 |x|)` for normal `x`.
    Exponent,
    /// The significand with the exponent of 1: in `[1, 2)`.
    Significand,
    /// `x` with the low 32 bits of its encoding cleared (fdlibm's `SET_LOW_WORD(x, 0)`): at
    /// most 21 significant bits, so products of two such values are exact.
    HighWord,
    /// `2^x` for whole `x` in `[-1022, 1023]`: `x` lands in the low bits of `x + 1.5 * 2^52`,
    /// and those plus 1023 become the exponent field. Other `x` give what the same integer
    /// steps give.
    PowerOfTwo,
}

/// `1.5 * 2^52`: adding it rounds a double below 2^51 in magnitude to a whole number, which
/// then sits in the low bits of the sum's encoding.
pub const TO_INT: f64 = 1.5 / f64::EPSILON;

const TWO_TO_52: f64 = 1.0 / f64::EPSILON;

impl Bits {
    pub fn name(self) -> &'static str {
        match self {
            Bits::Exponent => "exponent",
            Bits::Significand => "significand",
            Bits::HighWord => "high_word",
            Bits::PowerOfTwo => "power_of_two",
        }
    }

    #[inline(always)]
    pub fn apply(self, x: f64) -> f64 {
        let bits = x.to_bits();
        match self {
            // `2^52 + e` minus `2^52 + 1023`, both exact: an integer conversion without the
            // instruction AVX2 lacks.
            Bits::Exponent => {
                f64::from_bits(0x4330_0000_0000_0000 | ((bits >> 52) & 0x7FF))
                    - (TWO_TO_52 + 1023.0)
            }
            Bits::Significand => {
                f64::from_bits((bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000)
            }
            Bits::HighWord => f64::from_bits(bits & 0xFFFF_FFFF_0000_0000),
            Bits::PowerOfTwo => f64::from_bits((x + TO_INT).to_bits().wrapping_add(1023) << 52),
        }
    }
}

/// `x * 2^k` for `k` truncated to a whole number and clamped to `[-2044, 2046]` (NaN counts as
/// -2044): two exact multiplications by powers of two, `2^h` and `2^(k-h)` with `h = k >> 1`,
/// so the result is rounded once whenever `x * 2^h` is a normal number (the callers' `x` are
/// near 1). The clamps are `vmaxpd`'s and `vminpd`'s: `k > lo ? k : lo`.
#[inline(always)]
pub fn scale(x: f64, k: f64) -> f64 {
    let k = if k > -2044.0 { k } else { -2044.0 };
    let k = if k < 2046.0 { k } else { 2046.0 };
    // `k as i64`, through the bits of `trunc(k) + TO_INT` as the integer conversion AVX2 lacks.
    let n = (k.trunc() + TO_INT).to_bits() as i64 - TO_INT.to_bits() as i64;
    let h = n >> 1;
    x * power_of_two(h) * power_of_two(n - h)
}

/// `2^e` for `e` in `[-1022, 1023]`.
#[inline(always)]
fn power_of_two(e: i64) -> f64 {
    f64::from_bits(((e + 1023) as u64) << 52)
}

/// The functions whose rare inputs are computed one lane at a time by a scalar algorithm: the
/// `libm` crate's, or for the normal quantile's far tail, AS 241 one value at a time
/// (`quantile::as241`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Special {
    NormalQuantile,
    Exp,
    Log,
    Log10,
    Sin,
    Cos,
    Tan,
    Atan2,
    Pow,
}

impl Special {
    pub const ALL: [Special; 9] = [
        Special::NormalQuantile,
        Special::Exp,
        Special::Log,
        Special::Log10,
        Special::Sin,
        Special::Cos,
        Special::Tan,
        Special::Atan2,
        Special::Pow,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Special::NormalQuantile => "normal quantile",
            Special::Exp => "exp",
            Special::Log => "log",
            Special::Log10 => "log10",
            Special::Sin => "sin",
            Special::Cos => "cos",
            Special::Tan => "tan",
            Special::Atan2 => "atan2",
            Special::Pow => "pow",
        }
    }

    /// How many arguments the function takes.
    pub fn arity(self) -> usize {
        match self {
            Special::Atan2 | Special::Pow => 2,
            _ => 1,
        }
    }

    /// The scalar algorithm's value (`b` is ignored by one-argument functions).
    pub fn fallback(self, a: f64, b: f64) -> f64 {
        match self {
            Special::NormalQuantile => quantile::as241(a),
            Special::Exp => libm::exp(a),
            Special::Log => libm::log(a),
            Special::Log10 => libm::log10(a),
            Special::Sin => libm::sin(a),
            Special::Cos => libm::cos(a),
            Special::Tan => libm::tan(a),
            Special::Atan2 => libm::atan2(a, b),
            Special::Pow => libm::pow(a, b),
        }
    }
}

/// What the algorithms are written against: exact operations on one value or on a whole
/// program register. Comparisons give 1.0 or 0.0; a condition is true when nonzero (or NaN).
pub trait Vector {
    type V: Copy;
    fn constant(&mut self, value: f64) -> Self::V;
    fn add(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn sub(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn mul(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn div(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn neg(&mut self, a: Self::V) -> Self::V;
    fn abs(&mut self, a: Self::V) -> Self::V;
    fn sqrt(&mut self, a: Self::V) -> Self::V;
    fn floor(&mut self, a: Self::V) -> Self::V;
    fn lt(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn le(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn eq(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn ne(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn and(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn or(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn not(&mut self, a: Self::V) -> Self::V;
    fn select(&mut self, condition: Self::V, if_true: Self::V, if_false: Self::V) -> Self::V;
    fn bits(&mut self, op: Bits, a: Self::V) -> Self::V;
    fn scale(&mut self, x: Self::V, k: Self::V) -> Self::V;
    /// `fast`, except where `condition` is true: there `special`'s fallback value of `args`.
    fn patch(
        &mut self,
        special: Special,
        condition: Self::V,
        fast: Self::V,
        args: [Self::V; 2],
    ) -> Self::V;
    /// `special`'s value of `args` (`b` is ignored by one-argument functions): its algorithm's
    /// operations, unless the implementation keeps whole functions as one step (the loops'
    /// programs, `kernel::program`).
    #[inline(always)]
    fn call(&mut self, special: Special, args: [Self::V; 2]) -> Self::V {
        expand(self, special, args)
    }
}

/// `special`'s algorithm over `m`.
#[inline(always)]
pub fn expand<M: Vector + ?Sized>(m: &mut M, special: Special, [a, b]: [M::V; 2]) -> M::V {
    match special {
        Special::NormalQuantile => normal_quantile(m, a),
        Special::Exp => exp(m, a),
        Special::Log => log(m, a),
        Special::Log10 => log10(m, a),
        Special::Sin => sin(m, a),
        Special::Cos => cos(m, a),
        Special::Tan => tan(m, a),
        Special::Atan2 => atan2(m, a, b),
        Special::Pow => pow(m, a, b),
    }
}

/// Shorthands the algorithms read better with.
trait VectorExt: Vector {
    #[inline(always)]
    fn add_c(&mut self, a: Self::V, c: f64) -> Self::V {
        let c = self.constant(c);
        self.add(a, c)
    }
    #[inline(always)]
    fn mul_c(&mut self, a: Self::V, c: f64) -> Self::V {
        let c = self.constant(c);
        self.mul(a, c)
    }
    /// `c - a`.
    #[inline(always)]
    fn c_sub(&mut self, c: f64, a: Self::V) -> Self::V {
        let c = self.constant(c);
        self.sub(c, a)
    }
    #[inline(always)]
    fn sub_c(&mut self, a: Self::V, c: f64) -> Self::V {
        let c = self.constant(c);
        self.sub(a, c)
    }
    #[inline(always)]
    fn lt_c(&mut self, a: Self::V, c: f64) -> Self::V {
        let c = self.constant(c);
        self.lt(a, c)
    }
    #[inline(always)]
    fn ge_c(&mut self, a: Self::V, c: f64) -> Self::V {
        let c = self.constant(c);
        self.le(c, a)
    }
    #[inline(always)]
    fn select_c(&mut self, condition: Self::V, if_true: f64, if_false: f64) -> Self::V {
        let (t, f) = (self.constant(if_true), self.constant(if_false));
        self.select(condition, t, f)
    }
    /// `c0 + x*(c1 + x*(c2 + ...))`, fdlibm's Horner order.
    #[inline(always)]
    fn horner(&mut self, x: Self::V, coefficients: &[f64]) -> Self::V {
        let (last, rest) = coefficients.split_last().expect("a coefficient");
        let mut acc = self.constant(*last);
        for c in rest.iter().rev() {
            acc = self.mul(x, acc);
            acc = self.add_c(acc, *c);
        }
        acc
    }
    /// `c0 + x*c1 + ... + x^7*c7` in Estrin's order: pairs `c[2i] + x*c[2i+1]`, then pairs of
    /// those joined by `x^2`, then by `x^4`. Its dependency chain is three multiply-adds deep
    /// where Horner's is seven, which is what a loop with one vector in flight waits on.
    /// `x2` and `x4` are passed in, so two polynomials in one `x` share them.
    #[inline(always)]
    fn estrin8(&mut self, [x, x2, x4]: [Self::V; 3], c: &[f64; 8]) -> Self::V {
        let pair = |m: &mut Self, low: f64, high: f64| {
            let high = m.mul_c(x, high);
            m.add_c(high, low)
        };
        let (p01, p23) = (pair(self, c[0], c[1]), pair(self, c[2], c[3]));
        let (p45, p67) = (pair(self, c[4], c[5]), pair(self, c[6], c[7]));
        let p23 = self.mul(x2, p23);
        let p03 = self.add(p01, p23);
        let p67 = self.mul(x2, p67);
        let p47 = self.add(p45, p67);
        let p47 = self.mul(x4, p47);
        self.add(p03, p47)
    }
    /// `[x, x^2, x^4]`, the powers [`VectorExt::estrin8`] joins with.
    #[inline(always)]
    fn estrin_powers(&mut self, x: Self::V) -> [Self::V; 3] {
        let x2 = self.mul(x, x);
        [x, x2, self.mul(x2, x2)]
    }
    /// `lo < |a| < hi`, false for NaN.
    #[inline(always)]
    fn magnitude_within(&mut self, a: Self::V, lo: f64, hi: f64) -> Self::V {
        let m = self.abs(a);
        let lo = self.constant(lo);
        let above = self.lt(lo, m);
        let below = self.lt_c(m, hi);
        self.and(above, below)
    }
    /// `|a| < hi`, false for NaN.
    #[inline(always)]
    fn magnitude_below(&mut self, a: Self::V, hi: f64) -> Self::V {
        let m = self.abs(a);
        self.lt_c(m, hi)
    }
}

impl<T: Vector + ?Sized> VectorExt for T {}

/// One double at a time: the definition every path follows, and the constant folder's.
pub struct Scalar;

/// One double at a time, with patches left for later: a patched lane keeps its fast value and
/// sets `patched`, so a loop over lanes has no branch and no call and can be vectorised; the
/// lanes that needed a patch are then recomputed with [`Scalar`] (`kernel::eval`).
#[derive(Default)]
pub struct Deferred {
    pub patched: bool,
}

impl Scalar {
    #[inline(always)]
    fn patch_lane(&mut self, special: Special, condition: f64, fast: f64, [a, b]: [f64; 2]) -> f64 {
        if condition != 0.0 {
            special.fallback(a, b)
        } else {
            fast
        }
    }
}

impl Deferred {
    #[inline(always)]
    fn patch_lane(&mut self, _: Special, condition: f64, fast: f64, _: [f64; 2]) -> f64 {
        self.patched |= condition != 0.0;
        fast
    }
}

#[inline(always)]
fn truth(condition: bool) -> f64 {
    if condition { 1.0 } else { 0.0 }
}

/// The operations on one double, the same for both: only what a patch does differs.
macro_rules! one_double {
    ($($type:ty),*) => {$(
        impl Vector for $type {
            type V = f64;
            #[inline(always)]
            fn constant(&mut self, value: f64) -> f64 {
                value
            }
            #[inline(always)]
            fn add(&mut self, a: f64, b: f64) -> f64 {
                a + b
            }
            #[inline(always)]
            fn sub(&mut self, a: f64, b: f64) -> f64 {
                a - b
            }
            #[inline(always)]
            fn mul(&mut self, a: f64, b: f64) -> f64 {
                a * b
            }
            #[inline(always)]
            fn div(&mut self, a: f64, b: f64) -> f64 {
                a / b
            }
            #[inline(always)]
            fn neg(&mut self, a: f64) -> f64 {
                -a
            }
            #[inline(always)]
            fn abs(&mut self, a: f64) -> f64 {
                a.abs()
            }
            #[inline(always)]
            fn sqrt(&mut self, a: f64) -> f64 {
                a.sqrt()
            }
            #[inline(always)]
            fn floor(&mut self, a: f64) -> f64 {
                a.floor()
            }
            #[inline(always)]
            fn lt(&mut self, a: f64, b: f64) -> f64 {
                truth(a < b)
            }
            #[inline(always)]
            fn le(&mut self, a: f64, b: f64) -> f64 {
                truth(a <= b)
            }
            #[inline(always)]
            fn eq(&mut self, a: f64, b: f64) -> f64 {
                truth(a == b)
            }
            #[inline(always)]
            fn ne(&mut self, a: f64, b: f64) -> f64 {
                truth(a != b)
            }
            #[inline(always)]
            fn and(&mut self, a: f64, b: f64) -> f64 {
                truth((a != 0.0) & (b != 0.0))
            }
            #[inline(always)]
            fn or(&mut self, a: f64, b: f64) -> f64 {
                truth((a != 0.0) | (b != 0.0))
            }
            #[inline(always)]
            fn not(&mut self, a: f64) -> f64 {
                truth(a == 0.0)
            }
            #[inline(always)]
            fn select(&mut self, condition: f64, if_true: f64, if_false: f64) -> f64 {
                if condition != 0.0 { if_true } else { if_false }
            }
            #[inline(always)]
            fn bits(&mut self, op: Bits, a: f64) -> f64 {
                op.apply(a)
            }
            #[inline(always)]
            fn scale(&mut self, x: f64, k: f64) -> f64 {
                scale(x, k)
            }
            #[inline(always)]
            fn patch(&mut self, special: Special, condition: f64, fast: f64, args: [f64; 2]) -> f64 {
                self.patch_lane(special, condition, fast, args)
            }
        }
    )*};
}
one_double!(Scalar, Deferred);

/// A function's value for one double, by the same algorithm every path runs.
pub fn scalar(special: Special, a: f64, b: f64) -> f64 {
    expand(&mut Scalar, special, [a, b])
}

#[cfg(test)]
mod tests;

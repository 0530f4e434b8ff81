//! An exact sum of `f64` values: a fixed-point superaccumulator wide enough for every finite
//! double (Kulisch's idea), stored as carry-save 32-bit digits in 64-bit limbs.
//!
//! Addition is exact, so the result does not depend on the order of additions or merges. That
//! is what makes 1 thread, 7 threads, 64 MPI ranks and a 500-task array give the same bits. The
//! `xsum` crate sums exactly too, but it cannot merge two accumulators or expose their exact
//! state, which threads, MPI and part files all need.

use super::double_double::DoubleDouble;

/// Digits of 32 bits cover positions 2^-1074 (the smallest subnormal) up to past 2^1024, plus
/// room for carries.
const LIMBS: usize = 68;
const DIGIT_BITS: u32 = 32;
const DIGIT_MASK: i64 = (1 << DIGIT_BITS) - 1;
/// Each addition moves a limb by less than 2^32, so 2^30 additions cannot overflow an `i64`
/// limb that started normalized.
const ADDS_BEFORE_CARRY: u32 = 1 << 30;

#[derive(Clone, Debug)]
pub struct ExactSum {
    /// Value = sum of `limbs[k] * 2^(32k - 1074)`.
    limbs: [i64; LIMBS],
    adds_since_carry: u32,
    positive_infinity: bool,
    negative_infinity: bool,
    nan: bool,
}

impl Default for ExactSum {
    fn default() -> Self {
        ExactSum {
            limbs: [0; LIMBS],
            adds_since_carry: 0,
            positive_infinity: false,
            negative_infinity: false,
            nan: false,
        }
    }
}

/// Equal values are equal however they were reached: compares the carried, unique form.
impl PartialEq for ExactSum {
    fn eq(&self, other: &ExactSum) -> bool {
        let (mut a, mut b) = (self.clone(), other.clone());
        a.carry();
        b.carry();
        a.limbs == b.limbs
            && (a.positive_infinity, a.negative_infinity, a.nan)
                == (b.positive_infinity, b.negative_infinity, b.nan)
    }
}

impl Eq for ExactSum {}

impl ExactSum {
    pub fn add(&mut self, x: f64) {
        if !x.is_finite() {
            if x.is_nan() {
                self.nan = true;
            } else if x > 0.0 {
                self.positive_infinity = true;
            } else {
                self.negative_infinity = true;
            }
            return;
        }
        let bits = x.to_bits();
        let exponent_field = ((bits >> 52) & 0x7FF) as u32;
        let fraction = bits & ((1 << 52) - 1);
        let (mantissa, position) = if exponent_field == 0 {
            (fraction, 0)
        } else {
            (fraction | (1 << 52), exponent_field - 1)
        };
        if mantissa == 0 {
            return;
        }
        let shifted = u128::from(mantissa) << (position % DIGIT_BITS);
        let index = (position / DIGIT_BITS) as usize;
        let digits = [
            (shifted as i64) & DIGIT_MASK,
            ((shifted >> 32) as i64) & DIGIT_MASK,
            (shifted >> 64) as i64,
        ];
        let negative = bits >> 63 == 1;
        for (offset, digit) in digits.into_iter().enumerate() {
            let limb = &mut self.limbs[index + offset];
            if negative {
                *limb -= digit;
            } else {
                *limb += digit;
            }
        }
        self.count_add();
    }

    fn count_add(&mut self) {
        self.adds_since_carry += 1;
        if self.adds_since_carry >= ADDS_BEFORE_CARRY {
            self.carry();
        }
    }

    /// Propagates carries so every limb but the top one is a digit in `[0, 2^32)`. After this the
    /// representation of a value is unique.
    fn carry(&mut self) {
        for k in 0..LIMBS - 1 {
            let carry = self.limbs[k] >> DIGIT_BITS;
            self.limbs[k] -= carry << DIGIT_BITS;
            self.limbs[k + 1] += carry;
        }
        self.adds_since_carry = 0;
    }

    /// Adds another exact sum to this one, exactly.
    pub fn merge(&mut self, other: &ExactSum) {
        let mut other = other.clone();
        other.carry();
        self.carry();
        for (limb, digit) in self.limbs.iter_mut().zip(other.limbs) {
            *limb += digit;
        }
        self.adds_since_carry = 2;
        self.positive_infinity |= other.positive_infinity;
        self.negative_infinity |= other.negative_infinity;
        self.nan |= other.nan;
    }

    /// The special value the sum is, if any: NaN for NaN inputs or for +inf and -inf together.
    fn special(&self) -> Option<f64> {
        match (self.nan, self.positive_infinity, self.negative_infinity) {
            (true, _, _) | (false, true, true) => Some(f64::NAN),
            (false, true, false) => Some(f64::INFINITY),
            (false, false, true) => Some(f64::NEG_INFINITY),
            (false, false, false) => None,
        }
    }

    /// The sum to about 106 significant bits.
    pub fn to_double_double(&self) -> DoubleDouble {
        if let Some(special) = self.special() {
            return DoubleDouble::from(special);
        }
        let mut normalized = self.clone();
        normalized.carry();
        let negative = normalized.limbs[LIMBS - 1] < 0;
        if negative {
            for limb in normalized.limbs.iter_mut() {
                *limb = -*limb;
            }
            normalized.carry();
        }
        let mut total = DoubleDouble::ZERO;
        for (k, limb) in normalized.limbs.iter().enumerate().rev() {
            if *limb != 0 {
                let scale = DIGIT_BITS as i32 * k as i32 - 1074;
                total = total + DoubleDouble::from(libm::ldexp(*limb as f64, scale));
            }
        }
        if negative { -total } else { total }
    }

    /// Bytes that rebuild this sum exactly with [`ExactSum::decode`]: the carried limbs, little
    /// endian, then the special values.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut carried = self.clone();
        carried.carry();
        for limb in carried.limbs {
            out.extend_from_slice(&limb.to_le_bytes());
        }
        out.push(
            u8::from(self.positive_infinity)
                | (u8::from(self.negative_infinity) << 1)
                | (u8::from(self.nan) << 2),
        );
    }

    pub const ENCODED_BYTES: usize = LIMBS * 8 + 1;

    /// Reads what [`ExactSum::encode`] wrote from the front of `input`, advancing it.
    pub fn decode(input: &mut &[u8]) -> Option<ExactSum> {
        if input.len() < Self::ENCODED_BYTES {
            return None;
        }
        let (bytes, rest) = input.split_at(Self::ENCODED_BYTES);
        *input = rest;
        let mut sum = ExactSum::default();
        for (limb, chunk) in sum.limbs.iter_mut().zip(bytes.chunks_exact(8)) {
            *limb = i64::from_le_bytes(chunk.try_into().ok()?);
        }
        let flags = bytes[LIMBS * 8];
        sum.positive_infinity = flags & 1 != 0;
        sum.negative_infinity = flags & 2 != 0;
        sum.nan = flags & 4 != 0;
        Some(sum)
    }

    /// The sum rounded to `f64` (results go through double-double statistics instead).
    #[cfg(test)]
    fn value(&self) -> f64 {
        self.to_double_double().to_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sum_of(values: &[f64]) -> ExactSum {
        let mut s = ExactSum::default();
        for v in values {
            s.add(*v);
        }
        s
    }

    #[test]
    fn cancellation_that_floats_get_wrong() {
        let s = sum_of(&[1e100, 1.0, -1e100]);
        assert_eq!(s.value(), 1.0);
        let s = sum_of(&[0.1; 10]);
        assert_eq!(s.value(), 1.0);
        assert_ne!([0.1f64; 10].iter().sum::<f64>(), 1.0);
    }

    #[test]
    fn extremes() {
        let s = sum_of(&[f64::MAX, f64::MAX, -f64::MAX]);
        assert_eq!(s.value(), f64::MAX);
        let tiny = f64::from_bits(1);
        assert_eq!(sum_of(&[tiny, tiny, tiny]).value(), 3.0 * tiny);
        assert_eq!(sum_of(&[f64::MAX, f64::MAX]).value(), f64::INFINITY);
        assert_eq!(sum_of(&[-5.5]).value(), -5.5);
        assert_eq!(sum_of(&[]).value(), 0.0);
    }

    #[test]
    fn specials() {
        assert_eq!(sum_of(&[1.0, f64::INFINITY]).value(), f64::INFINITY);
        assert_eq!(sum_of(&[f64::NEG_INFINITY]).value(), f64::NEG_INFINITY);
        assert!(sum_of(&[f64::INFINITY, f64::NEG_INFINITY]).value().is_nan());
        assert!(sum_of(&[f64::NAN]).value().is_nan());
    }

    #[test]
    fn many_adds_force_carries() {
        let mut s = ExactSum {
            adds_since_carry: ADDS_BEFORE_CARRY - 5,
            ..ExactSum::default()
        };
        for _ in 0..10 {
            s.add(f64::MAX / 2.0);
            s.add(-(f64::MAX / 2.0));
            s.add(1.5);
        }
        assert_eq!(s.value(), 15.0);
    }

    #[test]
    fn encoding_round_trips() {
        let s = sum_of(&[1e300, -3.5, f64::from_bits(1), f64::INFINITY]);
        let mut bytes = Vec::new();
        s.encode(&mut bytes);
        assert_eq!(bytes.len(), ExactSum::ENCODED_BYTES);
        let mut input = &bytes[..];
        assert_eq!(ExactSum::decode(&mut input), Some(s));
        assert!(input.is_empty());
        assert_eq!(ExactSum::decode(&mut &bytes[..10]), None);
    }

    proptest! {
        #[test]
        fn order_and_grouping_do_not_matter(
            values in prop::collection::vec(prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO, 0..60),
            split in 0usize..60,
            seed in any::<u64>(),
        ) {
            let whole = sum_of(&values);
            let split = split.min(values.len());
            let mut left = sum_of(&values[..split]);
            left.merge(&sum_of(&values[split..]));
            let mut shuffled = values.clone();
            let mut state = seed | 1;
            for i in (1..shuffled.len()).rev() {
                // xorshift64: any fixed shuffle of the seed will do.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                shuffled.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let reordered = sum_of(&shuffled);
            let expected = whole.to_double_double();
            prop_assert_eq!(left.to_double_double(), expected);
            prop_assert_eq!(reordered.to_double_double(), expected);
        }

        #[test]
        fn small_integers_sum_exactly(values in prop::collection::vec(-1_000_000i64..1_000_000, 0..100)) {
            let exact: i64 = values.iter().sum();
            let floats: Vec<f64> = values.iter().map(|v| *v as f64).collect();
            prop_assert_eq!(sum_of(&floats).value(), exact as f64);
        }

        #[test]
        fn pairs_are_exact_to_double_double(a in -1e300f64..1e300, b in -1e300f64..1e300) {
            let dd = sum_of(&[a, b]).to_double_double();
            let (s, e) = crate::reduce::double_double::two_sum(a, b);
            prop_assert_eq!(dd, DoubleDouble::from_parts(s, e));
        }
    }
}

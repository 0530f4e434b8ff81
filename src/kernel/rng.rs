//! The random streams. The value a variable takes at sample `i` depends only on
//! (seed, variable name, i); docs/random-streams.md defines it step by step.
//!
//! Samples are grouped into fixed blocks of [`BLOCK_SAMPLES`]. Each (variable, block) has
//! [`LANES`] independent xoshiro256++ generators seeded through SplitMix64; sample `j` of a block
//! takes output number `j / LANES` of lane `j % LANES`. The lanes advance together, which is what
//! lets the compiler generate eight numbers per SIMD step, and the seeding per block is what lets
//! any slice start at any block without generating what comes before it.

use std::convert::Infallible;

use rand_core::TryRng;

/// Samples per block: the unit of seeding, of scheduling, and of the fixed-order partial sums.
pub const BLOCK_SAMPLES: u64 = 4096;
/// Interleaved generators per block: one per running sum of the accumulator's lanes.
pub use crate::reduce::accumulator::LANES;

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function (Steele, Lea and Flood 2014): a bijective 64-bit mixer.
#[inline(always)]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// SplitMix64, used only to turn one 64-bit seed into a generator's 256-bit state.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    #[inline(always)]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN_GAMMA);
        mix64(self.0)
    }
}

/// 64-bit FNV-1a of a variable name: names, not positions, pick streams, so adding or reordering
/// vars never changes the numbers another var sees.
pub fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xCBF2_9CE4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// The key of one variable's stream under one seed.
pub fn stream_key(seed: u64, var_name: &str) -> u64 {
    mix64(seed ^ mix64(name_hash(var_name)))
}

/// The starting state of lane `lane` of block `block` of a stream.
#[inline(always)]
pub fn lane_state(key: u64, block: u64, lane: usize) -> [u64; 4] {
    let mut seeder =
        SplitMix64(key ^ mix64(block.wrapping_mul(LANES as u64).wrapping_add(lane as u64)));
    [
        seeder.next_u64(),
        seeder.next_u64(),
        seeder.next_u64(),
        seeder.next_u64(),
    ]
}

/// xoshiro256++ (Blackman and Vigna 2019), one lane. Implements `rand_core`'s traits so a single
/// lane can be used with the `rand` ecosystem, e.g. to check a sample by hand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Xoshiro256PlusPlus {
    s: [u64; 4],
}

impl Xoshiro256PlusPlus {
    pub fn from_state(s: [u64; 4]) -> Self {
        Xoshiro256PlusPlus { s }
    }

    /// Lane `lane` of block `block` of the stream of `var_name` under `seed`.
    pub fn for_lane(seed: u64, var_name: &str, block: u64, lane: usize) -> Self {
        Self::from_state(lane_state(stream_key(seed, var_name), block, lane))
    }

    /// The next output; the same as `next_u64` from `rand_core::Rng`.
    #[inline(always)]
    pub fn generate(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }
}

impl TryRng for Xoshiro256PlusPlus {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.generate() >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.generate())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.generate().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

/// The [`LANES`] generators of one (variable, block), stored word by word so one SIMD register
/// holds the same state word of every lane. The layout is fixed because generated code
/// (`native`) reads and writes it.
#[derive(Clone, Debug, Default)]
#[repr(C)]
pub struct Lanes {
    s: [[u64; LANES]; 4],
}

impl Lanes {
    #[inline(always)]
    pub fn seed(&mut self, key: u64, block: u64) {
        for lane in 0..LANES {
            for (word, value) in lane_state(key, block, lane).into_iter().enumerate() {
                self.s[word][lane] = value;
            }
        }
    }

    /// Fills `out` (a multiple of [`LANES`] long) with `convert` of the next outputs, in sample
    /// order. Converting as the numbers are made saves a pass through memory.
    #[inline(always)]
    pub fn fill<T>(&mut self, stepping: Stepping, out: &mut [T], convert: impl Fn(u64) -> T) {
        #[cfg(target_arch = "x86_64")]
        if stepping.avx2 {
            // SAFETY: a `Stepping` with `avx2` set exists only on CPUs that have AVX2.
            return unsafe { self.fill_avx2(out, convert) };
        }
        let _ = stepping;
        self.fill_element_wise(out, convert)
    }

    #[inline(always)]
    fn fill_element_wise<T>(&mut self, out: &mut [T], convert: impl Fn(u64) -> T) {
        // Local copies and element-wise steps are what LLVM turns into SIMD (working through
        // `&mut self.s` kept the AVX2 build scalar, measured 2.4x slower).
        let [mut s0, mut s1, mut s2, mut s3] = self.s;
        for group in out.chunks_exact_mut(LANES) {
            let output: [u64; LANES] = std::array::from_fn(|l| {
                let sum = s0[l].wrapping_add(s3[l]);
                sum.rotate_left(23).wrapping_add(s0[l])
            });
            let t: [u64; LANES] = std::array::from_fn(|l| s1[l] << 17);
            s2 = std::array::from_fn(|l| s2[l] ^ s0[l]);
            s3 = std::array::from_fn(|l| s3[l] ^ s1[l]);
            s1 = std::array::from_fn(|l| s1[l] ^ s2[l]);
            s0 = std::array::from_fn(|l| s0[l] ^ s3[l]);
            s2 = std::array::from_fn(|l| s2[l] ^ t[l]);
            s3 = std::array::from_fn(|l| s3[l].rotate_left(45));
            for (slot, value) in group.iter_mut().zip(output) {
                *slot = convert(value);
            }
        }
        self.s = [s0, s1, s2, s3];
    }

    /// [`Lanes::fill`] with the same steps written in AVX2 intrinsics, four lanes per register.
    /// AVX2 has no 64-bit rotate, and LLVM's cost model then keeps the element-wise step's
    /// rotated state word in eight general registers, moving it in and out of the vector
    /// registers at every step: one uniform draw took 2.35 ns per sample on one core,
    /// 1.80 ns with this.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn fill_avx2<T>(&mut self, out: &mut [T], convert: impl Fn(u64) -> T) {
        use std::arch::x86_64::{
            __m256i, _mm256_add_epi64, _mm256_loadu_si256, _mm256_or_si256, _mm256_slli_epi64,
            _mm256_srli_epi64, _mm256_storeu_si256, _mm256_xor_si256,
        };
        const HALF: usize = LANES / 2;
        #[inline]
        #[target_feature(enable = "avx2")]
        fn rotate_left<const LEFT: i32, const RIGHT: i32>(x: __m256i) -> __m256i {
            _mm256_or_si256(_mm256_slli_epi64::<LEFT>(x), _mm256_srli_epi64::<RIGHT>(x))
        }
        // SAFETY (all loads and stores): each reads or writes the `HALF` u64 of one half of a
        // `[u64; LANES]`, and the unaligned forms need no alignment.
        let mut s: [[__m256i; 2]; 4] = std::array::from_fn(|word| {
            std::array::from_fn(|half| unsafe {
                _mm256_loadu_si256(self.s[word][half * HALF..].as_ptr().cast())
            })
        });
        for group in out.chunks_exact_mut(LANES) {
            let mut output = [0u64; LANES];
            for half in 0..2 {
                let [s0, s1, s2, s3] = [s[0][half], s[1][half], s[2][half], s[3][half]];
                let sum = _mm256_add_epi64(s0, s3);
                let value = _mm256_add_epi64(rotate_left::<23, 41>(sum), s0);
                unsafe { _mm256_storeu_si256(output[half * HALF..].as_mut_ptr().cast(), value) };
                let t = _mm256_slli_epi64::<17>(s1);
                let s2 = _mm256_xor_si256(s2, s0);
                let s3 = _mm256_xor_si256(s3, s1);
                let s1 = _mm256_xor_si256(s1, s2);
                let s0 = _mm256_xor_si256(s0, s3);
                let s2 = _mm256_xor_si256(s2, t);
                let s3 = rotate_left::<45, 19>(s3);
                [s[0][half], s[1][half], s[2][half], s[3][half]] = [s0, s1, s2, s3];
            }
            for (slot, value) in group.iter_mut().zip(output) {
                *slot = convert(value);
            }
        }
        for (word, halves) in s.iter().enumerate() {
            for (half, value) in halves.iter().enumerate() {
                unsafe {
                    _mm256_storeu_si256(self.s[word][half * HALF..].as_mut_ptr().cast(), *value)
                };
            }
        }
    }
}

/// How [`Lanes::fill`] steps the generators. The outputs are the same either way; only the
/// speed differs.
#[derive(Clone, Copy, Debug)]
pub struct Stepping {
    avx2: bool,
}

impl Stepping {
    /// Element-wise Rust that LLVM vectorises: for the portable and AVX-512 loops.
    pub const ELEMENT_WISE: Stepping = Stepping { avx2: false };

    /// AVX2 intrinsics, if this CPU has AVX2 (element-wise otherwise): for the AVX2 loops.
    pub fn avx2() -> Stepping {
        #[cfg(target_arch = "x86_64")]
        return Stepping {
            avx2: is_x86_feature_detected!("avx2"),
        };
        #[cfg(not(target_arch = "x86_64"))]
        Stepping::ELEMENT_WISE
    }
}

/// A uniform on `[0, 1)` from the top 52 bits, built with integer operations only, so every SIMD
/// path produces the same bits.
#[inline(always)]
pub fn unit_interval(x: u64) -> f64 {
    f64::from_bits(0x3FF0_0000_0000_0000 | (x >> 12)) - 1.0
}

/// A uniform on `(0, 1)`: the same grid shifted by half a step, never 0 or 1.
#[inline(always)]
pub fn open_unit_interval(x: u64) -> f64 {
    f64::from_bits(0x3FF0_0000_0000_0000 | (x >> 12)) - (1.0 - f64::EPSILON / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::{Rng, SeedableRng};

    /// The published reference outputs of xoshiro256++ for state [1, 2, 3, 4], as in the
    /// reference C implementation's test vectors (also used by `rand_xoshiro`).
    #[test]
    fn xoshiro256plusplus_known_answer() {
        let mut rng = Xoshiro256PlusPlus::from_state([1, 2, 3, 4]);
        let expected: [u64; 10] = [
            41943041,
            58720359,
            3588806011781223,
            3591011842654386,
            9228616714210784205,
            9973669472204895162,
            14011001112246962877,
            12406186145184390807,
            15849039046786891736,
            10450023813501588000,
        ];
        for value in expected {
            assert_eq!(rng.next_u64(), value);
        }
    }

    #[test]
    fn matches_rand_xoshiro_for_arbitrary_states() {
        for seed in [0u64, 1, 42, u64::MAX] {
            let state = lane_state(stream_key(seed, "a"), 7, 3);
            let mut bytes = [0u8; 32];
            for (chunk, word) in bytes.chunks_mut(8).zip(state) {
                chunk.copy_from_slice(&word.to_le_bytes());
            }
            let mut reference = rand_xoshiro::Xoshiro256PlusPlus::from_seed(bytes);
            let mut ours = Xoshiro256PlusPlus::from_state(state);
            for _ in 0..100 {
                assert_eq!(ours.next_u64(), reference.next_u64());
            }
        }
    }

    #[test]
    fn splitmix64_known_answer() {
        // Reference outputs of splitmix64.c seeded with 1234567.
        let mut sm = SplitMix64(1234567);
        let expected: [u64; 5] = [
            6457827717110365317,
            3203168211198807973,
            9817491932198370423,
            4593380528125082431,
            16408922859458223821,
        ];
        for value in expected {
            assert_eq!(sm.next_u64(), value);
        }
    }

    #[test]
    fn lanes_interleave_the_single_lane_generators_with_either_stepping() {
        let key = stream_key(42, "b");
        for stepping in [Stepping::ELEMENT_WISE, Stepping::avx2()] {
            let mut lanes = Lanes::default();
            lanes.seed(key, 5);
            // Two fills: the state written back by the first is where the second starts.
            let mut out = vec![0u64; LANES * 8];
            let (first, second) = out.split_at_mut(LANES * 3);
            lanes.fill(stepping, first, |x| x);
            lanes.fill(stepping, second, |x| x);
            for (j, value) in out.iter().enumerate() {
                let mut single = Xoshiro256PlusPlus::for_lane(42, "b", 5, j % LANES);
                for _ in 0..j / LANES {
                    single.generate();
                }
                assert_eq!(*value, single.generate(), "{stepping:?}, sample {j}");
            }
        }
    }

    #[test]
    fn unit_intervals_stay_inside() {
        assert_eq!(unit_interval(0), 0.0);
        assert!(unit_interval(u64::MAX) < 1.0);
        assert!(open_unit_interval(0) > 0.0);
        assert!(open_unit_interval(u64::MAX) < 1.0);
        assert_eq!(open_unit_interval(0), f64::EPSILON / 2.0);
    }

    #[test]
    fn streams_differ_by_name_seed_block_and_lane() {
        let first = |seed, name, block, lane| {
            Xoshiro256PlusPlus::for_lane(seed, name, block, lane).generate()
        };
        let base = first(1, "a", 0, 0);
        assert_ne!(base, first(2, "a", 0, 0));
        assert_ne!(base, first(1, "b", 0, 0));
        assert_ne!(base, first(1, "a", 1, 0));
        assert_ne!(base, first(1, "a", 0, 1));
    }
}

//! The quadratic kernel written by hand: 8 interleaved xoshiro256++ streams per variable, seeded
//! per block of 4096 samples, 8 samples at a time, no arrays, one partial sum per lane.
//! Usage: fused-quadratic SAMPLES THREADS

use std::sync::atomic::{AtomicU64, Ordering};

const BLOCK: u64 = 4096;
const LANES: usize = 8;

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct Lanes([[u64; LANES]; 4]);

impl Lanes {
    fn seeded(key: u64, block: u64) -> Lanes {
        let mut s = [[0; LANES]; 4];
        for lane in 0..LANES {
            let mut state = key ^ mix64(block * LANES as u64 + lane as u64);
            for word in &mut s {
                state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                word[lane] = mix64(state);
            }
        }
        Lanes(s)
    }

    #[cfg(not(target_feature = "avx512f"))]
    #[inline(always)]
    fn uniform(&mut self, low: f64, high: f64) -> [f64; LANES] {
        let [s0, s1, s2, s3] = &mut self.0;
        let mut out = [0.0; LANES];
        for l in 0..LANES {
            let x = s0[l].wrapping_add(s3[l]).rotate_left(23).wrapping_add(s0[l]);
            let t = s1[l] << 17;
            s2[l] ^= s0[l];
            s3[l] ^= s1[l];
            s1[l] ^= s2[l];
            s0[l] ^= s3[l];
            s2[l] ^= t;
            s3[l] = s3[l].rotate_left(45);
            out[l] = low + (high - low) * (f64::from_bits(0x3FF0_0000_0000_0000 | (x >> 12)) - 1.0);
        }
        out
    }
}

/// With AVX-512 (when built with `-C target-cpu=native` on such a CPU): the loop written with
/// intrinsics, one register per variable's 8 lanes, fused multiply-add where it helps.
#[cfg(target_feature = "avx512f")]
fn block_sum(block: u64, samples: u64) -> f64 {
    use std::arch::x86_64::*;
    // SAFETY: this function is only compiled when the target has AVX-512F.
    unsafe {
        let load = |lanes: &Lanes| -> [__m512i; 4] {
            lanes.0.map(|word| _mm512_loadu_si512(word.as_ptr().cast()))
        };
        let mut state = [
            load(&Lanes::seeded(1, block)),
            load(&Lanes::seeded(2, block)),
            load(&Lanes::seeded(3, block)),
        ];
        let one_bits = _mm512_set1_epi64(0x3FF0_0000_0000_0000);
        let one = _mm512_set1_pd(1.0);
        #[inline]
        #[target_feature(enable = "avx512f")]
        fn next(s: &mut [__m512i; 4], one_bits: __m512i, one: __m512d) -> __m512d {
            let x = _mm512_add_epi64(_mm512_rol_epi64::<23>(_mm512_add_epi64(s[0], s[3])), s[0]);
            let t = _mm512_slli_epi64::<17>(s[1]);
            s[2] = _mm512_xor_si512(s[2], s[0]);
            s[3] = _mm512_xor_si512(s[3], s[1]);
            s[1] = _mm512_xor_si512(s[1], s[2]);
            s[0] = _mm512_xor_si512(s[0], s[3]);
            s[2] = _mm512_xor_si512(s[2], t);
            s[3] = _mm512_rol_epi64::<45>(s[3]);
            let unit = _mm512_or_si512(_mm512_srli_epi64::<12>(x), one_bits);
            _mm512_sub_pd(_mm512_castsi512_pd(unit), one)
        }
        let (a_lo, a_w) = (_mm512_set1_pd(5.0), _mm512_set1_pd(5.0));
        let (b_lo, b_w) = (_mm512_set1_pd(10.0), _mm512_set1_pd(10.0));
        let (c_lo, c_w) = (_mm512_set1_pd(-0.1), _mm512_set1_pd(0.2));
        let (four, two) = (_mm512_set1_pd(4.0), _mm512_set1_pd(2.0));
        let mut sum = _mm512_setzero_pd();
        for _ in 0..samples / LANES as u64 {
            let a = _mm512_fmadd_pd(next(&mut state[0], one_bits, one), a_w, a_lo);
            let b = _mm512_fmadd_pd(next(&mut state[1], one_bits, one), b_w, b_lo);
            let c = _mm512_fmadd_pd(next(&mut state[2], one_bits, one), c_w, c_lo);
            let disc = _mm512_fnmadd_pd(_mm512_mul_pd(four, a), c, _mm512_mul_pd(b, b));
            let root = _mm512_div_pd(_mm512_sub_pd(_mm512_sqrt_pd(disc), b), _mm512_mul_pd(two, a));
            sum = _mm512_add_pd(sum, root);
        }
        _mm512_reduce_add_pd(sum)
    }
}

/// Elsewhere: the same loop in plain Rust for the compiler to vectorize.
#[cfg(not(target_feature = "avx512f"))]
fn block_sum(block: u64, samples: u64) -> f64 {
    let (mut a, mut b, mut c) = (
        Lanes::seeded(1, block),
        Lanes::seeded(2, block),
        Lanes::seeded(3, block),
    );
    let mut sum = [0.0; LANES];
    for _ in 0..samples / LANES as u64 {
        let (a, b, c) = (a.uniform(5.0, 10.0), b.uniform(10.0, 20.0), c.uniform(-0.1, 0.1));
        for l in 0..LANES {
            sum[l] += (-b[l] + (b[l] * b[l] - 4.0 * a[l] * c[l]).sqrt()) / (2.0 * a[l]);
        }
    }
    sum.iter().sum()
}

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().expect("a number")).collect();
    let (samples, threads) = (args[0], args[1] as usize);
    let blocks = samples / BLOCK;
    let next = AtomicU64::new(0);
    let total: f64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut sum = 0.0;
                    loop {
                        let block = next.fetch_add(1, Ordering::Relaxed);
                        if block >= blocks {
                            return sum;
                        }
                        sum += block_sum(block, BLOCK);
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    println!("{}", total / (blocks * BLOCK) as f64);
}

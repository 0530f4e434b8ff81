//! Evaluating a program over whole blocks, with the code path picked once for this CPU.
//!
//! The block loop is written once (`run_block_body`, always inlined) and instantiated three
//! times: for AVX-512, for AVX2 and for any x86-64 or other CPU. Every operation is exact IEEE
//! arithmetic, integer work on the bits, or (for patched lanes) a scalar call, and nothing uses
//! fused multiply-add, so the three paths give the same bits (tests check it).

use std::ops::Range;

use super::Kernel;
use super::distribution;
use super::native::NativeCode;
use super::program::{
    Arith, BinaryKind, CHUNK, Instruction, Operand, Program, UnaryKind, apply_binary, apply_unary,
};
use super::rng::{BLOCK_SAMPLES, LANES, Lanes, Stepping};
use crate::expr::{BinaryOp, Function, UnaryOp, semantics};
use crate::math::{self, Bits, Deferred, Special};
use crate::reduce::{Accumulator, Histogram, LaneStats, Tracked};

/// The code paths: the block loop compiled for each instruction set, and the job's program
/// compiled to AVX-512 machine code at run time (`native`, inside the AVX-512 loop).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    Portable,
    Avx2,
    Avx512,
    Native,
}

impl Isa {
    pub const ALL: [Isa; 4] = [Isa::Portable, Isa::Avx2, Isa::Avx512, Isa::Native];

    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Native => "native",
        }
    }

    pub fn supported(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                Isa::Avx2.supported()
                    && is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512dq")
                    && is_x86_feature_detected!("avx512vl")
            }
            Isa::Native => Isa::Avx512.supported(),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The best path this CPU runs.
    pub fn detect() -> Isa {
        [Isa::Native, Isa::Avx512, Isa::Avx2]
            .into_iter()
            .find(|isa| isa.supported())
            .unwrap_or(Isa::Portable)
    }

    pub fn from_name(name: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|isa| isa.name() == name)
    }
}

type Register = [f64; CHUNK];

/// One thread's working memory: the registers and the random lanes.
pub struct Evaluator<'p> {
    program: &'p Program,
    isa: Isa,
    /// The program as machine code, which then computes the chunks.
    native: Option<&'p NativeCode>,
    tracked: Tracked,
    registers: Vec<Register>,
    lanes: Vec<Lanes>,
    stepping: Stepping,
}

impl<'p> Evaluator<'p> {
    pub fn new(program: &'p Program, isa: Isa, tracked: Tracked) -> Self {
        assert!(
            isa.supported(),
            "the {} code path needs a CPU that has it",
            isa.name()
        );
        Evaluator {
            program,
            isa,
            native: None,
            tracked,
            registers: constant_registers(program),
            lanes: vec![Lanes::default(); program.stream_keys.len()],
            stepping: match isa {
                Isa::Avx2 => Stepping::avx2(),
                _ => Stepping::ELEMENT_WISE,
            },
        }
    }

    /// The evaluator of a kernel's program on the kernel's code path.
    pub fn for_kernel(kernel: &'p Kernel) -> Self {
        Evaluator {
            native: kernel.native.as_ref(),
            ..Evaluator::new(&kernel.program, kernel.isa, kernel.tracked)
        }
    }

    /// Bytes of working memory one evaluator holds.
    pub fn memory_bytes(program: &Program) -> usize {
        program.registers() * std::mem::size_of::<Register>()
            + program.stream_keys.len() * std::mem::size_of::<Lanes>()
    }

    /// Computes the samples `samples` of block `block` (which must start where the block starts)
    /// and folds them into `acc`.
    pub fn run_block(&mut self, block: u64, samples: Range<u64>, acc: &mut Accumulator) {
        debug_assert_eq!(samples.start, block * BLOCK_SAMPLES);
        match self.isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `new` checked that this CPU has the features the function is compiled for.
            Isa::Avx512 | Isa::Native => unsafe { run_block_avx512(self, block, samples, acc) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Isa::Avx2 => unsafe { run_block_avx2(self, block, samples, acc) },
            _ => run_block_body(self, block, samples, acc),
        }
    }

    /// The values of the first `count` samples (at most one block), e.g. to choose the variance
    /// shift.
    pub fn first_values(&mut self, count: u64) -> Vec<f64> {
        let count = count.min(BLOCK_SAMPLES);
        for (lanes, key) in self.lanes.iter_mut().zip(&self.program.stream_keys) {
            lanes.seed(*key, 0);
        }
        let mut values = Vec::with_capacity(count as usize);
        let mut start = 0;
        while start < count {
            eval_chunk(self, start);
            let len = (count - start).min(CHUNK as u64) as usize;
            values.extend_from_slice(&self.registers[self.program.output][..len]);
            start += CHUNK as u64;
        }
        values
    }
}

/// All registers, with the constant ones filled in once and for all.
fn constant_registers(program: &Program) -> Vec<Register> {
    let mut registers = vec![[0.0; CHUNK]; program.registers()];
    for (register, value) in registers.iter_mut().zip(&program.constants) {
        register.fill(*value);
    }
    registers
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma,bmi2")]
fn run_block_avx512(ev: &mut Evaluator, block: u64, samples: Range<u64>, acc: &mut Accumulator) {
    run_block_body(ev, block, samples, acc)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,bmi2")]
fn run_block_avx2(ev: &mut Evaluator, block: u64, samples: Range<u64>, acc: &mut Accumulator) {
    run_block_body(ev, block, samples, acc)
}

#[inline(always)]
fn run_block_body(ev: &mut Evaluator, block: u64, samples: Range<u64>, acc: &mut Accumulator) {
    let mut stats = LaneStats::new(ev.tracked);
    pass::<false>(
        ev,
        block,
        &samples,
        acc.shift,
        &mut stats,
        acc.histogram.as_mut(),
    );
    if stats.needs_careful_pass() {
        stats = LaneStats::new(ev.tracked);
        pass::<true>(ev, block, &samples, acc.shift, &mut stats, None);
    }
    acc.absorb_block(&mut stats);
}

/// Computes the block's values from the start of its streams and folds them into `stats` (and
/// into the histogram, which is given on the first pass only).
#[inline(always)]
fn pass<const CAREFUL: bool>(
    ev: &mut Evaluator,
    block: u64,
    samples: &Range<u64>,
    shift: f64,
    stats: &mut LaneStats,
    mut histogram: Option<&mut Histogram>,
) {
    for (lanes, key) in ev.lanes.iter_mut().zip(&ev.program.stream_keys) {
        lanes.seed(*key, block);
    }
    let mut start = samples.start;
    if let Some(native) = ev.native
        && !CAREFUL
        && histogram.is_none()
    {
        let groups = (samples.end - start) / LANES as u64;
        native.fold(&mut ev.lanes, start, groups, shift, stats);
        start += groups * LANES as u64;
    }
    while start < samples.end {
        let len = (samples.end - start).min(CHUNK as u64) as usize;
        match ev.native {
            Some(native) => {
                native.values(&mut ev.lanes, start, &mut ev.registers[ev.program.output])
            }
            None => eval_chunk(ev, start),
        }
        let values = &ev.registers[ev.program.output];
        stats.observe::<CAREFUL>(values, len, shift);
        if let Some(histogram) = histogram.as_deref_mut() {
            histogram.observe(values, len);
        }
        start += len as u64;
    }
}

/// Runs every instruction over one chunk whose first sample is `first_index`.
#[inline(always)]
fn eval_chunk(ev: &mut Evaluator, first_index: u64) {
    let Evaluator {
        program,
        registers,
        lanes,
        stepping,
        ..
    } = ev;
    for instruction in &program.instructions {
        let (inputs, rest) = registers.split_at_mut(instruction.dst());
        let out = &mut rest[0];
        match *instruction {
            Instruction::Draw { stream, draw, .. } => {
                distribution::draw(draw, &mut lanes[stream], *stepping, out);
            }
            Instruction::Index { .. } => {
                for (j, o) in out.iter_mut().enumerate() {
                    *o = (first_index + j as u64) as f64;
                }
            }
            Instruction::Splat { value, .. } => out.fill(value),
            Instruction::Unary { kind, arg, .. } => unary(kind, &inputs[arg], out),
            Instruction::Binary {
                kind, left, right, ..
            } => binary(kind, left, right, inputs, out),
            Instruction::Fused {
                outer,
                inner,
                args,
                inner_first,
                ..
            } => fused(outer, inner, inner_first, args.map(|r| &inputs[r]), out),
            Instruction::Select {
                condition,
                if_true,
                if_false,
                ..
            } => {
                let c = operand(inputs, condition);
                let t = operand(inputs, if_true);
                let f = operand(inputs, if_false);
                for (j, o) in out.iter_mut().enumerate() {
                    *o = semantics::select(c.at(j), t.at(j), f.at(j));
                }
            }
            Instruction::Call {
                special,
                args: [a, b],
                ..
            } => call(special, operand(inputs, a), operand(inputs, b), out),
            Instruction::Patch {
                special,
                condition,
                fast,
                args: [a, b],
                ..
            } => {
                let c = operand(inputs, condition);
                let fast = operand(inputs, fast);
                for (j, o) in out.iter_mut().enumerate() {
                    *o = fast.at(j);
                }
                if (0..CHUNK).any(|j| semantics::is_true(c.at(j))) {
                    let (a, b) = (operand(inputs, a), operand(inputs, b));
                    for (j, o) in out.iter_mut().enumerate() {
                        if semantics::is_true(c.at(j)) {
                            *o = special.fallback(a.at(j), b.at(j));
                        }
                    }
                }
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Source<'a> {
    Register(&'a Register),
    Constant(f64),
}

impl Source<'_> {
    #[inline(always)]
    fn at(self, j: usize) -> f64 {
        match self {
            Source::Register(r) => r[j],
            Source::Constant(c) => c,
        }
    }
}

#[inline(always)]
fn operand(inputs: &[Register], operand: Operand) -> Source<'_> {
    match operand {
        Operand::Register(r) => Source::Register(&inputs[r]),
        Operand::Constant(c) => Source::Constant(c),
    }
}

/// A math function over a chunk: one loop per function, the whole algorithm inlined so the
/// compiler vectorises it and keeps its intermediates in the CPU's registers. Patches are
/// deferred (`math::Deferred`), so the loop has no branch; the lanes that need one are then
/// recomputed one at a time by the same algorithm with its patches (`math::Scalar`).
#[inline(always)]
fn call(special: Special, a: Source, b: Source, out: &mut Register) {
    let (mut x, mut y) = ([0.0; CHUNK], [0.0; CHUNK]);
    for j in 0..CHUNK {
        x[j] = a.at(j);
        y[j] = b.at(j);
    }
    let mut patched = [false; CHUNK];
    // One loop per function, so that each inlines its own algorithm (`expand` of a constant).
    macro_rules! lanes {
        ($($special:ident)*) => {
            match special {
                $(Special::$special => {
                    for j in 0..CHUNK {
                        let mut lane = Deferred::default();
                        out[j] = math::expand(&mut lane, Special::$special, [x[j], y[j]]);
                        patched[j] = lane.patched;
                    }
                })*
                Special::NormalQuantile => normal_quantile(&x, out, &mut patched),
            }
        };
    }
    lanes!(Exp Log Log10 Sin Cos Tan Atan2 Pow);
    if any(&patched) {
        for j in (0..CHUNK).filter(|&j| patched[j]) {
            out[j] = math::scalar(special, x[j], y[j]);
        }
    }
}

/// Whether any lane is flagged, eight flags at a time (`contains` compares them one by one).
#[inline(always)]
fn any(flags: &[bool; CHUNK]) -> bool {
    flags
        .chunks_exact(8)
        .map(|eight| u64::from_ne_bytes(std::array::from_fn(|k| u8::from(eight[k]))))
        .fold(0, |all, eight| all | eight)
        != 0
}

/// The normal quantile over a chunk without computing both of its branches in every lane:
/// the central branch in every lane, then the tail branch (a `log`, a `sqrt` and its own
/// rational function, the dearer one) in the tail lanes alone, gathered into a dense chunk,
/// about 15% of them. Each lane does the operations of its own branch, so the values are those
/// of `math::normal_quantile`.
#[inline(always)]
fn normal_quantile(p: &Register, out: &mut Register, patched: &mut [bool; CHUNK]) {
    let mut central = [0.0; CHUNK];
    for j in 0..CHUNK {
        (out[j], central[j]) = math::normal_quantile_central(&mut Deferred::default(), p[j]);
    }
    // A mask built apart from the vectorised loop (a running count would keep it scalar), then
    // read a set bit at a time: about ten per chunk, against 64 lanes to step through.
    const _: () = assert!(CHUNK <= u64::BITS as usize);
    let mut tail_mask = 0u64;
    for (j, &central) in central.iter().enumerate() {
        tail_mask |= u64::from(central == 0.0) << j;
    }
    let tails = tail_mask.count_ones() as usize;
    let mut tail_lanes = [0usize; CHUNK];
    // Padded to whole vectors with a central probability, which no lane keeps.
    let mut dense = [0.5; CHUNK];
    for k in 0..tails {
        let j = tail_mask.trailing_zeros() as usize;
        tail_mask &= tail_mask - 1;
        tail_lanes[k] = j;
        dense[k] = p[j];
    }
    let (mut values, mut dense_patched) = ([0.0; CHUNK], [false; CHUNK]);
    for k in 0..tails.next_multiple_of(8).min(CHUNK) {
        let mut lane = Deferred::default();
        values[k] = math::normal_quantile_tail(&mut lane, dense[k]);
        dense_patched[k] = lane.patched;
    }
    for (k, &j) in tail_lanes[..tails].iter().enumerate() {
        out[j] = values[k];
        patched[j] = dense_patched[k];
    }
}

/// One loop per operation, each specialised so the compiler can vectorise it.
#[inline(always)]
fn map1(x: &Register, out: &mut Register, f: impl Fn(f64) -> f64) {
    for (o, v) in out.iter_mut().zip(x) {
        *o = f(*v);
    }
}

#[inline(always)]
fn unary(kind: UnaryKind, x: &Register, out: &mut Register) {
    match kind {
        UnaryKind::Op(UnaryOp::Neg) => map1(x, out, |v| -v),
        UnaryKind::Function(Function::Sqrt) => map1(x, out, f64::sqrt),
        UnaryKind::Function(Function::Abs) => map1(x, out, f64::abs),
        UnaryKind::Function(Function::Floor) => map1(x, out, f64::floor),
        UnaryKind::Function(Function::Ceil) => map1(x, out, f64::ceil),
        UnaryKind::Bits(Bits::Exponent) => map1(x, out, |v| Bits::Exponent.apply(v)),
        UnaryKind::Bits(Bits::Significand) => map1(x, out, |v| Bits::Significand.apply(v)),
        UnaryKind::Bits(Bits::HighWord) => map1(x, out, |v| Bits::HighWord.apply(v)),
        UnaryKind::Bits(Bits::PowerOfTwo) => map1(x, out, |v| Bits::PowerOfTwo.apply(v)),
        other => map1(x, out, |v| apply_unary(other, v)),
    }
}

#[inline(always)]
fn map2(left: Source, right: Source, out: &mut Register, f: impl Fn(f64, f64) -> f64) {
    match (left, right) {
        (Source::Register(a), Source::Register(b)) => {
            for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
                *o = f(*x, *y);
            }
        }
        (Source::Register(a), Source::Constant(c)) => {
            for (o, x) in out.iter_mut().zip(a) {
                *o = f(*x, c);
            }
        }
        (Source::Constant(c), Source::Register(b)) => {
            for (o, y) in out.iter_mut().zip(b) {
                *o = f(c, *y);
            }
        }
        (Source::Constant(a), Source::Constant(b)) => out.fill(f(a, b)),
    }
}

#[inline(always)]
fn binary(
    kind: BinaryKind,
    left: Operand,
    right: Operand,
    inputs: &[Register],
    out: &mut Register,
) {
    if let (BinaryKind::Op(BinaryOp::Mul), Operand::Register(x)) = (kind, left)
        && left == right
    {
        return map1(&inputs[x], out, |v| v * v);
    }
    let (a, b) = (operand(inputs, left), operand(inputs, right));
    match kind {
        BinaryKind::Op(BinaryOp::Add) => map2(a, b, out, |x, y| x + y),
        BinaryKind::Op(BinaryOp::Sub) => map2(a, b, out, |x, y| x - y),
        BinaryKind::Op(BinaryOp::Mul) => map2(a, b, out, |x, y| x * y),
        BinaryKind::Op(BinaryOp::Div) => map2(a, b, out, |x, y| x / y),
        BinaryKind::Op(op @ (BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge)) => {
            match op {
                BinaryOp::Lt => map2(a, b, out, |x, y| semantics::binary(BinaryOp::Lt, x, y)),
                BinaryOp::Le => map2(a, b, out, |x, y| semantics::binary(BinaryOp::Le, x, y)),
                BinaryOp::Gt => map2(a, b, out, |x, y| semantics::binary(BinaryOp::Gt, x, y)),
                _ => map2(a, b, out, |x, y| semantics::binary(BinaryOp::Ge, x, y)),
            }
        }
        BinaryKind::Function(Function::Min) => map2(a, b, out, semantics::min),
        BinaryKind::Function(Function::Max) => map2(a, b, out, semantics::max),
        BinaryKind::Scale => map2(a, b, out, math::scale),
        other => map2(a, b, out, |x, y| apply_binary(other, x, y)),
    }
}

/// `outer(inner(a, b), c)` (or `outer(c, inner(a, b))`) in one loop, one specialised loop per
/// combination so that each vectorises.
#[inline(always)]
fn fused(
    outer: Arith,
    inner: Arith,
    inner_first: bool,
    [a, b, c]: [&Register; 3],
    out: &mut Register,
) {
    #[inline(always)]
    fn run(
        a: &Register,
        b: &Register,
        c: &Register,
        out: &mut Register,
        f: impl Fn(f64, f64, f64) -> f64,
    ) {
        for (j, o) in out.iter_mut().enumerate() {
            *o = f(a[j], b[j], c[j]);
        }
    }
    macro_rules! combinations {
        ($($outer:ident $o:tt, $inner:ident $i:tt;)*) => {
            match (outer, inner, inner_first) {
                $(
                    (Arith::$outer, Arith::$inner, true) => run(a, b, c, out, |x, y, z| (x $i y) $o z),
                    (Arith::$outer, Arith::$inner, false) => run(a, b, c, out, |x, y, z| z $o (x $i y)),
                )*
            }
        };
    }
    combinations! {
        Add +, Add +; Add +, Sub -; Add +, Mul *; Add +, Div /;
        Sub -, Add +; Sub -, Sub -; Sub -, Mul *; Sub -, Div /;
        Mul *, Add +; Mul *, Sub -; Mul *, Mul *; Mul *, Div /;
        Div /, Add +; Div /, Sub -; Div /, Mul *; Div /, Div /;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobfile;
    use crate::kernel::program::{MathForm, compile};

    #[test]
    fn the_chunked_normal_quantile_gives_each_lane_the_value_of_its_own_algorithm() {
        let edges = [
            f64::EPSILON / 4.0,
            1e-300,
            1e-12,
            0.075,
            0.075 + f64::EPSILON,
            0.5 - 0.425,
            0.5,
            0.5 + 0.425,
            0.925,
            0.999_999,
            1.0 - f64::EPSILON / 2.0,
        ];
        // No tail lane, every lane a tail one, and mixes with the tail lanes anywhere.
        let chunks: Vec<Vec<f64>> = vec![
            vec![0.3; CHUNK],
            (0..CHUNK).map(|j| edges[j % 3]).collect(),
            (0..CHUNK).map(|j| edges[j % edges.len()]).collect(),
            (0..CHUNK)
                .map(|j| (j as f64 + 0.5) / CHUNK as f64)
                .collect(),
        ];
        for chunk in chunks {
            let p: Register = chunk.try_into().unwrap();
            let mut out = [0.0; CHUNK];
            call(
                Special::NormalQuantile,
                Source::Register(&p),
                Source::Constant(0.0),
                &mut out,
            );
            for j in 0..CHUNK {
                let alone = math::scalar(Special::NormalQuantile, p[j], p[j]);
                assert_eq!(out[j].to_bits(), alone.to_bits(), "p = {:e}", p[j]);
            }
        }
    }

    /// The job's results on every loop path this CPU has, from the program in both forms.
    fn run_all_paths(expr: &str, vars: &str) -> Vec<Accumulator> {
        let text = format!(
            "name: t\nseed: 9\ncompute:\n  samples: 5000\n  vars:\n{vars}\n  expr: \"{expr}\"\nreduce: [{{histogram: {{bins: 7, range: [-2, 2]}}}}]\n"
        );
        let spec = jobfile::parse(&text).unwrap();
        let forms = [MathForm::Calls, MathForm::Expanded];
        let programs = forms.map(|form| compile(spec.compute().unwrap(), spec.seed, form));
        let paths = [Isa::Portable, Isa::Avx2, Isa::Avx512];
        programs
            .iter()
            .flat_map(|program| {
                paths
                    .iter()
                    .filter(|isa| isa.supported())
                    .map(move |isa| (program, *isa))
            })
            .map(|(program, isa)| {
                let mut ev = Evaluator::new(program, isa, Tracked::ALL);
                let mut acc = Accumulator::new(0.25, spec.reduce.histogram);
                ev.run_block(0, 0..BLOCK_SAMPLES, &mut acc);
                ev.run_block(1, BLOCK_SAMPLES..5000, &mut acc);
                acc
            })
            .collect()
    }

    #[test]
    fn every_code_path_and_both_math_forms_give_the_same_bits() {
        let vars =
            "    a: uniform(-1, 1)\n    n: normal(0, 1)\n    x: exponential(2)\n    i: index()";
        for expr in [
            "(-a + sqrt(a^2 + 4*x)) / (2*n)",
            "where(a > 0, exp(n), log(x)) + sin(a) * cos(n) - tan(a) / 7",
            "min(a, n) + max(x, a) + floor(n) - ceil(a) + abs(n) + atan2(a, n) + pow(x, 1.5) + log10(x)",
            "(a < n) + (a <= n) + (a > n) + (a >= n) + (a == a) + (a != n) + (a && n) + (a || 0) + !a",
            "i * 1e-3 - a",
            // Lanes that are patched, with finite values: huge and subnormal arguments,
            // subnormal results, zeros, pow's exact cases.
            "sin(a * 1e7) + cos(a * 1e7) + tan(a * 1e7)",
            "log(abs(a) * 1e-310) + log10(abs(a) * 1e-310) + exp(-740 - x)",
            "pow(x, 0.5) + pow(x, -1) + atan2(a * 0, n)",
        ] {
            let results = run_all_paths(expr, vars);
            for other in &results[1..] {
                assert_eq!(&results[0], other, "{expr}");
            }
        }
    }

    #[test]
    fn fusion_does_not_change_bits() {
        let text = "name: t\nseed: 3\ncompute:\n  samples: 5000\n  vars:\n    a: uniform(1, 2)\n    b: normal(0, 1)\n  expr: (a * 3 - b) / (b * b + 1) - (2 / a + b) * (a - 1 / b)\nreduce: [mean]\n";
        let spec = jobfile::parse(text).unwrap();
        let fused = compile(spec.compute().unwrap(), spec.seed, MathForm::Calls);
        let plain = crate::kernel::program::compile_unfused(
            spec.compute().unwrap(),
            spec.seed,
            MathForm::Calls,
        );
        assert!(fused.instructions.len() < plain.instructions.len());
        let run = |program: &Program| {
            let mut ev = Evaluator::new(program, Isa::detect(), Tracked::ALL);
            let mut acc = Accumulator::new(0.0, None);
            ev.run_block(0, 0..BLOCK_SAMPLES, &mut acc);
            ev.run_block(1, BLOCK_SAMPLES..5000, &mut acc);
            acc
        };
        assert_eq!(run(&fused), run(&plain));
    }

    #[test]
    fn isa_names_round_trip() {
        for isa in Isa::ALL {
            assert_eq!(Isa::from_name(isa.name()), Some(isa));
        }
        assert!(Isa::detect().supported());
    }
}

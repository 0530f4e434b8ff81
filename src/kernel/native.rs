//! Machine code generated at run time for one program, on CPUs with AVX-512.
//!
//! The register machine in `eval` runs one instruction over a whole chunk before the next, so
//! the long square roots and divisions wait behind one another while the integer units that run
//! the generators sit idle. Here the whole program runs on eight samples at a time, every value
//! and every generator state held in a `zmm` register, which is what lets the core overlap the
//! divider with the generators (a hand-written loop does the same). The lane statistics are
//! folded in the same loop, so the values never go through memory. The code does exactly the
//! operations the register machine and `LaneStats` do, in the same order, with no fused
//! multiply-add, so the bits are the same. Where an instruction's answer differs from the
//! definition (NaN in `vminpd`), it is corrected. Programs using anything else (`normal` and
//! `exponential` draws, `exp`, `log`, trigonometry, `atan2`, powers other than squares) or
//! needing more registers than there are stay on the register machine.

use std::mem::offset_of;

use iced_x86::IcedError;
use iced_x86::code_asm::asm_traits::{CodeAsmVaddpd, CodeAsmVdivpd, CodeAsmVmulpd, CodeAsmVsubpd};
use iced_x86::code_asm::*;

use super::fuse::reads;
use super::program::{Arith, BinaryKind, Instruction, Operand, Program, UnaryKind};
use super::rng::{LANES, Lanes};
use crate::expr::{BinaryOp, Distribution, Function, UnaryOp};
use crate::reduce::{LaneStats, Tracked};

const ZMM: [AsmRegisterZmm; 32] = [
    zmm0, zmm1, zmm2, zmm3, zmm4, zmm5, zmm6, zmm7, zmm8, zmm9, zmm10, zmm11, zmm12, zmm13, zmm14,
    zmm15, zmm16, zmm17, zmm18, zmm19, zmm20, zmm21, zmm22, zmm23, zmm24, zmm25, zmm26, zmm27,
    zmm28, zmm29, zmm30, zmm31,
];

/// Slots of the table the code reads its constants from (as 64-bit patterns).
const EXPONENT_OF_ONE: usize = 0;
const ONE: usize = 1;
const SIGN_BIT: usize = 2;
const ALL_BUT_SIGN: usize = 3;
const LANE_STRIDE: usize = 4;
/// Eight slots: the lane numbers 0..8, added to the first sample index.
const LANE_NUMBERS: usize = 5;
const FIXED_SLOTS: usize = LANE_NUMBERS + LANES;

/// Everything one call of the generated code reads and writes; its only argument points here.
#[repr(C)]
struct Call {
    lanes: *mut Lanes,
    table: *const u64,
    first_index: u64,
    /// Groups of [`LANES`] samples to compute.
    groups: u64,
    /// Where the values go (values code).
    out: *mut f64,
    /// The lane statistics, folded in and written back (statistics code).
    shift: f64,
    statistics: [[f64; LANES]; 4],
}

type Entry = unsafe extern "sysv64" fn(*mut Call);

/// One generated function, kept with the mapping its code lives in.
struct Code {
    _code: memmap2::Mmap,
    entry: Entry,
}

/// What the code does with each group of eight values.
#[derive(Clone, Copy)]
enum Sink {
    /// Stores them, in sample order.
    Values,
    /// Folds them into the lane statistics exactly as `LaneStats::observe::<false>` does.
    Statistics(Tracked),
}

/// A program compiled to machine code, ready to run on any thread.
pub struct NativeCode {
    values: Code,
    statistics: Code,
    table: Vec<u64>,
    streams: usize,
    tracked: Tracked,
}

// SAFETY: the mappings are read-only and executable, and the table is never written after
// `compile`; running the code changes nothing but the buffers each call is given.
unsafe impl Send for NativeCode {}
unsafe impl Sync for NativeCode {}

impl NativeCode {
    /// The program as machine code, or why not: this CPU has no AVX-512, or the program uses
    /// something only the register machine does, or needs more registers than there are.
    /// `tracked` says which lane statistics [`NativeCode::fold`] keeps.
    pub fn compile(program: &Program, tracked: Tracked) -> Result<NativeCode, String> {
        if !super::Isa::Avx512.supported() {
            return Err("this CPU has no AVX-512".into());
        }
        let generate = |sink| {
            Generator::new(program, sink)
                .and_then(Generator::generate)
                .map_err(|refusal| match refusal {
                    Refusal::Unsupported(what) => format!("it does not handle {what}"),
                    Refusal::Assembler(error) => format!("assembler error: {error}"),
                })
        };
        let values = generate(Sink::Values)?;
        let statistics = generate(Sink::Statistics(tracked))?;
        // Both read one table: they meet the same constants in the same order.
        debug_assert_eq!(values.table, statistics.table);
        Ok(NativeCode {
            values: Code::map(&values.code)?,
            statistics: Code::map(&statistics.code)?,
            table: values.table,
            streams: program.stream_keys.len(),
            tracked,
        })
    }

    /// Computes the next `out.len()` values (a multiple of [`LANES`]) from sample
    /// `first_index` on, advancing `lanes`.
    pub fn values(&self, lanes: &mut [Lanes], first_index: u64, out: &mut [f64]) {
        assert_eq!(out.len() % LANES, 0, "whole groups of lanes");
        let mut call = self.call(lanes, first_index, (out.len() / LANES) as u64);
        call.out = out.as_mut_ptr();
        self.run(&self.values, &mut call);
    }

    /// Computes the next `groups` groups of [`LANES`] values from sample `first_index` on, and
    /// folds them into `stats` as `LaneStats::observe::<false>` would, advancing `lanes`.
    pub fn fold(
        &self,
        lanes: &mut [Lanes],
        first_index: u64,
        groups: u64,
        shift: f64,
        stats: &mut LaneStats,
    ) {
        let mut call = self.call(lanes, first_index, groups);
        call.shift = shift;
        stats.fold_whole_groups(self.tracked, groups * LANES as u64, |statistics| {
            call.statistics = *statistics;
            self.run(&self.statistics, &mut call);
            *statistics = call.statistics;
        });
    }

    fn call(&self, lanes: &mut [Lanes], first_index: u64, groups: u64) -> Call {
        assert_eq!(lanes.len(), self.streams);
        Call {
            lanes: lanes.as_mut_ptr(),
            table: self.table.as_ptr(),
            first_index,
            groups,
            out: std::ptr::null_mut(),
            shift: 0.0,
            statistics: [[0.0; LANES]; 4],
        }
    }

    fn run(&self, code: &Code, call: &mut Call) {
        if call.groups == 0 {
            return;
        }
        // SAFETY: `call` points at the generators of every stream the code reads, the table it
        // was generated with, and (for the values code) room for `groups` groups of values;
        // `compile` checked that this CPU runs the code.
        unsafe { (code.entry)(call) }
    }
}

impl Code {
    fn map(bytes: &[u8]) -> Result<Code, String> {
        let unmappable = |error: std::io::Error| format!("no executable memory: {error}");
        let mut map = memmap2::MmapMut::map_anon(bytes.len()).map_err(unmappable)?;
        map.copy_from_slice(bytes);
        let code = map.make_exec().map_err(unmappable)?;
        // SAFETY: the mapping holds a complete function with this signature, generated by
        // `Generator::generate`, and stays mapped as long as `entry` can be called.
        let entry = unsafe { std::mem::transmute::<*const u8, Entry>(code.as_ptr()) };
        Ok(Code { _code: code, entry })
    }
}

/// Where an operand of an operation lives while the code runs.
#[derive(Clone, Copy)]
enum Place {
    Register(AsmRegisterZmm),
    /// A slot of the constant table, read as a broadcast.
    Constant(usize),
}

// Predicates of `vcmppd`, chosen to answer as Rust's `<`, `<=`, `>`, `>=`, `==` and `!=` do
// when either side is NaN (false, except for `!=`).
const EQUAL: i32 = 0x00;
const LESS: i32 = 0x01;
const LESS_OR_EQUAL: i32 = 0x02;
const UNORDERED: i32 = 0x03;
const NOT_EQUAL_OR_UNORDERED: i32 = 0x04;
const GREATER_OR_EQUAL: i32 = 0x0D;
const GREATER: i32 = 0x0E;
/// The immediate of `vpternlogq` for `a ^ b ^ c`.
const THREE_WAY_XOR: i32 = 0x96;
/// The spacing of `unit_interval`'s values, 2^-52.
const UNIT_STEP: f64 = f64::EPSILON;
// Immediates of `vrndscalepd`: round toward -inf or +inf to whole numbers, without raising the
// precision exception.
const ROUND_DOWN: i32 = 0x09;
const ROUND_UP: i32 = 0x0A;

/// Why a program stays on the register machine.
enum Refusal {
    /// Something the program uses that is not compiled to machine code, as the user wrote it.
    Unsupported(String),
    Assembler(IcedError),
}

impl From<IcedError> for Refusal {
    fn from(error: IcedError) -> Self {
        Refusal::Assembler(error)
    }
}

fn unsupported_function(function: Function) -> Refusal {
    Refusal::Unsupported(format!("{}()", function.name()))
}

fn too_many_values() -> Refusal {
    Refusal::Unsupported(format!(
        "more values at once than the {} vector registers hold",
        ZMM.len()
    ))
}

/// A generated function and the constant table it reads.
struct Generated {
    code: Vec<u8>,
    table: Vec<u64>,
}

struct Generator<'p> {
    program: &'p Program,
    sink: Sink,
    asm: CodeAssembler,
    table: Vec<u64>,
    /// The register of each program register that is held in one.
    held: Vec<Option<AsmRegisterZmm>>,
    free: Vec<AsmRegisterZmm>,
    /// The last instruction reading each program register (`usize::MAX` for the output).
    last_use: Vec<usize>,
    states: Vec<[AsmRegisterZmm; 4]>,
    index: Option<AsmRegisterZmm>,
    /// The lane sums, squares, minima and maxima (statistics code), as tracked.
    statistics: [Option<AsmRegisterZmm>; 4],
    /// Two registers for values that never outlive one instruction.
    scratch: [AsmRegisterZmm; 2],
}

const SUMS: usize = 0;
const SQUARES: usize = 1;
const MINIMA: usize = 2;
const MAXIMA: usize = 3;

// General registers of the generated code (all caller-saved in System V).
const CALL: AsmRegister64 = rdi;
const TABLE: AsmRegister64 = rsi;
const OUT: AsmRegister64 = rdx;
const LANES_BASE: AsmRegister64 = r8;
const GROUPS_LEFT: AsmRegister64 = rax;

fn lane_word(stream: usize, word: usize) -> AsmMemoryOperand {
    zmmword_ptr(LANES_BASE + (stream * size_of::<Lanes>() + word * 8 * LANES))
}

fn statistic_of_call(statistic: usize) -> AsmMemoryOperand {
    zmmword_ptr(CALL + (offset_of!(Call, statistics) + statistic * 8 * LANES))
}

fn table_slot(slot: usize) -> AsmMemoryOperand {
    qword_ptr(TABLE + slot * 8)
}

fn table_broadcast(slot: usize) -> AsmMemoryOperand {
    qword_bcst(TABLE + slot * 8)
}

impl<'p> Generator<'p> {
    fn new(program: &'p Program, sink: Sink) -> Result<Generator<'p>, Refusal> {
        let mut registers = ZMM.into_iter();
        let mut next = || registers.next().ok_or_else(too_many_values);
        let states: Vec<[AsmRegisterZmm; 4]> = (0..program.stream_keys.len())
            .map(|_| Ok([next()?, next()?, next()?, next()?]))
            .collect::<Result<_, Refusal>>()?;
        let uses_index = program
            .instructions
            .iter()
            .any(|i| matches!(i, Instruction::Index { .. }));
        let index = if uses_index { Some(next()?) } else { None };
        let mut statistics = [None; 4];
        if let Sink::Statistics(tracked) = sink {
            statistics[SUMS] = Some(next()?);
            if tracked.squares {
                statistics[SQUARES] = Some(next()?);
            }
            if tracked.extremes {
                statistics[MINIMA] = Some(next()?);
                statistics[MAXIMA] = Some(next()?);
            }
        }
        let scratch = [next()?, next()?];
        let mut last_use = vec![0; program.registers()];
        for (position, instruction) in program.instructions.iter().enumerate() {
            for read in reads(instruction) {
                last_use[read] = position;
            }
        }
        last_use[program.output] = usize::MAX;
        let mut table = vec![0; FIXED_SLOTS];
        table[EXPONENT_OF_ONE] = 0x3FF0_0000_0000_0000;
        table[ONE] = 1.0f64.to_bits();
        table[SIGN_BIT] = 1 << 63;
        table[ALL_BUT_SIGN] = !(1 << 63);
        table[LANE_STRIDE] = LANES as u64;
        for lane in 0..LANES {
            table[LANE_NUMBERS + lane] = lane as u64;
        }
        Ok(Generator {
            program,
            sink,
            asm: CodeAssembler::new(64)?,
            table,
            held: vec![None; program.registers()],
            free: registers.rev().collect(),
            last_use,
            states,
            index,
            statistics,
            scratch,
        })
    }

    /// The code and its constant table, or `None` if the program needs something not handled
    /// here.
    fn generate(mut self) -> Result<Generated, Refusal> {
        let asm = &mut self.asm;
        asm.mov(LANES_BASE, qword_ptr(CALL + offset_of!(Call, lanes)))?;
        asm.mov(TABLE, qword_ptr(CALL + offset_of!(Call, table)))?;
        asm.mov(OUT, qword_ptr(CALL + offset_of!(Call, out)))?;
        asm.mov(GROUPS_LEFT, qword_ptr(CALL + offset_of!(Call, groups)))?;
        for (stream, state) in self.states.iter().enumerate() {
            for (word, register) in state.iter().enumerate() {
                asm.vmovdqu64(*register, lane_word(stream, word))?;
            }
        }
        if let Some(index) = self.index {
            asm.vpbroadcastq(index, qword_ptr(CALL + offset_of!(Call, first_index)))?;
            asm.vpaddq(index, index, zmmword_ptr(TABLE + LANE_NUMBERS * 8))?;
        }
        for (statistic, register) in self.statistics.iter().enumerate() {
            if let Some(register) = register {
                asm.vmovupd(*register, statistic_of_call(statistic))?;
            }
        }
        let mut group = asm.create_label();
        asm.set_label(&mut group)?;
        for position in 0..self.program.instructions.len() {
            self.instruction(position)?;
        }
        let output = self.held[self.program.output].expect("the output is computed");
        match self.sink {
            Sink::Values => {
                self.asm.vmovupd(zmmword_ptr(OUT), output)?;
                self.asm.add(OUT, (LANES * 8) as i32)?;
            }
            Sink::Statistics(_) => self.fold(output)?,
        }
        let asm = &mut self.asm;
        asm.dec(GROUPS_LEFT)?;
        asm.jnz(group)?;
        for (stream, state) in self.states.iter().enumerate() {
            for (word, register) in state.iter().enumerate() {
                asm.vmovdqu64(lane_word(stream, word), *register)?;
            }
        }
        for (statistic, register) in self.statistics.iter().enumerate() {
            if let Some(register) = register {
                asm.vmovupd(statistic_of_call(statistic), *register)?;
            }
        }
        asm.vzeroupper()?;
        asm.ret()?;
        Ok(Generated {
            code: asm.assemble(0)?,
            table: self.table,
        })
    }

    /// Folds the group of values in `x` into the lane statistics: the same operations, in the
    /// same order, as `LaneStats::observe_lanes::<false, ..>`.
    fn fold(&mut self, x: AsmRegisterZmm) -> Result<(), IcedError> {
        let asm = &mut self.asm;
        let [deviation, square] = self.scratch;
        asm.vsubpd(deviation, x, qword_bcst(CALL + offset_of!(Call, shift)))?;
        if let Some(sums) = self.statistics[SUMS] {
            asm.vaddpd(sums, sums, deviation)?;
        }
        if let Some(squares) = self.statistics[SQUARES] {
            asm.vmulpd(square, deviation, deviation)?;
            asm.vaddpd(squares, squares, square)?;
        }
        // `vminpd a, b` is `a < b ? a : b`, and `vmaxpd` likewise: the comparisons the
        // register machine makes, with the same answer for NaN and signed zeros.
        if let Some(minima) = self.statistics[MINIMA] {
            asm.vminpd(minima, x, minima)?;
        }
        if let Some(maxima) = self.statistics[MAXIMA] {
            asm.vmaxpd(maxima, x, maxima)?;
        }
        Ok(())
    }

    /// Emits one instruction.
    fn instruction(&mut self, position: usize) -> Result<(), Refusal> {
        let instruction = self.program.instructions[position];
        let operands: Vec<Place> = match instruction {
            Instruction::Unary { arg, .. } => vec![self.place(arg)],
            Instruction::Binary { left, right, .. } => {
                vec![self.operand(left), self.operand(right)]
            }
            Instruction::Fused { args, .. } => args.iter().map(|&arg| self.place(arg)).collect(),
            Instruction::Select {
                condition,
                if_true,
                if_false,
                ..
            } => vec![
                self.operand(condition),
                self.operand(if_true),
                self.operand(if_false),
            ],
            Instruction::Draw { .. } | Instruction::Index { .. } | Instruction::Splat { .. } => {
                Vec::new()
            }
        };
        // The destination is taken before the operands' registers are given back, so that
        // operations of several steps may read an operand after writing the destination.
        let dst = self.free.pop().ok_or_else(too_many_values)?;
        let dst_register = instruction.dst();
        self.held[dst_register] = Some(dst);
        for read in reads(&instruction) {
            if self.last_use[read] == position {
                self.release(read);
            }
        }
        match instruction {
            Instruction::Draw {
                stream,
                distribution,
                ..
            } => self.draw(stream, distribution, dst)?,
            Instruction::Index { .. } => {
                let index = self.index.expect("a register was set aside for the index");
                self.asm.vcvtuqq2pd(dst, index)?;
                self.asm
                    .vpaddq(index, index, table_broadcast(LANE_STRIDE))?;
            }
            Instruction::Splat { value, .. } => {
                let slot = self.constant(value);
                self.asm.vbroadcastsd(dst, table_slot(slot))?;
            }
            Instruction::Unary { kind, .. } => self.unary(kind, operands[0], dst)?,
            Instruction::Binary { kind, .. } => match Arith::of(kind) {
                Some(arith) => self.arith(arith, operands[0], operands[1], dst)?,
                None => self.binary(kind, operands[0], operands[1], dst)?,
            },
            Instruction::Fused {
                outer,
                inner,
                inner_first,
                ..
            } => {
                let intermediate = self.scratch[0];
                self.arith(inner, operands[0], operands[1], intermediate)?;
                let intermediate = Place::Register(intermediate);
                if inner_first {
                    self.arith(outer, intermediate, operands[2], dst)?;
                } else {
                    self.arith(outer, operands[2], intermediate, dst)?;
                }
            }
            Instruction::Select { .. } => {
                // `vblendmpd` takes the second source where the mask is set.
                let condition = self.in_register(operands[0], self.scratch[0])?;
                self.is_true(k1, condition)?;
                let if_false = self.in_register(operands[2], self.scratch[1])?;
                match operands[1] {
                    Place::Register(if_true) => self.asm.vblendmpd(dst.k1(), if_false, if_true)?,
                    Place::Constant(slot) => {
                        self.asm
                            .vblendmpd(dst.k1(), if_false, table_broadcast(slot))?
                    }
                }
            }
        }
        if self.last_use[dst_register] <= position {
            self.release(dst_register);
        }
        Ok(())
    }

    /// Where program register `register` is: a constant register reads the table.
    fn place(&mut self, register: usize) -> Place {
        match self.program.constants.get(register) {
            Some(&value) => Place::Constant(self.constant(value)),
            None => Place::Register(self.held[register].expect("computed before it is read")),
        }
    }

    fn operand(&mut self, operand: Operand) -> Place {
        match operand {
            Operand::Register(register) => self.place(register),
            Operand::Constant(value) => Place::Constant(self.constant(value)),
        }
    }

    /// Gives the register holding program register `register` back; reading a register twice
    /// in one instruction releases it once.
    fn release(&mut self, register: usize) {
        if let Some(held) = self.held[register].take() {
            self.free.push(held);
        }
    }

    /// The table slot holding `value`.
    fn constant(&mut self, value: f64) -> usize {
        let bits = value.to_bits();
        match self.table[FIXED_SLOTS..].iter().position(|&b| b == bits) {
            Some(offset) => FIXED_SLOTS + offset,
            None => {
                self.table.push(bits);
                self.table.len() - 1
            }
        }
    }

    /// A register holding the value of `place`: its own, or `scratch` with a constant.
    fn in_register(
        &mut self,
        place: Place,
        scratch: AsmRegisterZmm,
    ) -> Result<AsmRegisterZmm, IcedError> {
        Ok(match place {
            Place::Register(register) => register,
            Place::Constant(slot) => {
                self.asm.vbroadcastsd(scratch, table_slot(slot))?;
                scratch
            }
        })
    }

    /// Sets `mask` where `x` is true in the sense of `semantics::is_true`: nonzero or NaN.
    fn is_true(&mut self, mask: AsmRegisterK, x: AsmRegisterZmm) -> Result<(), IcedError> {
        let zero = self.constant(0.0);
        self.asm
            .vcmppd(mask, x, table_broadcast(zero), NOT_EQUAL_OR_UNORDERED)
    }

    /// `dst = k1 ? 1.0 : 0.0`, as `semantics::truth`.
    fn truth(&mut self, dst: AsmRegisterZmm) -> Result<(), IcedError> {
        self.asm.vbroadcastsd(dst.k1().z(), table_slot(ONE))
    }

    /// Comparisons, logic, `min` and `max`, exactly as `semantics` defines them.
    fn binary(
        &mut self,
        kind: BinaryKind,
        left: Place,
        right: Place,
        dst: AsmRegisterZmm,
    ) -> Result<(), Refusal> {
        let a = self.in_register(left, self.scratch[0])?;
        let predicate = match kind {
            BinaryKind::Op(BinaryOp::Lt) => Some(LESS),
            BinaryKind::Op(BinaryOp::Le) => Some(LESS_OR_EQUAL),
            BinaryKind::Op(BinaryOp::Gt) => Some(GREATER),
            BinaryKind::Op(BinaryOp::Ge) => Some(GREATER_OR_EQUAL),
            BinaryKind::Op(BinaryOp::Eq) => Some(EQUAL),
            BinaryKind::Op(BinaryOp::Ne) => Some(NOT_EQUAL_OR_UNORDERED),
            _ => None,
        };
        if let Some(predicate) = predicate {
            match right {
                Place::Register(b) => self.asm.vcmppd(k1, a, b, predicate)?,
                Place::Constant(slot) => {
                    self.asm.vcmppd(k1, a, table_broadcast(slot), predicate)?
                }
            }
            return Ok(self.truth(dst)?);
        }
        let b = self.in_register(right, self.scratch[1])?;
        match kind {
            BinaryKind::Op(op @ (BinaryOp::And | BinaryOp::Or)) => {
                self.is_true(k1, a)?;
                self.is_true(k2, b)?;
                if op == BinaryOp::And {
                    self.asm.kandw(k1, k1, k2)?;
                } else {
                    self.asm.korw(k1, k1, k2)?;
                }
                self.truth(dst)?;
            }
            // `semantics::min(a, b)` is `b < a || a is NaN ? b : a`; `vminpd dst, b, a` is
            // `b < a ? b : a`, or `a` if either is NaN, so a NaN `a` is replaced by `b` after.
            BinaryKind::Function(function @ (Function::Min | Function::Max)) => {
                self.asm.vcmppd(k1, a, a, UNORDERED)?;
                if function == Function::Min {
                    self.asm.vminpd(dst, b, a)?;
                } else {
                    self.asm.vmaxpd(dst, b, a)?;
                }
                self.asm.vmovapd(dst.k1(), b)?;
            }
            BinaryKind::Op(op) => return Err(Refusal::Unsupported(format!("`{}`", op.symbol()))),
            BinaryKind::Function(function) => return Err(unsupported_function(function)),
        }
        Ok(())
    }

    /// The next eight values of a uniform var from stream `stream`: one xoshiro256++ step of
    /// every lane, then `low + (high - low) * unit_interval(x)` as in `distribution`.
    fn draw(
        &mut self,
        stream: usize,
        distribution: Distribution,
        dst: AsmRegisterZmm,
    ) -> Result<(), Refusal> {
        let Distribution::Uniform { low, high } = distribution else {
            return Err(Refusal::Unsupported(distribution.to_string()));
        };
        let [s0, s1, s2, s3] = self.states[stream];
        let t = self.scratch[1];
        let width = high - low;
        // `unit_interval(x)` is `m * 2^-52` exactly, with `m = x >> 12`, so `width * u` is the
        // one rounding of `m * width * 2^-52`, which is also `m * (width * 2^-52)` when that
        // scaling is exact: one conversion and one multiplication instead of three operations.
        let scaled_width = width * UNIT_STEP;
        let exact_scaling = scaled_width.is_normal() && scaled_width / UNIT_STEP == width;
        let width = self.constant(if exact_scaling { scaled_width } else { width });
        let low = self.constant(low);
        let asm = &mut self.asm;
        asm.vpaddq(dst, s0, s3)?;
        asm.vprolq(dst, dst, 23)?;
        asm.vpaddq(dst, dst, s0)?;
        // The state update of xoshiro256++ with two three-way exclusive ors (`vpternlogq` 0x96):
        // s1 ^= s2 ^ s0 and s2 ^= s0 ^ t give the same words as its five two-way steps.
        asm.vpsllq(t, s1, 17)?;
        asm.vpxorq(s3, s3, s1)?;
        asm.vpternlogq(s1, s2, s0, THREE_WAY_XOR)?;
        asm.vpternlogq(s2, s0, t, THREE_WAY_XOR)?;
        asm.vpxorq(s0, s0, s3)?;
        asm.vprolq(s3, s3, 45)?;
        asm.vpsrlq(dst, dst, 12)?;
        if exact_scaling {
            asm.vcvtuqq2pd(dst, dst)?;
        } else {
            asm.vporq(dst, dst, table_broadcast(EXPONENT_OF_ONE))?;
            asm.vsubpd(dst, dst, table_broadcast(ONE))?;
        }
        asm.vmulpd(dst, dst, table_broadcast(width))?;
        asm.vaddpd(dst, dst, table_broadcast(low))?;
        Ok(())
    }

    /// Negation, logical not, and the functions that are one exact instruction.
    fn unary(&mut self, kind: UnaryKind, arg: Place, dst: AsmRegisterZmm) -> Result<(), Refusal> {
        let x = self.in_register(arg, self.scratch[1])?;
        let asm = &mut self.asm;
        match kind {
            UnaryKind::Op(UnaryOp::Neg) => asm.vxorpd(dst, x, table_broadcast(SIGN_BIT))?,
            UnaryKind::Op(UnaryOp::Not) => {
                let zero = self.constant(0.0);
                self.asm.vcmppd(k1, x, table_broadcast(zero), EQUAL)?;
                self.truth(dst)?;
            }
            UnaryKind::Function(Function::Abs) => {
                asm.vandpd(dst, x, table_broadcast(ALL_BUT_SIGN))?
            }
            UnaryKind::Function(Function::Sqrt) => asm.vsqrtpd(dst, x)?,
            UnaryKind::Function(Function::Floor) => asm.vrndscalepd(dst, x, ROUND_DOWN)?,
            UnaryKind::Function(Function::Ceil) => asm.vrndscalepd(dst, x, ROUND_UP)?,
            UnaryKind::Function(function) => return Err(unsupported_function(function)),
        }
        Ok(())
    }

    /// `dst = left op right`; a constant on the right is read from the table as a broadcast.
    fn arith(
        &mut self,
        op: Arith,
        left: Place,
        right: Place,
        dst: AsmRegisterZmm,
    ) -> Result<(), IcedError> {
        let left = self.in_register(left, self.scratch[1])?;
        match right {
            Place::Register(right) => emit_arith(&mut self.asm, op, dst, left, right),
            Place::Constant(slot) => {
                emit_arith(&mut self.asm, op, dst, left, table_broadcast(slot))
            }
        }
    }
}

/// `dst = left op right`, the right operand a register or a memory broadcast.
fn emit_arith<R>(
    asm: &mut CodeAssembler,
    op: Arith,
    dst: AsmRegisterZmm,
    left: AsmRegisterZmm,
    right: R,
) -> Result<(), IcedError>
where
    CodeAssembler: CodeAsmVaddpd<AsmRegisterZmm, AsmRegisterZmm, R>
        + CodeAsmVsubpd<AsmRegisterZmm, AsmRegisterZmm, R>
        + CodeAsmVmulpd<AsmRegisterZmm, AsmRegisterZmm, R>
        + CodeAsmVdivpd<AsmRegisterZmm, AsmRegisterZmm, R>,
{
    match op {
        Arith::Add => asm.vaddpd(dst, left, right),
        Arith::Sub => asm.vsubpd(dst, left, right),
        Arith::Mul => asm.vmulpd(dst, left, right),
        Arith::Div => asm.vdivpd(dst, left, right),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::{Evaluator, Isa, Kernel};
    use crate::jobfile;
    use crate::kernel::rng::BLOCK_SAMPLES;
    use crate::reduce::Accumulator;

    /// `tiny`'s width scaled by 2^-52 would be subnormal, which takes the other conversion.
    const VARS: &str = "    a: uniform(-1, 2)\n    b: uniform(0.5, 3)\n    i: index()\n    tiny: uniform(0, 1e-300)";

    /// Two blocks, the second ending in a partial group of lanes, on the given path.
    fn accumulate(expr: &str, vars: &str, reduce: &str, isa: Isa) -> (Isa, String) {
        let text = format!(
            "name: t\nseed: 11\ncompute:\n  samples: 5003\n  vars:\n{vars}\n  expr: \"{expr}\"\nreduce: {reduce}\n"
        );
        let spec = jobfile::parse(&text).unwrap();
        let kernel = Kernel::new(&spec, spec.compute().unwrap(), isa);
        let mut evaluator = Evaluator::for_kernel(&kernel);
        let mut acc = Accumulator::new(kernel.shift, spec.reduce.histogram);
        evaluator.run_block(0, 0..BLOCK_SAMPLES, &mut acc);
        evaluator.run_block(1, BLOCK_SAMPLES..5003, &mut acc);
        // Debug text compares every float exactly and treats NaN as equal to itself.
        (kernel.isa, format!("{acc:?}"))
    }

    fn assert_native_matches(expr: &str, vars: &str) {
        for reduce in [
            "[mean]",
            "[mean, var, min, max]",
            "[{histogram: {bins: 9, range: [-3, 3]}}]",
        ] {
            let (_, reference) = accumulate(expr, vars, reduce, Isa::Portable);
            let (isa, native) = accumulate(expr, vars, reduce, Isa::Native);
            assert_eq!(isa, Isa::Native, "{expr} should compile to machine code");
            assert_eq!(native, reference, "{expr} with {reduce}");
        }
    }

    #[test]
    fn machine_code_gives_the_bits_of_the_register_machine() {
        if !Isa::Native.supported() {
            return;
        }
        for expr in [
            "(-b + sqrt(b^2 - 4*a*b)) / (2*a)",
            "a",
            "i * 1e-3 - a",
            "-a + abs(b - 2) * 3",
            "2 / a - (1 - b) * (a / 3)",
            "sqrt(a) + 1 / (a - 0.5)",
            "7",
            "tiny * 1e300 - a",
            "(a < b) + (a <= 0.5) + (1 > a) + (sqrt(a) >= b) + (a == a) + (sqrt(a) != 0.5)",
            "(a && sqrt(a)) + (b || 0) + !sqrt(a) + !(a > 0) + (a - a || a * 0)",
            "min(a, b) + max(sqrt(a), b) + min(1, sqrt(a)) + max(b, 1.5)",
            "min(a * 0, -(a * 0)) + max(-(b * 0), b * 0)",
            "where(a > 0, sqrt(a), b) + where(sqrt(a), 1, a) + where(a < b, 2, 3)",
            "floor(a * 3) - ceil(b * 2) + floor(-a) * ceil(-0.25 * a)",
        ] {
            assert_native_matches(expr, VARS);
        }
    }

    #[test]
    fn programs_it_cannot_compile_stay_on_the_register_machine() {
        if !Isa::Native.supported() {
            return;
        }
        let many_streams: String = (0..8)
            .map(|k| format!("    v{k}: uniform(0, {})\n", k + 1))
            .collect();
        let sum_of_all = (0..8)
            .map(|k| format!("v{k}"))
            .collect::<Vec<_>>()
            .join(" + ");
        for (expr, vars) in [
            ("exp(a)", VARS.to_string()),
            ("atan2(a, b)", VARS.to_string()),
            ("a ^ b", VARS.to_string()),
            ("n * a", format!("{VARS}\n    n: normal(0, 1)")),
            (sum_of_all.as_str(), many_streams.trim_end().to_string()),
        ] {
            let (isa, on_fallback) = accumulate(expr, &vars, "[mean, var]", Isa::Native);
            assert_eq!(isa, Isa::Avx512, "{expr}");
            assert_eq!(
                on_fallback,
                accumulate(expr, &vars, "[mean, var]", Isa::Portable).1
            );
        }
    }

    fn expression() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("a".to_string()),
            Just("b".to_string()),
            Just("i".to_string()),
            (-4.0f64..4.0).prop_map(|c| format!("({c})")),
            Just("0".to_string()),
        ];
        leaf.prop_recursive(4, 24, 2, |inner| {
            prop_oneof![
                (
                    inner.clone(),
                    prop::sample::select(vec![
                        "+", "-", "*", "/", "<", "<=", ">", ">=", "==", "!=", "&&", "||"
                    ]),
                    inner.clone()
                )
                    .prop_map(|(l, op, r)| format!("({l} {op} {r})")),
                (
                    prop::sample::select(vec!["-", "!", "sqrt", "abs", "floor", "ceil"]),
                    inner.clone()
                )
                    .prop_map(|(f, e)| format!("{f}({e})")),
                (
                    prop::sample::select(vec!["min", "max"]),
                    inner.clone(),
                    inner.clone()
                )
                    .prop_map(|(f, x, y)| format!("{f}({x}, {y})")),
                (inner.clone(), inner.clone(), inner)
                    .prop_map(|(c, t, f)| format!("where({c}, {t}, {f})")),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn any_expression_gives_the_same_bits(expr in expression()) {
            if Isa::Native.supported() {
                assert_native_matches(&expr, VARS);
            }
        }
    }
}

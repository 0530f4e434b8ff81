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
//! definition (NaN in `vminpd`), it is corrected. Every instruction is compiled, the vector math
//! (`math`) included, whose patched lanes call out to [`patch_lanes`]. Values beyond the
//! registers are spilled to the stack, and truth values read only as conditions live in mask
//! registers; only a program needing more stack slots than there are stays on the register
//! machine.

use std::mem::offset_of;

use iced_x86::IcedError;
use iced_x86::code_asm::asm_traits::{CodeAsmVaddpd, CodeAsmVdivpd, CodeAsmVmulpd, CodeAsmVsubpd};
use iced_x86::code_asm::*;

use super::fuse::reads;
use super::program::{Arith, BinaryKind, Draw, Instruction, Operand, Program, UnaryKind};
use super::rng::{LANES, Lanes};
use crate::expr::{BinaryOp, Function, UnaryOp};
use crate::math::{Bits, Special};
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

/// What the generated code hands [`patch_lanes`]: the arguments, the values to patch, and
/// which lanes.
#[repr(C)]
struct PatchLanes {
    a: [f64; LANES],
    b: [f64; LANES],
    out: [f64; LANES],
    /// One bit per lane.
    lanes: u64,
}

/// The general registers the generated code keeps values in, saved around a patch.
const SAVED: [AsmRegister64; 5] = [CALL, TABLE, OUT, LANES_BASE, GROUPS_LEFT];
/// The mask registers that hold truth values across instructions (k1 and k2 are scratch).
const HELD_MASKS: [AsmRegisterK; 5] = [k3, k4, k5, k6, k7];
/// The stack frame of a patch: every `zmm` register, the general and mask registers, the
/// buffers.
const SAVED_AT: usize = 32 * 64;
const MASKS_AT: usize = SAVED_AT + 8 * SAVED.len();
const BUFFERS_AT: usize = SAVED_AT + 64;
const PATCH_FRAME: usize = BUFFERS_AT + size_of::<PatchLanes>().next_multiple_of(64);

/// Values read as numbers are never held in masks (`mask_candidates`).
const NUMBERS_ONLY: &str = "a value read as a number is held as one";

/// `register` written under `mask`.
fn masked(register: AsmRegisterZmm, mask: AsmRegisterK) -> AsmRegisterZmm {
    match mask {
        m if m == k1 => register.k1(),
        m if m == k2 => register.k2(),
        m if m == k3 => register.k3(),
        m if m == k4 => register.k4(),
        m if m == k5 => register.k5(),
        m if m == k6 => register.k6(),
        _ => register.k7(),
    }
}

/// The `vcmppd` predicate of a comparison.
fn predicate(op: BinaryOp) -> Option<i32> {
    Some(match op {
        BinaryOp::Lt => LESS,
        BinaryOp::Le => LESS_OR_EQUAL,
        BinaryOp::Gt => GREATER,
        BinaryOp::Ge => GREATER_OR_EQUAL,
        BinaryOp::Eq => EQUAL,
        BinaryOp::Ne => NOT_EQUAL_OR_UNORDERED,
        _ => return None,
    })
}

/// Comparisons, `&&`, `||` and `!`: their values are 1.0 or 0.0.
fn is_truth_value(instruction: &Instruction) -> bool {
    match *instruction {
        Instruction::Binary {
            kind: BinaryKind::Op(op),
            ..
        } => predicate(op).is_some() || matches!(op, BinaryOp::And | BinaryOp::Or),
        Instruction::Unary {
            kind: UnaryKind::Op(UnaryOp::Not),
            ..
        } => true,
        _ => false,
    }
}

/// The truth values that are only ever read as conditions, which may live in mask registers.
fn mask_candidates(program: &Program) -> Vec<bool> {
    let mut candidate = vec![false; program.registers()];
    for instruction in &program.instructions {
        if is_truth_value(instruction) {
            candidate[instruction.dst()] = true;
        }
    }
    candidate[program.output] = false;
    for instruction in &program.instructions {
        let as_condition: Vec<Operand> = match *instruction {
            Instruction::Select { condition, .. } | Instruction::Patch { condition, .. } => {
                vec![condition]
            }
            Instruction::Binary {
                kind: BinaryKind::Op(BinaryOp::And | BinaryOp::Or),
                left,
                right,
                ..
            } => vec![left, right],
            Instruction::Unary {
                kind: UnaryKind::Op(UnaryOp::Not),
                arg,
                ..
            } => vec![Operand::Register(arg)],
            _ => Vec::new(),
        };
        let mut other_reads = reads(instruction);
        for operand in as_condition {
            if let Operand::Register(r) = operand
                && let Some(at) = other_reads.iter().position(|&x| x == r)
            {
                other_reads.remove(at);
            }
        }
        for r in other_reads {
            candidate[r] = false;
        }
    }
    candidate
}

fn special_index(special: Special) -> usize {
    Special::ALL
        .iter()
        .position(|&s| s == special)
        .expect("every special function is listed")
}

/// Called by generated code: the lanes of `buffers.out` marked in `buffers.lanes` become
/// `special`'s `libm` value of the arguments, as `math::Vector::patch` defines.
extern "sysv64" fn patch_lanes(special: u64, buffers: *mut PatchLanes) {
    // SAFETY: the generated code passes a pointer to a `PatchLanes` on its own stack, and the
    // index of a `Special` it was generated with.
    let buffers = unsafe { &mut *buffers };
    let special = Special::ALL[special as usize];
    for lane in 0..LANES {
        if buffers.lanes & (1 << lane) != 0 {
            buffers.out[lane] = special.fallback(buffers.a[lane], buffers.b[lane]);
        }
    }
}

/// Where an operand of an operation lives while the code runs.
#[derive(Clone, Copy)]
enum Place {
    Register(AsmRegisterZmm),
    /// A slot of the constant table, read as a broadcast.
    Constant(usize),
    /// A truth value held as a lane mask (`Generator::masks`).
    Mask(AsmRegisterK),
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
        "more values at once than the {} vector registers and {SPILL_SLOTS} stack slots hold",
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
    /// The instructions reading each program register, in order.
    uses: Vec<Vec<usize>>,
    /// The stack slot of each program register that was spilled; values never change, so a
    /// value keeps its slot until its last use.
    slots: Vec<Option<usize>>,
    free_slots: Vec<usize>,
    slots_used: usize,
    /// The instruction being emitted.
    position: usize,
    /// Whether each program register is a truth value read only as a condition (by `where`,
    /// a patch, `&&`, `||`, `!`): those live in mask registers when one is free, which saves
    /// turning them into 1.0 or 0.0 and back.
    mask_ok: Vec<bool>,
    held_mask: Vec<Option<AsmRegisterK>>,
    free_masks: Vec<AsmRegisterK>,
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

/// Stack slots for values that do not fit in the registers.
const SPILL_SLOTS: usize = 64;

fn spill_slot(slot: usize) -> AsmMemoryOperand {
    zmmword_ptr(rsp + slot * 64)
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
        let mut uses = vec![Vec::new(); program.registers()];
        for (position, instruction) in program.instructions.iter().enumerate() {
            for read in reads(instruction) {
                last_use[read] = position;
                uses[read].push(position);
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
            uses,
            slots: vec![None; program.registers()],
            free_slots: Vec::new(),
            slots_used: 0,
            position: 0,
            mask_ok: mask_candidates(program),
            held_mask: vec![None; program.registers()],
            free_masks: HELD_MASKS.into_iter().rev().collect(),
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
        // A frame for spilled values, aligned for whole-register moves.
        asm.push(rbp)?;
        asm.mov(rbp, rsp)?;
        asm.and(rsp, -64)?;
        asm.sub(rsp, (SPILL_SLOTS * 64) as i32)?;
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
            self.position = position;
            self.instruction(position)?;
        }
        self.position = self.program.instructions.len();
        let output = match self.place(self.program.output, &[])? {
            Place::Register(register) => register,
            Place::Constant(_) | Place::Mask(_) => unreachable!("the output is a number"),
        };
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
        asm.mov(rsp, rbp)?;
        asm.pop(rbp)?;
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
        let read = reads(&instruction);
        let operands: Vec<Operand> = match instruction {
            Instruction::Call { special, .. } => {
                return Err(Refusal::Unsupported(format!(
                    "{} as one step (machine code is generated from the expanded form)",
                    special.name()
                )));
            }
            Instruction::Unary { arg, .. } => vec![Operand::Register(arg)],
            Instruction::Binary { left, right, .. } => vec![left, right],
            Instruction::Fused { args, .. } => args.map(Operand::Register).to_vec(),
            Instruction::Select {
                condition,
                if_true,
                if_false,
                ..
            } => vec![condition, if_true, if_false],
            Instruction::Patch {
                condition,
                fast,
                args: [a, b],
                ..
            } => vec![condition, fast, a, b],
            Instruction::Draw { .. } | Instruction::Index { .. } | Instruction::Splat { .. } => {
                Vec::new()
            }
        };
        let operands = operands
            .into_iter()
            .map(|operand| self.operand(operand, &read))
            .collect::<Result<Vec<Place>, Refusal>>()?;
        let dst_register = instruction.dst();
        let truth_value = is_truth_value(&instruction);
        if truth_value
            && self.mask_ok[dst_register]
            && let Some(mask) = self.free_masks.pop()
        {
            self.held_mask[dst_register] = Some(mask);
            self.release_last_reads(&read, position);
            self.truth_mask(instruction, &operands, mask)?;
            return Ok(());
        }
        // The destination is taken before the operands' registers are given back, so that
        // operations of several steps may read an operand after writing the destination.
        let dst = self.take_register(&read)?;
        self.held[dst_register] = Some(dst);
        self.release_last_reads(&read, position);
        match instruction {
            Instruction::Draw { stream, draw, .. } => self.draw(stream, draw, dst)?,
            Instruction::Patch { special, .. } => self.patch(special, &operands, dst)?,
            Instruction::Call { .. } => unreachable!("refused above"),
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
            _ if truth_value => {
                self.truth_mask(instruction, &operands, k1)?;
                self.truth(dst)?;
            }
            Instruction::Unary { kind, .. } => self.unary(kind, operands[0], dst)?,
            Instruction::Binary { kind, .. } => match Arith::of(kind) {
                Some(arith) => self.arith(arith, operands[0], operands[1], dst)?,
                None if kind == BinaryKind::Scale => self.scale(operands[0], operands[1], dst)?,
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
                let mask = self.condition(operands[0], k1)?;
                let if_false = self.in_register(operands[2], self.scratch[1])?;
                let dst = masked(dst, mask);
                match operands[1] {
                    Place::Constant(slot) => {
                        self.asm.vblendmpd(dst, if_false, table_broadcast(slot))?
                    }
                    if_true => {
                        let if_true = self.in_register(if_true, self.scratch[0])?;
                        self.asm.vblendmpd(dst, if_false, if_true)?
                    }
                }
            }
        }
        if self.last_use[dst_register] <= position {
            self.release(dst_register);
        }
        Ok(())
    }

    /// Gives back what the instruction at `position` read for the last time.
    fn release_last_reads(&mut self, read: &[usize], position: usize) {
        for &register in read {
            if self.last_use[register] == position {
                self.release(register);
            }
        }
    }

    /// A truth value computed into `mask`: a comparison, `&&`, `||` or `!`.
    fn truth_mask(
        &mut self,
        instruction: Instruction,
        operands: &[Place],
        mask: AsmRegisterK,
    ) -> Result<(), Refusal> {
        match instruction {
            Instruction::Binary {
                kind: BinaryKind::Op(op @ (BinaryOp::And | BinaryOp::Or)),
                ..
            } => {
                let a = self.condition(operands[0], k1)?;
                let b = self.condition(operands[1], k2)?;
                if op == BinaryOp::And {
                    self.asm.kandb(mask, a, b)?;
                } else {
                    self.asm.korb(mask, a, b)?;
                }
            }
            Instruction::Binary {
                kind: BinaryKind::Op(op),
                ..
            } => {
                let predicate = predicate(op).expect("a comparison");
                let a = self.in_register(operands[0], self.scratch[0])?;
                match operands[1] {
                    Place::Constant(slot) => {
                        self.asm.vcmppd(mask, a, table_broadcast(slot), predicate)?
                    }
                    b => {
                        let b = self.in_register(b, self.scratch[1])?;
                        self.asm.vcmppd(mask, a, b, predicate)?
                    }
                }
            }
            Instruction::Unary { .. } => {
                let a = self.condition(operands[0], k1)?;
                self.asm.knotb(mask, a)?;
            }
            _ => unreachable!("only truth values are held in masks"),
        }
        Ok(())
    }

    /// The lanes where `place` is true (`semantics::is_true`): its own mask, or `temporary`.
    fn condition(
        &mut self,
        place: Place,
        temporary: AsmRegisterK,
    ) -> Result<AsmRegisterK, IcedError> {
        if let Place::Mask(mask) = place {
            return Ok(mask);
        }
        let value = self.in_register(place, self.scratch[0])?;
        self.is_true(temporary, value)?;
        Ok(temporary)
    }

    /// Where program register `register` is: a constant register reads the table, and a
    /// spilled value is loaded back into a register (never one of `keep`'s).
    fn place(&mut self, register: usize, keep: &[usize]) -> Result<Place, Refusal> {
        if let Some(&value) = self.program.constants.get(register) {
            return Ok(Place::Constant(self.constant(value)));
        }
        if let Some(held) = self.held[register] {
            return Ok(Place::Register(held));
        }
        if let Some(mask) = self.held_mask[register] {
            return Ok(Place::Mask(mask));
        }
        let slot = self.slots[register].expect("computed before it is read");
        let loaded = self.take_register(keep)?;
        self.asm.vmovupd(loaded, spill_slot(slot))?;
        self.held[register] = Some(loaded);
        Ok(Place::Register(loaded))
    }

    fn operand(&mut self, operand: Operand, keep: &[usize]) -> Result<Place, Refusal> {
        match operand {
            Operand::Register(register) => self.place(register, keep),
            Operand::Constant(value) => Ok(Place::Constant(self.constant(value))),
        }
    }

    /// A free register; when there is none, the value (not one of `keep`) read again last is
    /// spilled to the stack, which keeps the most values in registers (Belady's rule).
    fn take_register(&mut self, keep: &[usize]) -> Result<AsmRegisterZmm, Refusal> {
        if let Some(free) = self.free.pop() {
            return Ok(free);
        }
        let next_use = |register: usize| {
            let uses = &self.uses[register];
            let later = uses.partition_point(|&p| p < self.position);
            uses.get(later).copied().unwrap_or(usize::MAX)
        };
        let victim = (0..self.held.len())
            .filter(|r| self.held[*r].is_some() && !keep.contains(r))
            .max_by_key(|&r| next_use(r))
            .ok_or_else(too_many_values)?;
        let register = self.held[victim].take().expect("the victim is held");
        if self.slots[victim].is_none() {
            let slot = match self.free_slots.pop() {
                Some(slot) => slot,
                None if self.slots_used < SPILL_SLOTS => {
                    self.slots_used += 1;
                    self.slots_used - 1
                }
                None => return Err(too_many_values()),
            };
            self.asm.vmovupd(spill_slot(slot), register)?;
            self.slots[victim] = Some(slot);
        }
        Ok(register)
    }

    /// Gives the register and stack slot of program register `register` back; reading a
    /// register twice in one instruction releases it once.
    fn release(&mut self, register: usize) {
        if let Some(held) = self.held[register].take() {
            self.free.push(held);
        }
        if let Some(mask) = self.held_mask[register].take() {
            self.free_masks.push(mask);
        }
        if let Some(slot) = self.slots[register].take() {
            self.free_slots.push(slot);
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
            Place::Mask(mask) => {
                self.asm
                    .vbroadcastsd(masked(scratch, mask).z(), table_slot(ONE))?;
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

    /// `min` and `max`, exactly as `semantics` defines them.
    fn binary(
        &mut self,
        kind: BinaryKind,
        left: Place,
        right: Place,
        dst: AsmRegisterZmm,
    ) -> Result<(), Refusal> {
        let a = self.in_register(left, self.scratch[0])?;
        let b = self.in_register(right, self.scratch[1])?;
        match kind {
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
            BinaryKind::Scale => unreachable!("scale has its own emitter"),
        }
        Ok(())
    }

    /// The next eight values of a uniform var from stream `stream`: one xoshiro256++ step of
    /// every lane, then `low + (high - low) * unit_interval(x)` as in `distribution`.
    fn draw(&mut self, stream: usize, draw: Draw, dst: AsmRegisterZmm) -> Result<(), Refusal> {
        self.next_outputs(stream, dst)?;
        let (low, high) = match draw {
            Draw::Uniform { low, high } => (low, high),
            Draw::OpenUnit => {
                // `open_unit_interval`: the bits of [1, 2) minus (1 - 2^-53).
                let offset = self.constant(1.0 - f64::EPSILON / 2.0);
                self.asm.vporq(dst, dst, table_broadcast(EXPONENT_OF_ONE))?;
                self.asm.vsubpd(dst, dst, table_broadcast(offset))?;
                return Ok(());
            }
        };
        let width = high - low;
        // `unit_interval(x)` is `m * 2^-52` exactly, with `m = x >> 12`, so `width * u` is the
        // one rounding of `m * width * 2^-52`, which is also `m * (width * 2^-52)` when that
        // scaling is exact: one conversion and one multiplication instead of three operations.
        let scaled_width = width * UNIT_STEP;
        let exact_scaling = scaled_width.is_normal() && scaled_width / UNIT_STEP == width;
        let width = self.constant(if exact_scaling { scaled_width } else { width });
        let low = self.constant(low);
        let asm = &mut self.asm;
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

    /// One xoshiro256++ step of every lane of stream `stream`: the outputs shifted right by 12
    /// (the 52 bits a draw uses) go to `dst`.
    fn next_outputs(&mut self, stream: usize, dst: AsmRegisterZmm) -> Result<(), IcedError> {
        let [s0, s1, s2, s3] = self.states[stream];
        let t = self.scratch[1];
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
        asm.vpsrlq(dst, dst, 12)
    }

    /// Negation, logical not, and the functions that are one exact instruction.
    fn unary(&mut self, kind: UnaryKind, arg: Place, dst: AsmRegisterZmm) -> Result<(), Refusal> {
        let x = self.in_register(arg, self.scratch[1])?;
        let asm = &mut self.asm;
        match kind {
            UnaryKind::Op(UnaryOp::Neg) => asm.vxorpd(dst, x, table_broadcast(SIGN_BIT))?,
            UnaryKind::Op(UnaryOp::Not) => unreachable!("`!` is a truth value"),
            UnaryKind::Function(Function::Abs) => {
                asm.vandpd(dst, x, table_broadcast(ALL_BUT_SIGN))?
            }
            UnaryKind::Function(Function::Sqrt) => asm.vsqrtpd(dst, x)?,
            UnaryKind::Function(Function::Floor) => asm.vrndscalepd(dst, x, ROUND_DOWN)?,
            UnaryKind::Function(Function::Ceil) => asm.vrndscalepd(dst, x, ROUND_UP)?,
            UnaryKind::Function(function) => return Err(unsupported_function(function)),
            UnaryKind::Bits(op) => self.bits(op, x, dst)?,
        }
        Ok(())
    }

    /// `math::Bits` on the encoding, with the integer instructions.
    fn bits(&mut self, op: Bits, x: AsmRegisterZmm, dst: AsmRegisterZmm) -> Result<(), IcedError> {
        match op {
            Bits::Exponent => {
                let field = self.pattern(0x7FF);
                let bias = self.constant(1023.0);
                self.asm.vpsrlq(dst, x, 52)?;
                self.asm.vpandq(dst, dst, table_broadcast(field))?;
                self.asm.vcvtqq2pd(dst, dst)?;
                self.asm.vsubpd(dst, dst, table_broadcast(bias))
            }
            Bits::Significand => {
                let fraction = self.pattern(0x000F_FFFF_FFFF_FFFF);
                self.asm.vpandq(dst, x, table_broadcast(fraction))?;
                self.asm.vporq(dst, dst, table_broadcast(EXPONENT_OF_ONE))
            }
            Bits::HighWord => {
                let high = self.pattern(0xFFFF_FFFF_0000_0000);
                self.asm.vpandq(dst, x, table_broadcast(high))
            }
            Bits::PowerOfTwo => {
                let to_int = self.constant(crate::math::TO_INT);
                let bias = self.pattern(1023);
                self.asm.vaddpd(dst, x, table_broadcast(to_int))?;
                self.asm.vpaddq(dst, dst, table_broadcast(bias))?;
                self.asm.vpsllq(dst, dst, 52)
            }
        }
    }

    /// `math::scale`: `x * 2^h * 2^(n-h)`, `n` the clamped and truncated `k`, `h = n >> 1`.
    fn scale(&mut self, x: Place, k: Place, dst: AsmRegisterZmm) -> Result<(), IcedError> {
        let (low, high) = (self.constant(-2044.0), self.constant(2046.0));
        let bias = self.pattern(1023);
        let [n, h] = self.scratch;
        let k = self.in_register(k, n)?;
        let asm = &mut self.asm;
        asm.vmaxpd(n, k, table_broadcast(low))?;
        asm.vminpd(n, n, table_broadcast(high))?;
        asm.vcvttpd2qq(n, n)?;
        asm.vpsraq(h, n, 1)?;
        asm.vpsubq(n, n, h)?;
        asm.vpaddq(h, h, table_broadcast(bias))?;
        asm.vpsllq(h, h, 52)?;
        asm.vpaddq(n, n, table_broadcast(bias))?;
        asm.vpsllq(n, n, 52)?;
        match x {
            Place::Register(x) => asm.vmulpd(dst, x, h)?,
            Place::Constant(slot) => asm.vmulpd(dst, h, table_broadcast(slot))?,
            Place::Mask(_) => unreachable!("{NUMBERS_ONLY}"),
        }
        asm.vmulpd(dst, dst, n)
    }

    /// `math::Vector::patch`: `dst` is `fast`, and if any lane's condition is true, the
    /// generated code saves every vector and general register it uses, calls [`patch_lanes`]
    /// for those lanes, and restores them. The call is out of the way of the common path: one
    /// test and one branch not taken.
    fn patch(
        &mut self,
        special: Special,
        operands: &[Place],
        dst: AsmRegisterZmm,
    ) -> Result<(), IcedError> {
        let [condition, fast, a, b] = operands else {
            unreachable!("a patch has four operands")
        };
        let mask = self.condition(*condition, k1)?;
        match *fast {
            Place::Register(fast) => self.asm.vmovapd(dst, fast)?,
            Place::Constant(slot) => self.asm.vbroadcastsd(dst, table_slot(slot))?,
            Place::Mask(_) => unreachable!("{NUMBERS_ONLY}"),
        }
        let mut done = self.asm.create_label();
        self.asm.kortestb(mask, mask)?;
        self.asm.jz(done)?;
        self.asm.push(rbp)?;
        self.asm.mov(rbp, rsp)?;
        self.asm.and(rsp, -64)?;
        self.asm.sub(rsp, PATCH_FRAME as i32)?;
        for (i, register) in ZMM.iter().enumerate() {
            self.asm.vmovupd(zmmword_ptr(rsp + i * 64), *register)?;
        }
        for (i, register) in SAVED.iter().enumerate() {
            self.asm
                .mov(qword_ptr(rsp + (SAVED_AT + 8 * i)), *register)?;
        }
        let buffer = |field: usize| zmmword_ptr(rsp + (BUFFERS_AT + field));
        for (operand, field) in [
            (*a, offset_of!(PatchLanes, a)),
            (*b, offset_of!(PatchLanes, b)),
        ] {
            let register = self.in_register(operand, self.scratch[1])?;
            self.asm.vmovupd(buffer(field), register)?;
        }
        self.asm.vmovupd(buffer(offset_of!(PatchLanes, out)), dst)?;
        self.asm.kmovb(
            byte_ptr(rsp + (BUFFERS_AT + offset_of!(PatchLanes, lanes))),
            mask,
        )?;
        for (i, held) in HELD_MASKS.iter().enumerate() {
            self.asm.kmovw(word_ptr(rsp + (MASKS_AT + 2 * i)), *held)?;
        }
        self.asm.mov(rdi, special_index(special) as u64)?;
        self.asm.lea(rsi, qword_ptr(rsp + BUFFERS_AT))?;
        self.asm.mov(rax, patch_lanes as *const () as u64)?;
        self.asm.call(rax)?;
        for (i, register) in ZMM.iter().enumerate() {
            self.asm.vmovupd(*register, zmmword_ptr(rsp + i * 64))?;
        }
        for (i, register) in SAVED.iter().enumerate() {
            self.asm
                .mov(*register, qword_ptr(rsp + (SAVED_AT + 8 * i)))?;
        }
        for (i, held) in HELD_MASKS.iter().enumerate() {
            self.asm.kmovw(*held, word_ptr(rsp + (MASKS_AT + 2 * i)))?;
        }
        self.asm.vmovupd(dst, buffer(offset_of!(PatchLanes, out)))?;
        self.asm.mov(rsp, rbp)?;
        self.asm.pop(rbp)?;
        self.asm.set_label(&mut done)?;
        Ok(())
    }

    /// The table slot holding the 64-bit pattern `bits`.
    fn pattern(&mut self, bits: u64) -> usize {
        self.constant(f64::from_bits(bits))
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
            Place::Mask(_) => unreachable!("{NUMBERS_ONLY}"),
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
            "exp(-b) * sin(b * 3) + cos(a) - tan(a * 1.5)",
            "log(b) + log10(a) + atan2(a, b - 1) + pow(b, a) + a ^ 3 + b ^ a",
            "exp(a * 400) + log(a) + sin(a * 1e7) + pow(a, 0.5) + pow(a, b * 1e3)",
            "n * a + w - atan2(0, a) + log(n * 1e-310)",
        ] {
            assert_native_matches(
                expr,
                &format!("{VARS}\n    n: normal(0, 1)\n    w: exponential(2)"),
            );
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
        let vars = many_streams.trim_end();
        let (isa, on_fallback) = accumulate(&sum_of_all, vars, "[mean, var]", Isa::Native);
        assert_eq!(isa, Isa::Avx512, "{sum_of_all}");
        assert_eq!(
            on_fallback,
            accumulate(&sum_of_all, vars, "[mean, var]", Isa::Portable).1
        );
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
                    prop::sample::select(vec![
                        "-", "!", "sqrt", "abs", "floor", "ceil", "exp", "log", "log10", "sin",
                        "cos", "tan"
                    ]),
                    inner.clone()
                )
                    .prop_map(|(f, e)| format!("{f}({e})")),
                (
                    prop::sample::select(vec!["min", "max", "atan2", "pow"]),
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

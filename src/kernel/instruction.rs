//! The instructions of a register program: what each computes, from which registers.

use crate::expr::{BinaryOp, Function, UnaryOp};
use crate::math::{Bits, Special};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Operand {
    Register(usize),
    Constant(f64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryKind {
    Op(UnaryOp),
    /// One of the functions that are one exact operation (`sqrt`, `abs`, `floor`, `ceil`).
    Function(Function),
    Bits(Bits),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryKind {
    Op(BinaryOp),
    /// `min` or `max`.
    Function(Function),
    /// `math::scale`: `left * 2^right`.
    Scale,
}

/// What a draw makes of each raw output of its stream; the distributions' transforms are
/// instructions of their own (`math::normal_quantile`, `math::exponential`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Draw {
    /// `low + (high - low) * u`, `u` in [0, 1).
    Uniform { low: f64, high: f64 },
    /// `p` in (0, 1): the uniform grid shifted by half a step.
    OpenUnit,
}

impl std::fmt::Display for Draw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Draw::Uniform { low, high } => write!(f, "uniform({low}, {high})"),
            Draw::OpenUnit => write!(f, "uniform on (0, 1)"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Instruction {
    /// Values of a random var from stream number `stream`.
    Draw {
        dst: usize,
        stream: usize,
        draw: Draw,
    },
    /// The global sample index.
    Index {
        dst: usize,
    },
    Splat {
        dst: usize,
        value: f64,
    },
    Unary {
        dst: usize,
        kind: UnaryKind,
        arg: usize,
    },
    Binary {
        dst: usize,
        kind: BinaryKind,
        left: Operand,
        right: Operand,
    },
    Select {
        dst: usize,
        condition: Operand,
        if_true: Operand,
        if_false: Operand,
    },
    /// `fast`, except in the lanes where `condition` is true, which take `special`'s `libm`
    /// value of `args` (`math::Vector::patch`).
    Patch {
        dst: usize,
        special: Special,
        condition: Operand,
        fast: Operand,
        args: [Operand; 2],
    },
    /// `special`'s value of `args` (`args[1]` is ignored by one-argument functions): the whole
    /// algorithm in one pass over the chunk, its intermediates kept in the CPU's registers.
    /// The loops' programs have these; machine code is generated from the expanded algorithm
    /// (`program::MathForm`). Both do the same operations, so the bits are the same.
    Call {
        dst: usize,
        special: Special,
        args: [Operand; 2],
    },
    /// `outer(inner(args[0], args[1]), args[2])`, or `outer(args[2], inner(...))` when
    /// `!inner_first`: two arithmetic operations in one pass, the intermediate never stored.
    /// The operations and their order are those of the two instructions it replaces, so the
    /// bits are too. Every argument is a register (constants live in constant registers).
    Fused {
        dst: usize,
        outer: Arith,
        inner: Arith,
        args: [usize; 3],
        inner_first: bool,
    },
}

/// The four operations fused instructions are made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
}

impl Arith {
    pub fn of(kind: BinaryKind) -> Option<Arith> {
        match kind {
            BinaryKind::Op(BinaryOp::Add) => Some(Arith::Add),
            BinaryKind::Op(BinaryOp::Sub) => Some(Arith::Sub),
            BinaryKind::Op(BinaryOp::Mul) => Some(Arith::Mul),
            BinaryKind::Op(BinaryOp::Div) => Some(Arith::Div),
            _ => None,
        }
    }
}

impl Instruction {
    pub fn dst(&self) -> usize {
        match *self {
            Instruction::Draw { dst, .. }
            | Instruction::Index { dst }
            | Instruction::Splat { dst, .. }
            | Instruction::Unary { dst, .. }
            | Instruction::Binary { dst, .. }
            | Instruction::Select { dst, .. }
            | Instruction::Patch { dst, .. }
            | Instruction::Call { dst, .. }
            | Instruction::Fused { dst, .. } => dst,
        }
    }
}

//! The instructions of a register program: what each computes, from which registers.

use crate::expr::{BinaryOp, Distribution, Function, UnaryOp};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Operand {
    Register(usize),
    Constant(f64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryKind {
    Op(UnaryOp),
    Function(Function),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryKind {
    Op(BinaryOp),
    Function(Function),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Instruction {
    /// Values of a random var from stream number `stream`.
    Draw {
        dst: usize,
        stream: usize,
        distribution: Distribution,
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
            | Instruction::Fused { dst, .. } => dst,
        }
    }
}

//! Fusing instructions: an arithmetic result used once is computed inside the instruction that
//! uses it, in the same loop, instead of being stored and loaded again. Stores are what the
//! register machine spends most on (measured on the quadratic kernel); the fused program runs
//! exactly the same operations in the same order, so the bits do not change.

use super::instruction::{Arith, Instruction, Operand};

/// An instruction of the program being fused; fused arguments may still be constants.
#[derive(Clone, Copy)]
enum Step {
    Keep(Instruction),
    Fused {
        outer: Arith,
        inner: Arith,
        args: [Operand; 3],
        inner_first: bool,
    },
    Removed,
}

/// Returns the constant registers, the fused instructions (renumbered so that the constant
/// registers come first and removed instructions leave no gap) and the new output register.
pub fn fuse(instructions: Vec<Instruction>, output: usize) -> (Vec<f64>, Vec<Instruction>, usize) {
    let mut uses = vec![0usize; instructions.len()];
    uses[output] += 1;
    for instruction in &instructions {
        for read in reads(instruction) {
            uses[read] += 1;
        }
    }
    let mut steps: Vec<Step> = instructions.iter().copied().map(Step::Keep).collect();
    for index in 0..steps.len() {
        let Step::Keep(Instruction::Binary {
            kind, left, right, ..
        }) = steps[index]
        else {
            continue;
        };
        let Some(outer) = Arith::of(kind) else {
            continue;
        };
        let single_use_arithmetic = |operand: Operand, steps: &[Step]| match operand {
            Operand::Register(r) if uses[r] == 1 => match steps[r] {
                Step::Keep(Instruction::Binary {
                    kind, left, right, ..
                }) => Arith::of(kind).map(|inner| (r, inner, left, right)),
                _ => None,
            },
            _ => None,
        };
        let candidate = match (
            single_use_arithmetic(left, &steps),
            single_use_arithmetic(right, &steps),
        ) {
            (Some((r, inner, a, b)), _) => Some((r, inner, [a, b, right], true)),
            (None, Some((r, inner, a, b))) => Some((r, inner, [a, b, left], false)),
            (None, None) => None,
        };
        if let Some((inner_register, inner, args, inner_first)) = candidate {
            steps[inner_register] = Step::Removed;
            steps[index] = Step::Fused {
                outer,
                inner,
                args,
                inner_first,
            };
        }
    }
    renumber(&steps, output)
}

fn renumber(steps: &[Step], output: usize) -> (Vec<f64>, Vec<Instruction>, usize) {
    let mut constants: Vec<f64> = Vec::new();
    for step in steps {
        if let Step::Fused { args, .. } = step {
            for arg in args {
                if let Operand::Constant(c) = arg
                    && !constants.iter().any(|k| k.to_bits() == c.to_bits())
                {
                    constants.push(*c);
                }
            }
        }
    }
    let mut new_register = vec![usize::MAX; steps.len()];
    let mut next = constants.len();
    for (old, step) in steps.iter().enumerate() {
        if !matches!(step, Step::Removed) {
            new_register[old] = next;
            next += 1;
        }
    }
    let register = |r: usize| new_register[r];
    let operand = |o: Operand| match o {
        Operand::Register(r) => Operand::Register(register(r)),
        constant => constant,
    };
    let as_register = |o: Operand| match o {
        Operand::Register(r) => register(r),
        Operand::Constant(c) => constants
            .iter()
            .position(|k| k.to_bits() == c.to_bits())
            .expect("every fused constant has a register"),
    };
    let instructions = steps
        .iter()
        .enumerate()
        .filter_map(|(old, step)| {
            let dst = new_register[old];
            Some(match *step {
                Step::Removed => return None,
                Step::Fused {
                    outer,
                    inner,
                    args,
                    inner_first,
                } => Instruction::Fused {
                    dst,
                    outer,
                    inner,
                    args: args.map(as_register),
                    inner_first,
                },
                Step::Keep(instruction) => match instruction {
                    Instruction::Draw { stream, draw, .. } => {
                        Instruction::Draw { dst, stream, draw }
                    }
                    Instruction::Index { .. } => Instruction::Index { dst },
                    Instruction::Splat { value, .. } => Instruction::Splat { dst, value },
                    Instruction::Unary { kind, arg, .. } => Instruction::Unary {
                        dst,
                        kind,
                        arg: register(arg),
                    },
                    Instruction::Binary {
                        kind, left, right, ..
                    } => Instruction::Binary {
                        dst,
                        kind,
                        left: operand(left),
                        right: operand(right),
                    },
                    Instruction::Select {
                        condition,
                        if_true,
                        if_false,
                        ..
                    } => Instruction::Select {
                        dst,
                        condition: operand(condition),
                        if_true: operand(if_true),
                        if_false: operand(if_false),
                    },
                    Instruction::Patch {
                        special,
                        condition,
                        fast,
                        args,
                        ..
                    } => Instruction::Patch {
                        dst,
                        special,
                        condition: operand(condition),
                        fast: operand(fast),
                        args: args.map(operand),
                    },
                    Instruction::Call { special, args, .. } => Instruction::Call {
                        dst,
                        special,
                        args: args.map(operand),
                    },
                    Instruction::Fused { .. } => unreachable!("fusion runs once"),
                },
            })
        })
        .collect();
    (constants, instructions, register(output))
}

/// The registers an instruction reads.
pub fn reads(instruction: &Instruction) -> Vec<usize> {
    let registers = |operands: &[Operand]| {
        operands
            .iter()
            .filter_map(|o| match o {
                Operand::Register(r) => Some(*r),
                Operand::Constant(_) => None,
            })
            .collect()
    };
    match *instruction {
        Instruction::Draw { .. } | Instruction::Index { .. } | Instruction::Splat { .. } => vec![],
        Instruction::Unary { arg, .. } => vec![arg],
        Instruction::Binary { left, right, .. } => registers(&[left, right]),
        Instruction::Select {
            condition,
            if_true,
            if_false,
            ..
        } => registers(&[condition, if_true, if_false]),
        Instruction::Patch {
            condition,
            fast,
            args: [a, b],
            ..
        } => registers(&[condition, fast, a, b]),
        Instruction::Call { args, .. } => registers(&args),
        Instruction::Fused { args, .. } => args.to_vec(),
    }
}

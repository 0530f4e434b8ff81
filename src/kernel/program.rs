//! Compiling a job's vars and expression into a register program: a straight-line list of
//! instructions, each computing one register of [`CHUNK`] values. Shared sub-expressions are
//! computed once, constant sub-expressions are folded with the same semantics the loops use,
//! and only what the expression needs is computed.

use std::collections::HashMap;

pub use super::instruction::{Arith, BinaryKind, Draw, Instruction, Operand, UnaryKind};
use super::rng;
use crate::expr::{BinaryOp, Distribution, Expr, Function, UnaryOp, semantics};
use crate::math::{self, Bits, Special, Vector};
use crate::spec::{ComputeSpec, VarDefinition};

/// Samples evaluated together. Measured on the quadratic kernel (AMD Zen 4): 64 is 11% faster
/// than 256 and 4% faster than 128, whose registers crowd the L1 cache; 32 is twice as slow.
pub const CHUNK: usize = 64;

/// Every instruction writes a new register numbered above all it reads, so the evaluator can
/// borrow inputs and output without aliasing. Registers `0..constants.len()` hold constants,
/// filled once per evaluator; instruction `i` writes register `constants.len() + i`.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    pub constants: Vec<f64>,
    pub instructions: Vec<Instruction>,
    pub output: usize,
    /// Stream keys of the random vars, indexed by `Draw::stream`.
    pub stream_keys: Vec<u64>,
    /// The var each stream belongs to, for display.
    pub stream_names: Vec<String>,
}

impl Program {
    pub fn registers(&self) -> usize {
        self.constants.len() + self.instructions.len()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum OperandKey {
    Register(usize),
    Constant(u64),
}

impl From<Operand> for OperandKey {
    fn from(operand: Operand) -> Self {
        match operand {
            Operand::Register(r) => OperandKey::Register(r),
            Operand::Constant(c) => OperandKey::Constant(c.to_bits()),
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum NodeKey {
    Var(String),
    Unary(UnaryKind, usize),
    Binary(BinaryKind, OperandKey, OperandKey),
    Select(OperandKey, OperandKey, OperandKey),
    Patch(Special, OperandKey, OperandKey, [OperandKey; 2]),
    Call(Special, [OperandKey; 2]),
}

/// How the math functions and the draws' transforms appear in a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MathForm {
    /// One [`Instruction::Call`] each: what the loops run, one pass per function.
    Calls,
    /// Expanded into their primitive operations: what machine code is generated from, where
    /// every value lives in a CPU register anyway and shared steps (the reduction of `sin(x)`
    /// and `cos(x)`) are computed once.
    Expanded,
}

struct Compiler<'s> {
    spec: &'s ComputeSpec,
    seed: u64,
    form: MathForm,
    instructions: Vec<Instruction>,
    stream_keys: Vec<u64>,
    stream_names: Vec<String>,
    memo: HashMap<NodeKey, Operand>,
}

/// Compiles a validated compute section, without fusing instructions. Names were checked by
/// validation, so every name refers to a constant or an earlier var.
pub fn compile_unfused(spec: &ComputeSpec, seed: u64, form: MathForm) -> Program {
    let mut compiler = Compiler {
        spec,
        seed,
        form,
        instructions: Vec::new(),
        stream_keys: Vec::new(),
        stream_names: Vec::new(),
        memo: HashMap::new(),
    };
    // The vars the expression needs are compiled in the order written, each after the vars it
    // uses: compiling them from the expression down would recurse once per link of a chain of
    // vars (`v1: v0 + 1`, `v2: v1 + 1`, ...), which input can make deep enough to overflow the
    // stack.
    for name in needed_vars(spec) {
        compiler.var(&name);
    }
    let output = match compiler.expression(&spec.expr) {
        Operand::Register(r) => r,
        Operand::Constant(value) => compiler.push(|dst| Instruction::Splat { dst, value }),
    };
    Program {
        constants: Vec::new(),
        instructions: compiler.instructions,
        output,
        stream_keys: compiler.stream_keys,
        stream_names: compiler.stream_names,
    }
}

/// The names of the vars `spec.expr` needs, directly or through other vars, in the order
/// written.
pub fn needed_vars(spec: &ComputeSpec) -> Vec<String> {
    fn names<'e>(expr: &'e Expr, out: &mut Vec<&'e str>) {
        match expr {
            Expr::Name(name, _) => out.push(name),
            Expr::Number(_) => {}
            Expr::Unary(_, x) => names(x, out),
            Expr::Binary(_, a, b) => {
                names(a, out);
                names(b, out);
            }
            Expr::Call { args, .. } => args.iter().for_each(|a| names(a, out)),
        }
    }
    let mut needed: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut pending: Vec<&str> = Vec::new();
    names(&spec.expr, &mut pending);
    while let Some(name) = pending.pop() {
        if !needed.insert(name) {
            continue;
        }
        if let Some(VarDefinition::Derived(expr)) = spec
            .vars
            .iter()
            .find(|v| v.name == name)
            .map(|v| &v.definition)
        {
            names(expr, &mut pending);
        }
    }
    spec.vars
        .iter()
        .filter(|v| needed.contains(v.name.as_str()))
        .map(|v| v.name.clone())
        .collect()
}

/// The program as run: compiled, then fused.
pub fn compile(spec: &ComputeSpec, seed: u64, form: MathForm) -> Program {
    let plain = compile_unfused(spec, seed, form);
    let (constants, instructions, output) = super::fuse::fuse(plain.instructions, plain.output);
    Program {
        constants,
        instructions,
        output,
        ..plain
    }
}

impl Compiler<'_> {
    fn push(&mut self, make: impl FnOnce(usize) -> Instruction) -> usize {
        let dst = self.instructions.len();
        self.instructions.push(make(dst));
        dst
    }

    fn memoized(
        &mut self,
        key: NodeKey,
        make: impl FnOnce(&mut Self, usize) -> Instruction,
    ) -> Operand {
        if let Some(operand) = self.memo.get(&key) {
            return *operand;
        }
        let dst = self.instructions.len();
        let instruction = make(self, dst);
        self.instructions.push(instruction);
        self.memo.insert(key, Operand::Register(dst));
        Operand::Register(dst)
    }

    fn var(&mut self, name: &str) -> Operand {
        let key = NodeKey::Var(name.to_string());
        if let Some(operand) = self.memo.get(&key) {
            return *operand;
        }
        let definition = &self
            .spec
            .vars
            .iter()
            .find(|v| v.name == name)
            .expect("validation guarantees every name is defined")
            .definition;
        let operand = match definition {
            VarDefinition::Derived(expr) => self.expression(expr),
            VarDefinition::Random(Distribution::Index) => {
                Operand::Register(self.push(|dst| Instruction::Index { dst }))
            }
            VarDefinition::Random(distribution) => {
                let stream = self.stream_keys.len();
                self.stream_keys.push(rng::stream_key(self.seed, name));
                self.stream_names.push(name.to_string());
                let mut draw = |draw| {
                    Operand::Register(self.push(|dst| Instruction::Draw { dst, stream, draw }))
                };
                match *distribution {
                    Distribution::Uniform { low, high } => draw(Draw::Uniform { low, high }),
                    Distribution::Exponential { rate } => {
                        // `1 - u` drawn as `1 + (0 - 1) * u`: the same double, one pass fewer.
                        let complement = draw(Draw::Uniform {
                            low: 1.0,
                            high: 0.0,
                        });
                        math::exponential(self, complement, Operand::Constant(rate))
                    }
                    Distribution::Normal { mean, sd } => {
                        let p = draw(Draw::OpenUnit);
                        let z = self.call(Special::NormalQuantile, [p, p]);
                        let spread = self.mul(Operand::Constant(sd), z);
                        self.add(Operand::Constant(mean), spread)
                    }
                    Distribution::Index => unreachable!("index() is matched above"),
                }
            }
        };
        self.memo.insert(key, operand);
        operand
    }

    fn expression<'e>(&mut self, expr: &'e Expr) -> Operand {
        match expr {
            Expr::Number(value) => Operand::Constant(*value),
            Expr::Name(name, _) => match semantics::constant(name) {
                Some(value) => Operand::Constant(value),
                None => self.var(name),
            },
            Expr::Unary(op, arg) => {
                let arg = self.expression(arg);
                self.unary(UnaryKind::Op(*op), arg)
            }
            Expr::Binary(op, left, right) => {
                // `-x + y` is `y - x`, `x + -y` is `x - y` and `x - -y` is `x + y`, exactly, in
                // IEEE arithmetic (signed zeros included): one instruction fewer.
                let negated = |e: &'e Expr| match e {
                    Expr::Unary(UnaryOp::Neg, inner) => Some(&**inner),
                    _ => None,
                };
                let (op, left, right): (BinaryOp, &Expr, &Expr) =
                    match (op, negated(left), negated(right)) {
                        (BinaryOp::Add, Some(x), _) => (BinaryOp::Sub, right, x),
                        (BinaryOp::Add, None, Some(y)) => (BinaryOp::Sub, left, y),
                        (BinaryOp::Sub, _, Some(y)) => (BinaryOp::Add, left, y),
                        _ => (*op, left, right),
                    };
                let left = self.expression(left);
                let right = self.expression(right);
                if op == BinaryOp::Pow {
                    return self.power(left, right);
                }
                self.binary(BinaryKind::Op(op), left, right)
            }
            Expr::Call { function, args, .. } => {
                let function =
                    Function::from_name(function).expect("validation checks function names");
                if let [condition, if_true, if_false] = &args[..] {
                    return match self.expression(condition) {
                        Operand::Constant(c) if semantics::is_true(c) => self.expression(if_true),
                        Operand::Constant(_) => self.expression(if_false),
                        condition => {
                            let if_true = self.expression(if_true);
                            let if_false = self.expression(if_false);
                            self.select(condition, if_true, if_false)
                        }
                    };
                }
                let args: Vec<Operand> = args.iter().map(|a| self.expression(a)).collect();
                match (function, &args[..]) {
                    (Function::Exp, &[x]) => self.call(Special::Exp, [x, x]),
                    (Function::Log, &[x]) => self.call(Special::Log, [x, x]),
                    (Function::Log10, &[x]) => self.call(Special::Log10, [x, x]),
                    (Function::Sin, &[x]) => self.call(Special::Sin, [x, x]),
                    (Function::Cos, &[x]) => self.call(Special::Cos, [x, x]),
                    (Function::Tan, &[x]) => self.call(Special::Tan, [x, x]),
                    (Function::Atan2, &[y, x]) => self.call(Special::Atan2, [y, x]),
                    (Function::Pow, &[x, y]) => self.power(x, y),
                    (_, &[arg]) => self.unary(UnaryKind::Function(function), arg),
                    (_, &[left, right]) => self.binary(BinaryKind::Function(function), left, right),
                    _ => unreachable!("validation checks arity"),
                }
            }
        }
    }

    fn unary(&mut self, kind: UnaryKind, arg: Operand) -> Operand {
        match arg {
            Operand::Constant(c) => Operand::Constant(apply_unary(kind, c)),
            Operand::Register(r) => self.memoized(NodeKey::Unary(kind, r), |_, dst| {
                Instruction::Unary { dst, kind, arg: r }
            }),
        }
    }

    /// `x^y`: `x*x` for the constant 2 (which `math::pow` also gives), else `math::pow`.
    fn power(&mut self, x: Operand, y: Operand) -> Operand {
        if y == Operand::Constant(2.0) {
            return self.binary(BinaryKind::Op(BinaryOp::Mul), x, x);
        }
        self.call(Special::Pow, [x, y])
    }

    fn binary(&mut self, kind: BinaryKind, left: Operand, right: Operand) -> Operand {
        if let (Operand::Constant(a), Operand::Constant(b)) = (left, right) {
            return Operand::Constant(apply_binary(kind, a, b));
        }
        // Addition and multiplication commute exactly in IEEE arithmetic, so `a*b` and `b*a`
        // may share one register.
        let commutes = matches!(kind, BinaryKind::Op(BinaryOp::Add | BinaryOp::Mul));
        let (left, right) = if commutes && OperandKey::from(right) < OperandKey::from(left) {
            (right, left)
        } else {
            (left, right)
        };
        let key = NodeKey::Binary(kind, left.into(), right.into());
        self.memoized(key, |_, dst| Instruction::Binary {
            dst,
            kind,
            left,
            right,
        })
    }

    fn select(&mut self, condition: Operand, if_true: Operand, if_false: Operand) -> Operand {
        if let Operand::Constant(c) = condition {
            return if semantics::is_true(c) {
                if_true
            } else {
                if_false
            };
        }
        if OperandKey::from(if_true) == OperandKey::from(if_false) {
            return if_true;
        }
        let key = NodeKey::Select(condition.into(), if_true.into(), if_false.into());
        self.memoized(key, |_, dst| Instruction::Select {
            dst,
            condition,
            if_true,
            if_false,
        })
    }
}

/// The compiler is a [`Vector`] whose values are registers (or constants, folded with the
/// scalar definition): the vector math expands into instructions.
impl Vector for Compiler<'_> {
    type V = Operand;
    fn constant(&mut self, value: f64) -> Operand {
        Operand::Constant(value)
    }
    fn add(&mut self, a: Operand, b: Operand) -> Operand {
        self.binary(BinaryKind::Op(BinaryOp::Add), a, b)
    }
    fn sub(&mut self, a: Operand, b: Operand) -> Operand {
        self.binary(BinaryKind::Op(BinaryOp::Sub), a, b)
    }
    fn mul(&mut self, a: Operand, b: Operand) -> Operand {
        self.binary(BinaryKind::Op(BinaryOp::Mul), a, b)
    }
    fn div(&mut self, a: Operand, b: Operand) -> Operand {
        self.binary(BinaryKind::Op(BinaryOp::Div), a, b)
    }
    fn neg(&mut self, a: Operand) -> Operand {
        self.unary(UnaryKind::Op(UnaryOp::Neg), a)
    }
    fn abs(&mut self, a: Operand) -> Operand {
        self.unary(UnaryKind::Function(Function::Abs), a)
    }
    fn sqrt(&mut self, a: Operand) -> Operand {
        self.unary(UnaryKind::Function(Function::Sqrt), a)
    }
    fn floor(&mut self, a: Operand) -> Operand {
        self.unary(UnaryKind::Function(Function::Floor), a)
    }
    fn lt(&mut self, a: Operand, b: Operand) -> Operand {
        self.binary(BinaryKind::Op(BinaryOp::Lt), a, b)
    }
    fn le(&mut self, a: Operand, b: Operand) -> Operand {
        self.binary(BinaryKind::Op(BinaryOp::Le), a, b)
    }
    fn eq(&mut self, a: Operand, b: Operand) -> Operand {
        self.binary(BinaryKind::Op(BinaryOp::Eq), a, b)
    }
    fn ne(&mut self, a: Operand, b: Operand) -> Operand {
        self.binary(BinaryKind::Op(BinaryOp::Ne), a, b)
    }
    fn and(&mut self, a: Operand, b: Operand) -> Operand {
        self.binary(BinaryKind::Op(BinaryOp::And), a, b)
    }
    fn or(&mut self, a: Operand, b: Operand) -> Operand {
        self.binary(BinaryKind::Op(BinaryOp::Or), a, b)
    }
    fn not(&mut self, a: Operand) -> Operand {
        self.unary(UnaryKind::Op(UnaryOp::Not), a)
    }
    fn select(&mut self, condition: Operand, if_true: Operand, if_false: Operand) -> Operand {
        Compiler::select(self, condition, if_true, if_false)
    }
    fn bits(&mut self, op: Bits, a: Operand) -> Operand {
        self.unary(UnaryKind::Bits(op), a)
    }
    fn scale(&mut self, x: Operand, k: Operand) -> Operand {
        self.binary(BinaryKind::Scale, x, k)
    }
    fn patch(
        &mut self,
        special: Special,
        condition: Operand,
        fast: Operand,
        args: [Operand; 2],
    ) -> Operand {
        match (condition, args) {
            (Operand::Constant(c), _) if !semantics::is_true(c) => return fast,
            (Operand::Constant(_), [Operand::Constant(a), Operand::Constant(b)]) => {
                return Operand::Constant(special.fallback(a, b));
            }
            _ => {}
        }
        let key = NodeKey::Patch(
            special,
            condition.into(),
            fast.into(),
            args.map(OperandKey::from),
        );
        self.memoized(key, |_, dst| Instruction::Patch {
            dst,
            special,
            condition,
            fast,
            args,
        })
    }
    fn call(&mut self, special: Special, args: [Operand; 2]) -> Operand {
        if let [Operand::Constant(a), Operand::Constant(b)] = args {
            return Operand::Constant(math::scalar(special, a, b));
        }
        match self.form {
            MathForm::Expanded => math::expand(self, special, args),
            MathForm::Calls => {
                let key = NodeKey::Call(special, args.map(OperandKey::from));
                self.memoized(key, |_, dst| Instruction::Call { dst, special, args })
            }
        }
    }
}

impl PartialOrd for OperandKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OperandKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let rank = |k: &OperandKey| match *k {
            OperandKey::Register(r) => (0, r as u64),
            OperandKey::Constant(bits) => (1, bits),
        };
        rank(self).cmp(&rank(other))
    }
}

#[inline(always)]
pub fn apply_unary(kind: UnaryKind, x: f64) -> f64 {
    match kind {
        UnaryKind::Op(op) => semantics::unary(op, x),
        UnaryKind::Function(f) => f.apply1(x),
        UnaryKind::Bits(op) => op.apply(x),
    }
}

#[inline(always)]
pub fn apply_binary(kind: BinaryKind, a: f64, b: f64) -> f64 {
    match kind {
        BinaryKind::Op(op) => semantics::binary(op, a, b),
        BinaryKind::Function(f) => semantics::apply2(f, a, b),
        BinaryKind::Scale => math::scale(a, b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobfile;

    fn program_of(vars: &str, expr: &str) -> Program {
        let text =
            format!("name: t\ncompute:\n  samples: 10\n  vars:\n{vars}\n  expr: \"{expr}\"\n");
        let spec = jobfile::parse(&text).unwrap();
        compile(spec.compute().unwrap(), 1, MathForm::Calls)
    }

    #[test]
    fn math_functions_are_one_call_each_or_expanded_for_machine_code() {
        let text = "name: t\ncompute:\n  samples: 10\n  vars:\n    n: normal(0, 1)\n    x: exponential(2)\n  expr: sin(n) + cos(n) + log(x) + pow(x, 3) + 2 ^ 3\n";
        let spec = jobfile::parse(text).unwrap();
        let calls = |form| {
            let p = compile(spec.compute().unwrap(), 1, form);
            let specials: Vec<Special> = p
                .instructions
                .iter()
                .filter_map(|i| match i {
                    Instruction::Call { special, .. } => Some(*special),
                    _ => None,
                })
                .collect();
            (specials, p.registers())
        };
        let (specials, registers) = calls(MathForm::Calls);
        // The exponential's `log(1 - u)` is a call too, shared with nothing; `2 ^ 3` is folded.
        assert_eq!(
            specials,
            [
                Special::NormalQuantile,
                Special::Log,
                Special::Sin,
                Special::Cos,
                Special::Log,
                Special::Pow
            ]
        );
        let (expanded, expanded_registers) = calls(MathForm::Expanded);
        assert!(expanded.is_empty());
        assert!(
            registers * 10 < expanded_registers,
            "{registers} vs {expanded_registers}"
        );
    }

    #[test]
    fn shared_subexpressions_are_computed_once() {
        let p = program_of(
            "    a: uniform(5, 10)\n    b: uniform(10, 20)\n    c: uniform(-0.1, 0.1)",
            "(-b + sqrt(b^2 - 4*a*c)) / (2*a) + b^2 + b*b",
        );
        let squares = p
            .instructions
            .iter()
            .filter(|i| matches!(i, Instruction::Binary { kind: BinaryKind::Op(BinaryOp::Mul), left, right, .. } if left == right))
            .count();
        assert_eq!(squares, 1, "{:#?}", p.instructions);
        assert_eq!(p.stream_keys.len(), 3);
    }

    #[test]
    fn constants_fold_and_unused_vars_are_skipped() {
        let p = program_of(
            "    a: uniform(0, 1)\n    unused: normal(0, 1)",
            "a * (2 + 3) + sqrt(16)",
        );
        assert_eq!(p.stream_names, vec!["a".to_string()]);
        assert_eq!(p.constants, vec![5.0, 4.0]);
        assert!(matches!(
            p.instructions[..],
            [
                Instruction::Draw { dst: 2, .. },
                Instruction::Fused {
                    dst: 3,
                    args: [2, 0, 1],
                    ..
                }
            ]
        ));
        let p = program_of("    a: uniform(0, 1)", "pi * 2");
        assert_eq!(
            p.instructions,
            vec![Instruction::Splat {
                dst: 0,
                value: std::f64::consts::TAU
            }]
        );
    }

    #[test]
    fn constant_conditions_choose_a_branch() {
        let p = program_of("    a: uniform(0, 1)", "where(1 > 0, a, sqrt(a))");
        assert_eq!(p.instructions.len(), 1);
    }

    #[test]
    fn registers_only_read_lower_registers() {
        let p = program_of(
            "    a: uniform(0, 1)\n    i: index()\n    d: a * i - 1",
            "where(d > 0, atan2(d, a), -d) + min(a, 1) + !a + (a * 3 - i) / (i + 2)",
        );
        assert!(
            p.instructions
                .iter()
                .any(|i| matches!(i, Instruction::Fused { .. }))
        );
        for (n, instruction) in p.instructions.iter().enumerate() {
            assert_eq!(instruction.dst(), p.constants.len() + n);
            let reads = super::super::fuse::reads(instruction);
            assert!(
                reads.iter().all(|r| *r < instruction.dst()),
                "{instruction:?}"
            );
        }
    }

    #[test]
    fn negation_folds_into_subtraction() {
        for expr in ["-a + b", "b + -a", "b - -a"] {
            let text = format!(
                "name: t\ncompute:\n  samples: 1\n  vars:\n    a: uniform(0, 1)\n    b: uniform(0, 1)\n  expr: \"{expr}\"\n"
            );
            let plain = compile_unfused(
                crate::jobfile::parse(&text).unwrap().compute().unwrap(),
                1,
                MathForm::Calls,
            );
            assert_eq!(
                plain.instructions.len(),
                3,
                "{expr}: {:?}",
                plain.instructions
            );
            assert!(!plain.instructions.iter().any(|i| matches!(
                i,
                Instruction::Unary {
                    kind: UnaryKind::Op(UnaryOp::Neg),
                    ..
                }
            )));
        }
    }
}

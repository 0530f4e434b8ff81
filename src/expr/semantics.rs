//! What every operator and function computes, defined once for one `f64` at a time.
//!
//! Transcendental functions are hpcsub's own (`math`), the same algorithm the vector code runs,
//! never the platform's C library, whose CPU-specific variants may differ in the last bit: a job
//! must give the same bits on a laptop and on every node of a cluster. Nothing here uses fused
//! multiply-add.

use super::{BinaryOp, UnaryOp};
use crate::math::{self, Special};

/// The built-in functions, with the names users write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Function {
    Sqrt,
    Exp,
    Log,
    Log10,
    Sin,
    Cos,
    Tan,
    Abs,
    Floor,
    Ceil,
    Atan2,
    Min,
    Max,
    Pow,
    Where,
}

impl Function {
    pub const ALL: [Function; 15] = [
        Function::Sqrt,
        Function::Exp,
        Function::Log,
        Function::Log10,
        Function::Sin,
        Function::Cos,
        Function::Tan,
        Function::Abs,
        Function::Floor,
        Function::Ceil,
        Function::Atan2,
        Function::Min,
        Function::Max,
        Function::Pow,
        Function::Where,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Function::Sqrt => "sqrt",
            Function::Exp => "exp",
            Function::Log => "log",
            Function::Log10 => "log10",
            Function::Sin => "sin",
            Function::Cos => "cos",
            Function::Tan => "tan",
            Function::Abs => "abs",
            Function::Floor => "floor",
            Function::Ceil => "ceil",
            Function::Atan2 => "atan2",
            Function::Min => "min",
            Function::Max => "max",
            Function::Pow => "pow",
            Function::Where => "where",
        }
    }

    pub fn from_name(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.name() == name)
    }

    pub fn arity(self) -> usize {
        match self {
            Function::Atan2 | Function::Min | Function::Max | Function::Pow => 2,
            Function::Where => 3,
            _ => 1,
        }
    }

    /// The value of a one-argument function.
    #[inline(always)]
    pub fn apply1(self, x: f64) -> f64 {
        match self {
            Function::Sqrt => x.sqrt(),
            Function::Exp => math::scalar(Special::Exp, x, x),
            Function::Log => math::scalar(Special::Log, x, x),
            Function::Log10 => math::scalar(Special::Log10, x, x),
            Function::Sin => math::scalar(Special::Sin, x, x),
            Function::Cos => math::scalar(Special::Cos, x, x),
            Function::Tan => math::scalar(Special::Tan, x, x),
            Function::Abs => x.abs(),
            Function::Floor => x.floor(),
            Function::Ceil => x.ceil(),
            Function::Atan2 | Function::Min | Function::Max | Function::Pow | Function::Where => {
                unreachable!("{} takes more than one argument", self.name())
            }
        }
    }
}

/// `base^exponent` by `math::pow`, where `x^2` is `x*x`.
#[inline(always)]
pub fn pow(base: f64, exponent: f64) -> f64 {
    math::scalar(Special::Pow, base, exponent)
}

/// The smaller of two values; a NaN loses to a number. Written out rather than `f64::min`,
/// whose choice between `-0.0` and `0.0` is unspecified and so may differ between code paths.
#[inline(always)]
pub fn min(a: f64, b: f64) -> f64 {
    if b < a || a.is_nan() { b } else { a }
}

/// The larger of two values; a NaN loses to a number.
#[inline(always)]
pub fn max(a: f64, b: f64) -> f64 {
    if b > a || a.is_nan() { b } else { a }
}

#[inline(always)]
fn truth(condition: bool) -> f64 {
    if condition { 1.0 } else { 0.0 }
}

/// Nonzero (including NaN) is true.
#[inline(always)]
pub fn is_true(x: f64) -> bool {
    x != 0.0
}

#[inline(always)]
pub fn unary(op: UnaryOp, x: f64) -> f64 {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Not => truth(!is_true(x)),
    }
}

#[inline(always)]
pub fn binary(op: BinaryOp, a: f64, b: f64) -> f64 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Pow => pow(a, b),
        BinaryOp::Lt => truth(a < b),
        BinaryOp::Le => truth(a <= b),
        BinaryOp::Gt => truth(a > b),
        BinaryOp::Ge => truth(a >= b),
        BinaryOp::Eq => truth(a == b),
        BinaryOp::Ne => truth(a != b),
        BinaryOp::And => truth(is_true(a) && is_true(b)),
        BinaryOp::Or => truth(is_true(a) || is_true(b)),
    }
}

/// The value of a two-argument function.
#[inline(always)]
pub fn apply2(function: Function, a: f64, b: f64) -> f64 {
    match function {
        Function::Atan2 => math::scalar(Special::Atan2, a, b),
        Function::Min => min(a, b),
        Function::Max => max(a, b),
        Function::Pow => pow(a, b),
        other => unreachable!("{} does not take two arguments", other.name()),
    }
}

#[inline(always)]
pub fn select(condition: f64, if_true: f64, if_false: f64) -> f64 {
    if is_true(condition) {
        if_true
    } else {
        if_false
    }
}

/// The named constants.
pub fn constant(name: &str) -> Option<f64> {
    match name {
        "pi" => Some(std::f64::consts::PI),
        "e" => Some(std::f64::consts::E),
        _ => None,
    }
}

/// A random variable's distribution: what a var is when its definition is one of these calls.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    /// Uniform on `[low, high)`.
    Uniform {
        low: f64,
        high: f64,
    },
    Normal {
        mean: f64,
        sd: f64,
    },
    Exponential {
        rate: f64,
    },
    /// The sample's global index `0..samples-1`, as `f64`.
    Index,
}

/// As written in a job file, e.g. `normal(0, 1)`.
impl std::fmt::Display for Distribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Distribution::Uniform { low, high } => write!(f, "uniform({low}, {high})"),
            Distribution::Normal { mean, sd } => write!(f, "normal({mean}, {sd})"),
            Distribution::Exponential { rate } => write!(f, "exponential({rate})"),
            Distribution::Index => write!(f, "index()"),
        }
    }
}

impl Distribution {
    pub const NAMES: [&'static str; 4] = ["uniform", "normal", "exponential", "index"];

    /// Builds a distribution from its name and constant arguments, or says what is wrong.
    pub fn new(name: &str, args: &[f64]) -> Result<Distribution, String> {
        let arity = match name {
            "uniform" | "normal" => 2,
            "exponential" => 1,
            "index" => 0,
            _ => return Err(format!("`{name}` is not a distribution")),
        };
        let signature = match name {
            "uniform" => "uniform(low, high)",
            "normal" => "normal(mean, sd)",
            "exponential" => "exponential(rate)",
            _ => "index()",
        };
        if args.len() != arity {
            return Err(format!(
                "`{name}` takes {arity} argument{}, got {}: write {signature}",
                if arity == 1 { "" } else { "s" },
                args.len()
            ));
        }
        if let Some(bad) = args.iter().find(|a| !a.is_finite()) {
            return Err(format!(
                "the arguments of {signature} must be finite, got {bad}"
            ));
        }
        match name {
            "uniform" if args[0] >= args[1] => Err(format!(
                "uniform(low, high) needs low < high, got uniform({}, {})",
                args[0], args[1]
            )),
            "uniform" => Ok(Distribution::Uniform {
                low: args[0],
                high: args[1],
            }),
            "normal" if args[1] <= 0.0 => {
                Err(format!("normal(mean, sd) needs sd > 0, got {}", args[1]))
            }
            "normal" => Ok(Distribution::Normal {
                mean: args[0],
                sd: args[1],
            }),
            "exponential" if args[0] <= 0.0 => {
                Err(format!("exponential(rate) needs rate > 0, got {}", args[0]))
            }
            "exponential" => Ok(Distribution::Exponential { rate: args[0] }),
            _ => Ok(Distribution::Index),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_max_prefer_numbers_and_are_symmetric_in_value() {
        assert_eq!(min(1.0, f64::NAN), 1.0);
        assert_eq!(min(f64::NAN, 1.0), 1.0);
        assert_eq!(max(f64::NAN, 2.0), 2.0);
        assert_eq!(min(3.0, 2.0), 2.0);
        assert_eq!(max(3.0, 2.0), 3.0);
    }

    #[test]
    fn square_is_exact_product() {
        for x in [0.1, 1e300, -3.7, 1e-200] {
            assert_eq!(pow(x, 2.0).to_bits(), (x * x).to_bits());
        }
        assert_eq!(pow(2.0, 0.5), std::f64::consts::SQRT_2);
    }

    #[test]
    fn logic_is_zero_or_one() {
        assert_eq!(binary(BinaryOp::And, 2.0, -1.0), 1.0);
        assert_eq!(binary(BinaryOp::Or, 0.0, 0.0), 0.0);
        assert_eq!(unary(UnaryOp::Not, 0.0), 1.0);
        assert_eq!(binary(BinaryOp::Lt, f64::NAN, 1.0), 0.0);
        assert_eq!(select(0.0, 1.0, 2.0), 2.0);
    }

    #[test]
    fn distributions_validate_their_arguments() {
        assert_eq!(
            Distribution::new("uniform", &[5.0, 10.0]),
            Ok(Distribution::Uniform {
                low: 5.0,
                high: 10.0
            })
        );
        for (name, args, fragment) in [
            ("uniform", &[10.0, 5.0][..], "low < high"),
            ("uniform", &[1.0][..], "takes 2 arguments, got 1"),
            ("normal", &[0.0, 0.0][..], "sd > 0"),
            ("exponential", &[-1.0][..], "rate > 0"),
            ("index", &[1.0][..], "takes 0 arguments"),
            ("uniform", &[0.0, f64::INFINITY][..], "finite"),
        ] {
            let err = Distribution::new(name, args).unwrap_err();
            assert!(err.contains(fragment), "{name}: {err}");
        }
    }
}

//! The numeric kernel: random streams, the compiled register program and its evaluation over
//! blocks of samples.

pub mod distribution;
pub mod eval;
pub mod fuse;
pub mod instruction;
pub mod native;
pub mod program;
pub mod rng;

use crate::reduce::Tracked;
use crate::spec::{ComputeSpec, JobSpec};
pub use eval::{Evaluator, Isa};
pub use native::NativeCode;
pub use program::{MathForm, Program};

/// Everything a thread needs to compute any block of a job.
pub struct Kernel {
    pub program: Program,
    /// The code path used: `Native` only if the program compiled to machine code.
    pub isa: Isa,
    pub native: Option<NativeCode>,
    /// Why the program was not compiled to machine code, when that path was asked for.
    pub not_native: Option<String>,
    /// A value near the mean, subtracted before summing so the sums are of small deviations.
    /// It is a function of the job alone (the mean of the finite values among the first
    /// [`SHIFT_SAMPLES`] samples), so every thread, rank and array task uses the same one.
    pub shift: f64,
    /// The lane statistics the job's reductions need.
    pub tracked: Tracked,
}

/// How many of the first samples choose the shift; part of the definition of the results.
pub const SHIFT_SAMPLES: u64 = 256;

impl Kernel {
    pub fn new(spec: &JobSpec, compute: &ComputeSpec, isa: Isa) -> Kernel {
        let tracked = Tracked::for_statistics(&spec.reduce.statistics);
        let loops_program = || program::compile(compute, spec.seed, MathForm::Calls);
        let (program, isa, native, not_native) = match isa {
            Isa::Native => {
                let expanded = program::compile(compute, spec.seed, MathForm::Expanded);
                match NativeCode::compile(&expanded, tracked) {
                    Ok(code) => (expanded, Isa::Native, Some(code), None),
                    Err(reason) => (loops_program(), Isa::Avx512, None, Some(reason)),
                }
            }
            other => (loops_program(), other, None, None),
        };
        let first = Evaluator::new(&program, Isa::Portable, Tracked::ALL)
            .first_values(SHIFT_SAMPLES.min(compute.samples));
        let finite: Vec<f64> = first.into_iter().filter(|v| v.is_finite()).collect();
        let shift = if finite.is_empty() {
            0.0
        } else {
            let mean = finite.iter().sum::<f64>() / finite.len() as f64;
            if mean.is_finite() { mean } else { 0.0 }
        };
        Kernel {
            program,
            isa,
            native,
            not_native,
            shift,
            tracked,
        }
    }
}

/// The SIMD path: the best this CPU has, unless `HPCSUB_ISA` names another (for tests and
/// benchmarks that compare paths).
pub fn chosen_isa() -> Result<Isa, crate::diagnostic::AppError> {
    use crate::diagnostic::AppError;
    match std::env::var("HPCSUB_ISA") {
        Ok(name) if !name.is_empty() => {
            let isa = Isa::from_name(&name).ok_or_else(|| {
                AppError::Usage(format!(
                    "HPCSUB_ISA={name}: expected portable, avx2, avx512 or native"
                ))
            })?;
            if !isa.supported() {
                return Err(AppError::Usage(format!(
                    "HPCSUB_ISA={name}: this CPU does not support it"
                )));
            }
            Ok(isa)
        }
        _ => Ok(Isa::detect()),
    }
}

impl Kernel {
    /// How this machine computes the job's samples, for people.
    pub fn code_path(&self) -> String {
        match (&self.native, &self.not_native) {
            (Some(_), _) => "native: AVX-512 machine code generated for this job".into(),
            (None, Some(reason)) => format!(
                "{} loops (not compiled to machine code: {reason})",
                self.isa.name()
            ),
            (None, None) => format!("{} loops", self.isa.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobfile;

    fn shift_of(text: &str) -> f64 {
        let spec = jobfile::parse(text).unwrap();
        Kernel::new(&spec, spec.compute().unwrap(), Isa::Portable).shift
    }

    #[test]
    fn the_shift_is_the_mean_of_the_first_256_samples() {
        let text = "name: t\ncompute:\n  samples: 10000\n  vars:\n    i: index()\n  expr: i\n";
        assert_eq!(shift_of(text), 127.5);
        assert_eq!(shift_of(&text.replace("10000", "10")), 4.5);
        let nan_first = text.replace("expr: i", "expr: where(i < 100, 0/0, i)");
        assert_eq!(shift_of(&nan_first), (100.0 + 255.0) / 2.0);
    }
}

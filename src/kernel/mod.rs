//! The numeric kernel: random streams, the compiled register program and its evaluation over
//! blocks of samples.

pub mod distribution;
pub mod eval;
pub mod program;
pub mod rng;

use crate::spec::JobSpec;
pub use eval::{Evaluator, Isa};
pub use program::Program;

/// Everything a thread needs to compute any block of a job.
pub struct Kernel {
    pub program: Program,
    pub isa: Isa,
    /// A value near the mean, subtracted before squaring so the variance is computed from small
    /// deviations. It is a function of the job alone (the mean of the finite values among the
    /// first samples), so every thread, rank and array task uses the same one.
    pub shift: f64,
}

impl Kernel {
    pub fn new(spec: &JobSpec, isa: Isa) -> Kernel {
        let program = program::compile(&spec.compute, spec.seed);
        let first = Evaluator::new(&program, Isa::Portable).first_values(spec.compute.samples);
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
            shift,
        }
    }
}

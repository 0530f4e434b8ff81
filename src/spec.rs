//! The validated job: what a job file means once every value has been checked. Everything after
//! the job file (plan, kernel, executors, reports) works from these types only.

use std::time::Duration;

use crate::expr::{Distribution, Expr};

#[derive(Clone, Debug, PartialEq)]
pub struct JobSpec {
    pub name: String,
    pub seed: u64,
    pub compute: ComputeSpec,
    pub reduce: ReduceSpec,
    pub split: SplitSpec,
    pub resources: Resources,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ComputeSpec {
    pub samples: u64,
    /// In the order they are evaluated; each may use only the ones before it.
    pub vars: Vec<VarSpec>,
    pub expr: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct VarSpec {
    pub name: String,
    pub definition: VarDefinition,
}

#[derive(Clone, Debug, PartialEq)]
pub enum VarDefinition {
    Random(Distribution),
    Derived(Expr),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Statistic {
    Count,
    Sum,
    Mean,
    Var,
    Std,
    Min,
    Max,
}

impl Statistic {
    pub const ALL: [Statistic; 7] = [
        Statistic::Count,
        Statistic::Sum,
        Statistic::Mean,
        Statistic::Var,
        Statistic::Std,
        Statistic::Min,
        Statistic::Max,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Statistic::Count => "count",
            Statistic::Sum => "sum",
            Statistic::Mean => "mean",
            Statistic::Var => "var",
            Statistic::Std => "std",
            Statistic::Min => "min",
            Statistic::Max => "max",
        }
    }

    pub fn from_name(name: &str) -> Option<Statistic> {
        Statistic::ALL.into_iter().find(|s| s.name() == name)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HistogramSpec {
    pub bins: u32,
    pub low: f64,
    pub high: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ReduceSpec {
    /// In the order the user listed them; `count` is always reported in addition.
    pub statistics: Vec<Statistic>,
    pub histogram: Option<HistogramSpec>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SplitSpec {
    pub ranks: u32,
    /// `None`: as many as the CPUs this process may use.
    pub threads: Option<usize>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Resources {
    pub time: Option<Duration>,
    /// Bytes per rank.
    pub memory: Option<u64>,
}

/// Limits that keep a job file from asking for something absurd.
pub const MAX_THREADS: usize = 4096;
pub const MAX_RANKS: u32 = 1_000_000;
pub const MAX_HISTOGRAM_BINS: u32 = 10_000_000;

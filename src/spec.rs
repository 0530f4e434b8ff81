//! The validated job: what a job file means once every value has been checked. Everything after
//! the job file (plan, kernel, executors, reports) works from these types only.

use std::time::Duration;

use crate::diagnostic::Location;
use crate::expr::{Distribution, Expr};

#[derive(Clone, Debug, PartialEq)]
pub struct JobSpec {
    pub name: String,
    pub seed: u64,
    pub work: Work,
    pub reduce: ReduceSpec,
    pub split: SplitSpec,
    pub resources: Resources,
    pub slurm: SlurmSpec,
    pub condor: CondorSpec,
    /// How the site's software is set up before a task job's tasks run.
    pub environment: Option<EnvironmentSpec>,
}

/// `environment:`: a bash script to source and environment modules to load, once per slice (or
/// local run) before its tasks; they get the environment that results.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EnvironmentSpec {
    /// Relative to the tasks' working directory.
    pub script: Option<Located<String>>,
    /// Each name checked to be a module name, and loaded in order, before the script runs.
    pub modules: Vec<String>,
}

/// The custom ClassAd attribute hpcsub sets on every HTCondor proc: the slice it computes. A job
/// file may not set it.
pub const CONDOR_SLICE_ATTRIBUTE: &str = "HpcsubSlice";

/// A job file: one job, or a workflow of steps.
#[derive(Clone, Debug, PartialEq)]
pub enum Document {
    Job(Box<JobSpec>),
    Workflow(WorkflowSpec),
}

/// A job of several dependent steps (`steps:`).
#[derive(Clone, Debug, PartialEq)]
pub struct WorkflowSpec {
    pub name: String,
    pub seed: u64,
    /// Every step after the steps it needs; steps that need nothing in the order written.
    pub steps: Vec<StepSpec>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StepSpec {
    pub name: String,
    pub needs: Vec<String>,
    /// The step as a job of its own, named `<workflow>-<step>`, with the workflow's seed,
    /// `slurm:` and `condor:`.
    pub job: JobSpec,
}

impl WorkflowSpec {
    pub fn step(&self, name: &str) -> Option<&StepSpec> {
        self.steps.iter().find(|s| s.name == name)
    }
}

/// The placeholders and names by which a step refers to a step it needs: `{steps.X.result}`
/// (its `result.json`), `{steps.X.outputs}` (the directory of its tasks' `{outdir}`s),
/// `{steps.X.tasks}` (its `tasks.jsonl`); and `steps.X.<statistic>` in expressions.
pub const STEP_PATHS: [&str; 3] = ["result", "outputs", "tasks"];

/// HTCondor settings of a job file, each validated so it can go into a submit file as is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CondorSpec {
    /// A ClassAd expression, added to the ones HTCondor writes itself.
    pub requirements: Option<String>,
    /// At most this many slices idle at once (late materialization).
    pub max_idle: Option<u32>,
    /// Extra submit commands (name, value), names from HTCondor's submit language.
    pub extra: Vec<(String, String)>,
    /// DAGMan's `RETRY` for the slices node.
    pub retries: u32,
}

/// Slurm settings of a job file, each validated so it can go on an `#SBATCH` line as is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SlurmSpec {
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// Extra `--option` or `--option=value` directives.
    pub extra: Vec<String>,
    /// At most this many array tasks run at once (`--array=...%N`).
    pub array_limit: Option<u32>,
    pub mode: SlurmMode,
}

/// How a submitted job runs on Slurm.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum SlurmMode {
    /// A job array, one task per slice, and a gather job.
    #[default]
    Array,
    /// One job of one Slurm task per slice that runs `srun --mpi=pmix hpcsub run` (the MPI build).
    Mpi,
}

/// What the job does: exactly one of `compute:` and `tasks:` per job file.
#[derive(Clone, Debug, PartialEq)]
pub enum Work {
    Compute(ComputeSpec),
    Tasks(TasksSpec),
}

impl JobSpec {
    pub fn compute(&self) -> Option<&ComputeSpec> {
        match &self.work {
            Work::Compute(compute) => Some(compute),
            Work::Tasks(_) => None,
        }
    }

    pub fn tasks(&self) -> Option<&TasksSpec> {
        match &self.work {
            Work::Tasks(tasks) => Some(tasks),
            Work::Compute(_) => None,
        }
    }

    pub fn tasks_mut(&mut self) -> Option<&mut TasksSpec> {
        match &mut self.work {
            Work::Tasks(tasks) => Some(tasks),
            Work::Compute(_) => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ComputeSpec {
    pub samples: u64,
    /// In the order they are evaluated; each may use only the ones before it.
    pub vars: Vec<VarSpec>,
    pub expr: Expr,
    /// What a workflow step wrote with the values of the steps it needs where a number must be
    /// known before the first sample. Until the step is bound, `samples` and these draws hold
    /// stand-ins (see `workflow::apply`).
    pub of_steps: OfSteps,
}

/// `samples:` and draw arguments written with `steps.NAME.STAT`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OfSteps {
    pub samples: Option<Expr>,
    pub draws: Vec<DrawOfSteps>,
}

impl OfSteps {
    pub fn is_empty(&self) -> bool {
        self.samples.is_none() && self.draws.is_empty()
    }
}

/// The var `var` drawn from `distribution(args)`, whose arguments use values of needed steps.
#[derive(Clone, Debug, PartialEq)]
pub struct DrawOfSteps {
    pub var: String,
    pub distribution: String,
    pub args: Vec<Expr>,
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

/// The placeholder of a task's own output directory.
pub const OUTDIR: &str = "outdir";
/// The placeholders of a task's input file (`tasks.files`) and input line (`tasks.lines`).
pub const FILE: &str = "file";
pub const FILE_NAME: &str = "file_name";
pub const FILE_STEM: &str = "file_stem";
pub const LINE: &str = "line";

/// A value of the job file with where it was written, for problems found after parsing (a glob
/// that matches nothing, a directory that is not there).
#[derive(Clone, PartialEq)]
pub struct Located<T> {
    pub value: T,
    pub location: Location,
}

/// The value alone: where it was written is no part of what a job means (a workflow step's
/// hash is taken from this text, and must not change when lines move).
impl<T: std::fmt::Debug> std::fmt::Debug for Located<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

/// Where a task job's inputs come from, as written; they become the first axes of the task
/// grid when resolved against the working directory (`jobfile::inputs`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskInputs {
    /// Globs: one task per matching file.
    pub files: Vec<Located<String>>,
    /// A text file: one task per non-empty line that is not a `#` comment.
    pub lines: Option<Located<String>>,
}

impl TaskInputs {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.lines.is_none()
    }
}

/// A program run once per task id or parameter point, without a shell.
#[derive(Clone, Debug, PartialEq)]
pub struct TasksSpec {
    /// Task ids are `0..count`.
    pub count: u64,
    /// The parameter grid in the order written; task `i` is point `i` of the cartesian product
    /// with the last parameter varying fastest.
    pub params: Vec<Param>,
    /// The argv, each argument a template with `{task}` and `{<param>}` placeholders.
    pub command: Vec<Template>,
    pub result: ResultKind,
    pub timeout: Option<Duration>,
    /// Extra attempts after a failed one.
    pub retries: u32,
    /// Added to the inherited environment; values are templates too.
    pub env: Vec<(String, Template)>,
    /// Input files and lines; once resolved, they are the axes `file` and `line` of `params`.
    pub inputs: TaskInputs,
    /// `tasks.workdir`, relative to the job file's directory.
    pub workdir: Option<Located<String>>,
    /// `tasks.from`: the step whose tasks this step maps over, one task each.
    pub from: Option<String>,
    /// `tasks.worker`: the command is started once per thread and serves one task after
    /// another over its stdin and stdout (see `executor::command`), instead of once per task.
    pub worker: bool,
    /// Values of placeholders bound when the step runs: `steps.X.*` paths, and for a step
    /// `from` another, each task's `input` and `result.KEY` (one map per task).
    pub bound: Bindings,
}

/// What a step's placeholders stand for once the steps it needs have run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bindings {
    pub fixed: std::collections::BTreeMap<String, String>,
    pub per_task: Vec<std::collections::BTreeMap<String, String>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: String,
    /// Each value as written in the job file.
    pub values: Vec<String>,
}

/// An argument with placeholders, split into literal text and placeholder names.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    pub pieces: Vec<Piece>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Piece {
    Text(String),
    /// `task` or a parameter name.
    Placeholder(String),
}

/// What a task's standard output means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResultKind {
    /// The last non-empty line is one number.
    Number,
    /// The last non-empty line is a JSON object of numbers, reduced per key.
    Json,
    /// Only the exit status counts.
    None,
}

impl ResultKind {
    pub const ALL: [ResultKind; 3] = [ResultKind::Number, ResultKind::Json, ResultKind::None];

    pub fn name(self) -> &'static str {
        match self {
            ResultKind::Number => "number",
            ResultKind::Json => "json",
            ResultKind::None => "none",
        }
    }

    pub fn from_name(name: &str) -> Option<ResultKind> {
        ResultKind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

impl TasksSpec {
    /// The parameter values of task `task`, in the order the parameters were written.
    pub fn point(&self, task: u64) -> Vec<(&str, &str)> {
        let mut rest = task;
        let mut point: Vec<(&str, &str)> = self
            .params
            .iter()
            .rev()
            .map(|param| {
                let len = param.values.len() as u64;
                let value = &param.values[(rest % len) as usize];
                rest /= len;
                (param.name.as_str(), value.as_str())
            })
            .collect();
        point.reverse();
        point
    }

    /// Whether any argument or environment value uses `{name}`.
    pub fn uses(&self, name: &str) -> bool {
        self.command
            .iter()
            .chain(self.env.iter().map(|(_, value)| value))
            .flat_map(|t| &t.pieces)
            .any(|piece| matches!(piece, Piece::Placeholder(p) if p == name))
    }

    /// `template` with `{task}`, `{outdir}` and every parameter of task `task` filled in.
    pub fn fill(&self, template: &Template, task: u64, outdir: &str) -> String {
        let point = self.point(task);
        let mut text = String::new();
        for piece in &template.pieces {
            match piece {
                Piece::Text(literal) => text.push_str(literal),
                Piece::Placeholder(name) if name == "task" => text.push_str(&task.to_string()),
                Piece::Placeholder(name) if name == OUTDIR => text.push_str(outdir),
                Piece::Placeholder(name) if name == FILE_NAME || name == FILE_STEM => {
                    if let Some((_, file)) = point.iter().find(|(param, _)| *param == FILE) {
                        let path = std::path::Path::new(file);
                        let part = if name == FILE_NAME {
                            path.file_name()
                        } else {
                            path.file_stem()
                        };
                        text.push_str(
                            &part.map_or_else(String::new, |p| p.to_string_lossy().into_owned()),
                        );
                    }
                }
                Piece::Placeholder(name) => {
                    if let Some((_, value)) = point.iter().find(|(param, _)| param == name) {
                        text.push_str(value);
                    } else if let Some(value) = self.bound.fixed.get(name).or_else(|| {
                        self.bound
                            .per_task
                            .get(usize::try_from(task).ok()?)?
                            .get(name)
                    }) {
                        text.push_str(value);
                    }
                }
            }
        }
        text
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Statistic {
    Count,
    Sum,
    Mean,
    Var,
    Std,
    /// The standard error of the mean, `std / sqrt(count)`.
    Sem,
    Min,
    Max,
}

impl Statistic {
    pub const ALL: [Statistic; 8] = [
        Statistic::Count,
        Statistic::Sum,
        Statistic::Mean,
        Statistic::Var,
        Statistic::Std,
        Statistic::Sem,
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
            Statistic::Sem => "sem",
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
    /// How many slices the samples or tasks are cut into: MPI ranks, or array elements when
    /// submitted. Written `slices:` (or `ranks:`, its older name) in job files.
    pub slices: u32,
    /// `None`: as many as the CPUs this process may use.
    pub threads: Option<usize>,
    /// How a submitted task job's tasks reach its slices.
    pub balance: Balance,
}

/// How the tasks of a submitted task job are dealt out to its slices (`split.balance`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Balance {
    /// Each slice claims its next batch from the run directory when it has a free thread
    /// (the default for task jobs).
    Dynamic,
    /// Slice `i` of `n` runs every `n`-th task from `i` (compute jobs: a fixed range of
    /// sample blocks).
    Static,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Resources {
    pub time: Option<Duration>,
    /// Bytes per rank.
    pub memory: Option<u64>,
    /// Bytes of scratch disk per rank.
    pub disk: Option<u64>,
    /// How often a submitted compute slice saves its progress (default
    /// [`DEFAULT_CHECKPOINT`]).
    pub checkpoint: Option<Duration>,
}

/// A submitted compute slice saves its progress this often unless `resources.checkpoint` says.
pub const DEFAULT_CHECKPOINT: Duration = Duration::from_secs(600);

/// Limits that keep a job file from asking for something absurd.
pub const MAX_THREADS: usize = 4096;
pub const MAX_SLICES: u32 = 1_000_000;
pub const MAX_HISTOGRAM_BINS: u32 = 10_000_000;
pub const MAX_TASKS: u64 = 10_000_000;
pub const MAX_RETRIES: u64 = 100;

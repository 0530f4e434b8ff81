//! Presenting a finished run: one JSON object for machines, a readable table for people.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::reduce::task_results::TaskValue;
use crate::reduce::{Accumulator, Histogram, Summary};
use crate::spec::{JobSpec, Statistic, TasksSpec};

mod task_records;

pub use task_records::{
    Recorded, TASKS_SHOWN, TaskRecord, TaskRecorder, TaskRecords, write_task_files,
};

/// More NaN samples than this fraction of all samples earns a warning: the mean of the rest is
/// then likely not the answer the job meant.
const NAN_WARNING_FRACTION: f64 = 0.001;

fn number(x: Option<f64>) -> Value {
    x.filter(|v| v.is_finite())
        .map_or(Value::Null, |v| json!(v))
}

/// Where a submitted run's result came from; absent for `hpcsub run`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Submitted {
    pub run_dir: String,
    pub job_ids: Vec<String>,
    /// The slices' computing times added up (the run's `elapsed_s` is the wall time from the
    /// first slice's start to the last one's finish).
    pub slice_seconds: f64,
    /// The digest of the parts this result was gathered from (see `status`).
    pub parts_digest: String,
}

/// The histogram as `--json` shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HistogramReport {
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
    pub underflow: u64,
    pub overflow: u64,
}

impl From<&Histogram> for HistogramReport {
    fn from(h: &Histogram) -> Self {
        HistogramReport {
            edges: h.edges(),
            counts: h.counts.clone(),
            underflow: h.underflow,
            overflow: h.overflow,
        }
    }
}

/// A finished compute job.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunReport {
    pub job: String,
    pub samples: u64,
    pub seed: u64,
    /// MPI ranks of a `run`; slices of a submitted run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranks: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slices: Option<u32>,
    pub threads: usize,
    /// `count`, then each requested statistic in the order the job file lists them, then `nan`
    /// if any sample was NaN. Non-finite values are `null`.
    pub result: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub histogram: Option<HistogramReport>,
    pub elapsed_s: f64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub submitted: Option<Submitted>,
}

/// How a report counts the workers that computed it.
#[derive(Clone, Copy, Debug)]
pub enum Spread {
    Ranks(u32),
    Slices(u32),
}

impl Spread {
    fn split(self) -> (Option<u32>, Option<u32>) {
        match self {
            Spread::Ranks(n) => (Some(n), None),
            Spread::Slices(n) => (None, Some(n)),
        }
    }
}

fn spread_text(ranks: Option<u32>, slices: Option<u32>, threads: usize) -> String {
    let plural = |n: u64, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let workers = match (ranks, slices) {
        (_, Some(n)) => plural(n.into(), "slice"),
        (Some(n), _) => plural(n.into(), "rank"),
        (None, None) => plural(1, "rank"),
    };
    format!("{workers} x {}", plural(threads as u64, "thread"))
}

fn statistic(summary: &Summary, statistic: Statistic) -> Value {
    let s = summary;
    match statistic {
        Statistic::Count => json!(s.count),
        Statistic::Sum => number(Some(s.sum)),
        Statistic::Mean => number(s.mean),
        Statistic::Var => number(s.var),
        Statistic::Std => number(s.std),
        Statistic::Sem => number(s.sem),
        Statistic::Min => number(s.min),
        Statistic::Max => number(s.max),
    }
}

impl RunReport {
    pub fn new(
        spec: &JobSpec,
        samples: u64,
        spread: Spread,
        threads: usize,
        acc: &Accumulator,
        elapsed_s: f64,
    ) -> RunReport {
        let summary = Summary::from_accumulator(acc);
        let mut result = Map::new();
        result.insert("count".into(), json!(summary.count));
        for &s in &spec.reduce.statistics {
            result.insert(s.name().into(), statistic(&summary, s));
        }
        let mut warnings = Vec::new();
        if summary.nan > 0 {
            result.insert("nan".into(), json!(summary.nan));
            let all = summary.nan + summary.count;
            if summary.nan as f64 > NAN_WARNING_FRACTION * all as f64 {
                warnings.push(format!(
                    "{} of {all} samples ({:.2}%) were NaN and are left out of every statistic; \
                     check the expression's domain (sqrt or log of negatives, 0/0)",
                    summary.nan,
                    100.0 * summary.nan as f64 / all as f64
                ));
            }
        }
        let (ranks, slices) = spread.split();
        RunReport {
            job: spec.name.clone(),
            samples,
            seed: spec.seed,
            ranks,
            slices,
            threads,
            result,
            histogram: acc.histogram.as_ref().map(HistogramReport::from),
            elapsed_s,
            warnings,
            submitted: None,
        }
    }

    pub fn to_table(&self) -> String {
        let rate = self.samples as f64 / self.elapsed_s.max(1e-9);
        let mut out = format!(
            "{}: {} samples, seed {}, {}, {:.3} s ({}/s)\n",
            self.job,
            self.samples,
            self.seed,
            spread_text(self.ranks, self.slices, self.threads),
            self.elapsed_s,
            human_count(rate),
        );
        // The mean is shown with its standard error, which then needs no line of its own.
        let sem = self.result.get("sem").and_then(Value::as_f64);
        for (key, value) in &self.result {
            let _ = match (key.as_str(), sem) {
                ("mean", Some(sem)) => {
                    writeln!(out, "  {key:<6} {} ± {}", shown(value), format_float(sem))
                }
                ("sem", Some(_)) if self.result.contains_key("mean") => continue,
                _ => writeln!(out, "  {key:<6} {}", shown(value)),
            };
        }
        if let Some(h) = &self.histogram {
            out.push_str(&histogram_table(h));
        }
        if let Some(submitted) = &self.submitted {
            out.push_str(&submitted_lines(submitted));
        }
        for warning in &self.warnings {
            let _ = writeln!(out, "warning: {warning}");
        }
        out
    }
}

fn submitted_lines(submitted: &Submitted) -> String {
    format!(
        "  run    {} (jobs {}; slices computed for {:.3} s in all)\n",
        submitted.run_dir,
        if submitted.job_ids.is_empty() {
            "none recorded".to_string()
        } else {
            submitted.job_ids.join(", ")
        },
        submitted.slice_seconds
    )
}

/// A finished task job: the reduced results of the tasks that succeeded, every task's record,
/// and the failures.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskReport {
    pub job: String,
    pub task_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranks: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slices: Option<u32>,
    pub threads: usize,
    pub succeeded: u64,
    pub result: Map<String, Value>,
    /// The failed tasks' records.
    pub failed: Vec<TaskRecord>,
    /// Where the tasks' stdout and stderr (and `tasks.jsonl`, `tasks.csv`, `outputs/`) are, if
    /// they were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<String>,
    pub elapsed_s: f64,
    /// Every task, in task order.
    pub tasks: TaskRecords,
    /// Inputs that changed since a submitted run's tasks read them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub submitted: Option<Submitted>,
}

impl TaskReport {
    /// The report of a job whose outcomes `recorded` reduced and recorded.
    pub fn new(
        spec: &JobSpec,
        tasks: &TasksSpec,
        spread: Spread,
        threads: usize,
        recorded: Recorded,
        logs: Option<String>,
        elapsed_s: f64,
    ) -> TaskReport {
        let (ranks, slices) = spread.split();
        TaskReport {
            job: spec.name.clone(),
            task_count: tasks.count,
            ranks,
            slices,
            threads,
            succeeded: recorded.succeeded,
            result: recorded.result,
            failed: recorded.failed,
            logs,
            elapsed_s,
            tasks: recorded.tasks,
            warnings: Vec::new(),
            submitted: None,
        }
    }

    pub fn failed_count(&self) -> usize {
        self.failed.len()
    }

    pub fn to_table(&self) -> String {
        let failed = self.failed_count();
        let mut out = format!(
            "{}: {} task{}, {}, {:.3} s: {} succeeded, {failed} failed\n",
            self.job,
            self.task_count,
            if self.task_count == 1 { "" } else { "s" },
            spread_text(self.ranks, self.slices, self.threads),
            self.elapsed_s,
            self.succeeded,
        );
        for (key, value) in &self.result {
            match value {
                Value::Object(stats) => match task_histogram(stats) {
                    Some((edges, counts)) => {
                        let _ = writeln!(
                            out,
                            "  {key} (histogram summed over {} tasks)",
                            stats["count"]
                        );
                        out.push_str(&bars(&edges, &counts, "    "));
                    }
                    None => {
                        let _ = writeln!(out, "  {key}");
                        for (k, v) in stats {
                            let _ = writeln!(out, "    {k:<6} {}", shown(v));
                        }
                    }
                },
                other => {
                    let _ = writeln!(out, "  {key:<6} {}", shown(other));
                }
            }
        }
        if let Some(records) = self.tasks.few().filter(|r| !r.is_empty()) {
            out.push_str(&tasks_table(records));
        }
        if failed > 0 {
            let _ = writeln!(out, "  failed tasks:");
            for record in &self.failed {
                let params = record.params_text();
                let _ = writeln!(
                    out,
                    "    task {}{}: {} (log: {})",
                    record.task,
                    if params.is_empty() {
                        String::new()
                    } else {
                        format!(" ({params})")
                    },
                    record.reason.as_deref().unwrap_or(""),
                    record.log
                );
                for line in &record.stderr_tail {
                    let _ = writeln!(out, "      | {line}");
                }
            }
        }
        if let Some(logs) = &self.logs {
            let _ = writeln!(out, "  logs: {logs}");
        }
        if let Some(submitted) = &self.submitted {
            out.push_str(&submitted_lines(submitted));
        }
        for warning in &self.warnings {
            let _ = writeln!(out, "warning: {warning}");
        }
        out
    }
}

/// One line per task: its parameters, status and numeric results.
fn tasks_table(records: &[TaskRecord]) -> String {
    let numeric: Vec<&String> = records
        .iter()
        .flat_map(|r| r.result.iter())
        .filter(|(_, v)| matches!(v, TaskValue::Number(_)))
        .map(|(k, _)| k)
        .fold(Vec::new(), |mut keys, key| {
            if !keys.contains(&key) {
                keys.push(key);
            }
            keys
        });
    let params: Vec<&String> = records[0].params.keys().collect();
    let mut rows: Vec<Vec<String>> = vec![
        ["task".to_string()]
            .into_iter()
            .chain(params.iter().map(|p| p.to_string()))
            .chain(["status".to_string()])
            .chain(numeric.iter().map(|k| k.to_string()))
            .collect(),
    ];
    for record in records {
        rows.push(
            [record.task.to_string()]
                .into_iter()
                .chain(params.iter().map(|p| record.params[*p].clone()))
                .chain([record.status.clone()])
                .chain(numeric.iter().map(|k| match record.result.get(*k) {
                    Some(TaskValue::Number(n)) => shown(&Value::Number(n.clone())),
                    _ => "-".into(),
                }))
                .collect(),
        );
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::from("  per task:\n");
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:>width$}"))
            .collect();
        let _ = writeln!(out, "    {}", cells.join("  "));
    }
    out
}

/// A result value as the tables show it.
fn shown(value: &Value) -> String {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(x) if n.is_f64() => format_float(x),
            _ => n.to_string(),
        },
        Value::Null => "undefined".into(),
        other => other.to_string(),
    }
}

/// Shortest round-trip digits, in scientific notation when that is easier to read.
pub fn format_float(x: f64) -> String {
    if x == 0.0 || (1e-4..1e15).contains(&x.abs()) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// `412.3 M samples`: a count readable at a glance.
pub fn human_count(x: f64) -> String {
    match x {
        x if x >= 1e9 => format!("{:.2} G samples", x / 1e9),
        x if x >= 1e6 => format!("{:.1} M samples", x / 1e6),
        x if x >= 1e3 => format!("{:.1} k samples", x / 1e3),
        x => format!("{x:.0} samples"),
    }
}

/// An edge rounded to 10 significant digits for the table; `--json` keeps every bit.
fn readable(x: f64) -> f64 {
    format!("{x:.9e}").parse().unwrap_or(x)
}

const BAR_WIDTH: u64 = 40;
const MAX_BINS_SHOWN: usize = 60;

fn histogram_table(h: &HistogramReport) -> String {
    let mut out = String::from("  histogram\n");
    out.push_str(&bars(&h.edges, &h.counts, "    "));
    let _ = writeln!(
        out,
        "    underflow {}, overflow {}",
        h.underflow, h.overflow
    );
    out
}

/// One line a bin, with a bar as long as its count; `indent` before each.
fn bars(edges: &[f64], counts: &[u64], indent: &str) -> String {
    if counts.len() > MAX_BINS_SHOWN || edges.len() != counts.len() + 1 {
        return format!(
            "{indent}{} bins (use --json to see them all)\n",
            counts.len()
        );
    }
    let tallest = counts.iter().copied().max().unwrap_or(0).max(1);
    let mut out = String::new();
    for (bin, count) in counts.iter().enumerate() {
        let bar = "#".repeat((count * BAR_WIDTH / tallest) as usize);
        let _ = writeln!(
            out,
            "{indent}[{:>12}, {:>12})  {:>12}  {bar}",
            format_float(readable(edges[bin])),
            format_float(readable(edges[bin + 1])),
            count
        );
    }
    out
}

/// A summed task histogram (`{"count", "edges", "counts"}`), if `stats` is one.
fn task_histogram(stats: &Map<String, Value>) -> Option<(Vec<f64>, Vec<u64>)> {
    let numbers = |key: &str| stats.get(key)?.as_array().cloned();
    let edges = numbers("edges")?
        .iter()
        .map(Value::as_f64)
        .collect::<Option<_>>()?;
    let counts = numbers("counts")?
        .iter()
        .map(Value::as_u64)
        .collect::<Option<_>>()?;
    Some((edges, counts))
}

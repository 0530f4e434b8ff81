//! Presenting a finished run: one JSON object for machines, a readable table for people.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use crate::reduce::task_results::{TaskSummary, failed_json};
use crate::reduce::{Histogram, Summary};
use crate::spec::{JobSpec, Statistic};

pub struct RunReport<'a> {
    pub spec: &'a JobSpec,
    pub samples: u64,
    pub ranks: u32,
    pub threads: usize,
    pub summary: Summary,
    pub histogram: Option<Histogram>,
    pub elapsed_s: f64,
}

fn number(x: Option<f64>) -> Value {
    x.filter(|v| v.is_finite())
        .map_or(Value::Null, |v| json!(v))
}

impl RunReport<'_> {
    fn statistic(&self, statistic: Statistic) -> Value {
        let s = &self.summary;
        match statistic {
            Statistic::Count => json!(s.count),
            Statistic::Sum => number(Some(s.sum)),
            Statistic::Mean => number(s.mean),
            Statistic::Var => number(s.var),
            Statistic::Std => number(s.std),
            Statistic::Min => number(s.min),
            Statistic::Max => number(s.max),
        }
    }

    /// `count`, then each requested statistic in the order the job file lists them, then `nan`
    /// if any sample was NaN. Non-finite values are `null`.
    pub fn result_json(&self) -> Map<String, Value> {
        let mut result = Map::new();
        result.insert("count".into(), json!(self.summary.count));
        for statistic in &self.spec.reduce.statistics {
            result.insert(statistic.name().into(), self.statistic(*statistic));
        }
        if self.summary.nan > 0 {
            result.insert("nan".into(), json!(self.summary.nan));
        }
        result
    }

    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("job".into(), json!(self.spec.name));
        object.insert("samples".into(), json!(self.samples));
        object.insert("seed".into(), json!(self.spec.seed));
        object.insert("ranks".into(), json!(self.ranks));
        object.insert("threads".into(), json!(self.threads));
        object.insert("result".into(), Value::Object(self.result_json()));
        if let Some(h) = &self.histogram {
            object.insert(
                "histogram".into(),
                json!({
                    "edges": h.edges(),
                    "counts": h.counts,
                    "underflow": h.underflow,
                    "overflow": h.overflow,
                }),
            );
        }
        object.insert("elapsed_s".into(), json!(self.elapsed_s));
        Value::Object(object)
    }

    pub fn to_table(&self) -> String {
        let spec = self.spec;
        let rate = self.samples as f64 / self.elapsed_s.max(1e-9);
        let mut out = format!(
            "{}: {} samples, seed {}, {} rank{} x {} thread{}, {:.3} s ({}/s)\n",
            spec.name,
            self.samples,
            spec.seed,
            self.ranks,
            if self.ranks == 1 { "" } else { "s" },
            self.threads,
            if self.threads == 1 { "" } else { "s" },
            self.elapsed_s,
            human_count(rate),
        );
        for (key, value) in self.result_json() {
            let _ = writeln!(out, "  {key:<6} {}", shown(&value));
        }
        if let Some(h) = &self.histogram {
            out.push_str(&histogram_table(h));
        }
        out
    }
}

/// A finished task job: the reduced results of the tasks that succeeded, and every failure.
pub struct TaskReport<'a> {
    pub spec: &'a JobSpec,
    pub tasks: u64,
    pub ranks: u32,
    pub threads: usize,
    pub summary: TaskSummary,
    /// Where the tasks' stdout and stderr are, if they were kept.
    pub logs: Option<String>,
    pub elapsed_s: f64,
}

impl TaskReport<'_> {
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("job".into(), json!(self.spec.name));
        object.insert("tasks".into(), json!(self.tasks));
        object.insert("ranks".into(), json!(self.ranks));
        object.insert("threads".into(), json!(self.threads));
        object.insert("succeeded".into(), json!(self.summary.succeeded));
        object.insert("result".into(), Value::Object(self.summary.result.clone()));
        object.insert("failed".into(), failed_json(&self.summary.failed));
        if let Some(logs) = &self.logs {
            object.insert("logs".into(), json!(logs));
        }
        object.insert("elapsed_s".into(), json!(self.elapsed_s));
        Value::Object(object)
    }

    pub fn to_table(&self) -> String {
        let failed = self.summary.failed.len();
        let mut out = format!(
            "{}: {} task{}, {} rank{} x {} thread{}, {:.3} s: {} succeeded, {failed} failed\n",
            self.spec.name,
            self.tasks,
            if self.tasks == 1 { "" } else { "s" },
            self.ranks,
            if self.ranks == 1 { "" } else { "s" },
            self.threads,
            if self.threads == 1 { "" } else { "s" },
            self.elapsed_s,
            self.summary.succeeded,
        );
        let mut lines = Vec::new();
        for (key, value) in &self.summary.result {
            match value {
                Value::Object(stats) => {
                    lines.push(format!("  {key}"));
                    lines.extend(
                        stats
                            .iter()
                            .map(|(k, v)| format!("    {k:<6} {}", shown(v))),
                    );
                }
                other => lines.push(format!("  {key:<6} {}", shown(other))),
            }
        }
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
        if failed > 0 {
            let _ = writeln!(out, "  failed tasks:");
            for outcome in &self.summary.failed {
                let _ = writeln!(
                    out,
                    "    task {}: {} (log: {})",
                    outcome.task,
                    outcome.failure.as_deref().unwrap_or(""),
                    outcome.log
                );
            }
        }
        if let Some(logs) = &self.logs {
            let _ = writeln!(out, "  logs: {logs}");
        }
        out
    }
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

fn histogram_table(h: &Histogram) -> String {
    let mut out = String::from("  histogram\n");
    if h.counts.len() > MAX_BINS_SHOWN {
        let _ = writeln!(
            out,
            "    {} bins (use --json to see them all); underflow {}, overflow {}",
            h.counts.len(),
            h.underflow,
            h.overflow
        );
        return out;
    }
    let edges = h.edges();
    let tallest = h.counts.iter().copied().max().unwrap_or(0).max(1);
    for (bin, count) in h.counts.iter().enumerate() {
        let bar = "#".repeat((count * BAR_WIDTH / tallest) as usize);
        let _ = writeln!(
            out,
            "    [{:>12}, {:>12})  {:>12}  {bar}",
            format_float(readable(edges[bin])),
            format_float(readable(edges[bin + 1])),
            count
        );
    }
    let _ = writeln!(
        out,
        "    underflow {}, overflow {}",
        h.underflow, h.overflow
    );
    out
}

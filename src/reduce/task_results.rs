//! Outcomes of command tasks and their reduction. Every outcome reaches the reduce (from threads,
//! MPI ranks or part files) and is reduced in task-id order with exact sums, so the result does
//! not depend on how the tasks were split. Integers stay integers: their sums are exact in
//! 128-bit arithmetic. A key holds a number, an array of numbers (reduced element by element)
//! or a histogram (counts summed when the edges are identical).

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value, json};

use super::Accumulator;
use super::double_double::two_prod;
use super::summary::Summary;
use crate::spec::{ResultKind, Statistic};

/// What one task ended as, after its retries.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TaskOutcome {
    pub task: u64,
    pub attempts: u32,
    /// `result: number`: the number; `result: json`: one entry per (dotted) key; `result: none`:
    /// empty.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub values: IndexMap<String, TaskValue>,
    /// Why the task failed; `None` if it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Its standard error (and hpcsub's notes on each attempt).
    pub log: String,
    /// Its standard output (of the last attempt).
    pub stdout: String,
    pub elapsed_s: f64,
    /// A failed task's last lines of stderr, so the report shows why without opening the log.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stderr_tail: Vec<String>,
    /// The files the task left in its `{outdir}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
    /// The slice (array element or MPI rank) that ran it, and that slice's node; none for a run
    /// of one process, whose report says where it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// The key under which `result: number` keeps its one value.
pub const NUMBER_KEY: &str = "value";

/// One value a task reported under one key.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum TaskValue {
    Number(Number),
    Array(Vec<Number>),
    Histogram(HistogramValue),
}

/// `{"edges": [...], "counts": [...]}`: `counts[i]` values fell in `[edges[i], edges[i+1])`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HistogramValue {
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

/// What every task must agree on for one key: its kind, and an array's length or a histogram's
/// edges.
#[derive(Clone, Debug, PartialEq)]
enum Shape {
    Number,
    Array(usize),
    Histogram(Vec<f64>),
}

impl Shape {
    fn of(value: &TaskValue) -> Shape {
        match value {
            TaskValue::Number(_) => Shape::Number,
            TaskValue::Array(values) => Shape::Array(values.len()),
            TaskValue::Histogram(h) => Shape::Histogram(h.edges.clone()),
        }
    }

    fn fits(&self, value: &TaskValue) -> bool {
        match (self, value) {
            (Shape::Number, TaskValue::Number(_)) => true,
            (Shape::Array(len), TaskValue::Array(values)) => *len == values.len(),
            (Shape::Histogram(edges), TaskValue::Histogram(h)) => *edges == h.edges,
            _ => false,
        }
    }

    fn describe(&self) -> String {
        match self {
            Shape::Number => "a number".into(),
            Shape::Array(len) => format!("an array of {len} numbers"),
            Shape::Histogram(edges) => {
                format!("a histogram of {} bins", edges.len().saturating_sub(1))
            }
        }
    }
}

/// Reads a task's standard output as `kind` says: the last non-empty line holds the result.
pub fn parse_output(kind: ResultKind, stdout: &str) -> Result<IndexMap<String, TaskValue>, String> {
    if kind == ResultKind::None {
        return Ok(IndexMap::new());
    }
    let Some(line) = stdout.lines().rev().map(str::trim).find(|l| !l.is_empty()) else {
        return Err(
            "it printed nothing on stdout, but `result` expects its last line to hold the result"
                .into(),
        );
    };
    let shown: String = line.chars().take(80).collect();
    match kind {
        ResultKind::Number => {
            let number = parse_number(line).ok_or_else(|| {
                format!("the last line of its stdout, `{shown}`, is not a finite number")
            })?;
            Ok(IndexMap::from([(
                NUMBER_KEY.to_string(),
                TaskValue::Number(number),
            )]))
        }
        ResultKind::Json => {
            let object: Map<String, Value> = serde_json::from_str(line).map_err(|e| {
                format!("the last line of its stdout, `{shown}`, is not a JSON object: {e}")
            })?;
            let mut values = IndexMap::new();
            flatten("", object, &mut values)?;
            Ok(values)
        }
        ResultKind::None => unreachable!("handled above"),
    }
}

/// The values of a JSON result under dotted keys: nested objects give `outer.inner`, an object
/// of exactly `edges` and `counts` is a histogram.
fn flatten(
    prefix: &str,
    object: Map<String, Value>,
    values: &mut IndexMap<String, TaskValue>,
) -> Result<(), String> {
    for (key, value) in object {
        let key = format!("{prefix}{key}");
        let value = match value {
            Value::Number(n) => TaskValue::Number(n),
            Value::Array(items) => TaskValue::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| match item {
                        Value::Number(n) => Ok(n),
                        other => Err(format!(
                            "element {i} of key `{key}` is {other}, not a number"
                        )),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(inner) if is_histogram(&inner) => {
                TaskValue::Histogram(histogram(&key, Value::Object(inner))?)
            }
            Value::Object(inner) => {
                flatten(&format!("{key}."), inner, values)?;
                continue;
            }
            other => {
                return Err(format!(
                    "key `{key}` of its JSON result is {other}, not a number"
                ));
            }
        };
        values.insert(key, value);
    }
    Ok(())
}

fn is_histogram(object: &Map<String, Value>) -> bool {
    object.len() == 2 && object.contains_key("edges") && object.contains_key("counts")
}

fn histogram(key: &str, value: Value) -> Result<HistogramValue, String> {
    let h: HistogramValue = serde_json::from_value(value).map_err(|e| {
        format!("key `{key}` is not a histogram (edges: numbers, counts: whole numbers): {e}")
    })?;
    if h.edges.len() != h.counts.len() + 1 {
        return Err(format!(
            "the histogram `{key}` has {} edges for {} counts; it needs one edge more than counts",
            h.edges.len(),
            h.counts.len()
        ));
    }
    if !h.edges.windows(2).all(|pair| pair[0] < pair[1]) || h.edges.iter().any(|e| !e.is_finite()) {
        return Err(format!(
            "the edges of the histogram `{key}` must be finite and increase"
        ));
    }
    Ok(h)
}

/// An integer if the text is one, else a finite double.
fn parse_number(text: &str) -> Option<Number> {
    if let Ok(i) = text.parse::<i64>() {
        return Some(i.into());
    }
    if let Ok(u) = text.parse::<u64>() {
        return Some(u.into());
    }
    text.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .and_then(Number::from_f64)
}

/// The statistics of one key over the tasks that reported it.
struct KeyStats {
    exact: Accumulator,
    /// The exact sum while every value is an integer.
    integer_sum: Option<i128>,
    integer_min: Option<i128>,
    integer_max: Option<i128>,
}

impl KeyStats {
    fn new() -> KeyStats {
        KeyStats {
            exact: Accumulator::new(0.0, None),
            integer_sum: Some(0),
            integer_min: None,
            integer_max: None,
        }
    }

    fn add(&mut self, value: &Number) {
        let x = value.as_f64().unwrap_or(f64::NAN);
        let acc = &mut self.exact;
        acc.count += 1;
        acc.shifted_sum.add(x);
        // x² as an exact sum of two doubles, so the sum of squares stays exact.
        let (square, error) = two_prod(x, x);
        acc.shifted_squares.add(square);
        acc.shifted_squares.add(error);
        acc.min = acc.min.min(x);
        acc.max = acc.max.max(x);
        let integer = value
            .as_i64()
            .map(i128::from)
            .or_else(|| value.as_u64().map(i128::from));
        match integer {
            Some(i) => {
                self.integer_sum = self.integer_sum.and_then(|s| s.checked_add(i));
                self.integer_min = Some(self.integer_min.map_or(i, |m| m.min(i)));
                self.integer_max = Some(self.integer_max.map_or(i, |m| m.max(i)));
            }
            None => self.integer_sum = None,
        }
    }

    fn json(&self, statistics: &[Statistic]) -> Map<String, Value> {
        let summary = Summary::from_accumulator(&self.exact);
        let all_integers = self.integer_sum.is_some();
        let integer = |i: Option<i128>| -> Option<Value> {
            let i = i?;
            i64::try_from(i)
                .map(Value::from)
                .or_else(|_| u64::try_from(i).map(Value::from))
                .ok()
        };
        let float = |x: Option<f64>| {
            x.filter(|v| v.is_finite())
                .map_or(Value::Null, |v| json!(v))
        };
        let mut out = Map::new();
        out.insert("count".into(), json!(summary.count));
        for statistic in statistics {
            let value = match statistic {
                Statistic::Count => continue,
                Statistic::Sum if all_integers => {
                    integer(self.integer_sum).unwrap_or_else(|| float(Some(summary.sum)))
                }
                Statistic::Min if all_integers => integer(self.integer_min).unwrap_or(Value::Null),
                Statistic::Max if all_integers => integer(self.integer_max).unwrap_or(Value::Null),
                Statistic::Sum => float(Some(summary.sum)),
                Statistic::Min => float(summary.min),
                Statistic::Max => float(summary.max),
                Statistic::Mean => float(summary.mean),
                Statistic::Var => float(summary.var),
                Statistic::Std => float(summary.std),
                Statistic::Sem => float(summary.sem),
            };
            out.insert(statistic.name().into(), value);
        }
        out
    }
}

/// The reduced result of a task job, and its failed tasks.
pub struct TaskSummary {
    /// As `run --json` shows it under `result`.
    pub result: Map<String, Value>,
    pub succeeded: u64,
    /// Failed outcomes, by task id.
    pub failed: Vec<TaskOutcome>,
}

/// The reduction of one key over the tasks that reported it.
enum KeyReduce {
    Number(Box<KeyStats>),
    /// One reduction per element.
    Array(Vec<KeyStats>),
    Histogram {
        edges: Vec<f64>,
        counts: Vec<u64>,
        tasks: u64,
    },
}

impl KeyReduce {
    fn new(value: &TaskValue) -> KeyReduce {
        match value {
            TaskValue::Number(_) => KeyReduce::Number(Box::new(KeyStats::new())),
            TaskValue::Array(values) => {
                KeyReduce::Array(values.iter().map(|_| KeyStats::new()).collect())
            }
            TaskValue::Histogram(h) => KeyReduce::Histogram {
                edges: h.edges.clone(),
                counts: vec![0; h.counts.len()],
                tasks: 0,
            },
        }
    }

    /// Adds a value of the same shape, whose counts do not overflow.
    fn add(&mut self, value: &TaskValue) {
        match (self, value) {
            (KeyReduce::Number(stats), TaskValue::Number(n)) => stats.add(n),
            (KeyReduce::Array(stats), TaskValue::Array(values)) => {
                for (stats, n) in stats.iter_mut().zip(values) {
                    stats.add(n);
                }
            }
            (KeyReduce::Histogram { counts, tasks, .. }, TaskValue::Histogram(h)) => {
                for (total, count) in counts.iter_mut().zip(&h.counts) {
                    *total += count;
                }
                *tasks += 1;
            }
            _ => unreachable!("shapes are checked before adding"),
        }
    }

    fn json(&self, statistics: &[Statistic]) -> Value {
        match self {
            KeyReduce::Number(stats) => Value::Object(stats.json(statistics)),
            KeyReduce::Array(stats) => {
                let per_element: Vec<Map<String, Value>> =
                    stats.iter().map(|s| s.json(statistics)).collect();
                let count = stats.first().map_or(0, |s| s.exact.count);
                let mut out = Map::new();
                out.insert("count".into(), json!(count));
                for statistic in statistics.iter().filter(|s| **s != Statistic::Count) {
                    let name = statistic.name();
                    out.insert(
                        name.into(),
                        per_element.iter().map(|m| m[name].clone()).collect(),
                    );
                }
                Value::Object(out)
            }
            KeyReduce::Histogram {
                edges,
                counts,
                tasks,
            } => json!({"count": tasks, "edges": edges, "counts": counts}),
        }
    }
}

/// A task job's reduction, fed its outcomes one at a time in task-id order, so that a run of a
/// million tasks holds none of them. A task whose value under some key has another shape than
/// the first task's that reported the key is failed here, with that reason, and none of its
/// values is reduced.
pub struct Summarizer {
    kind: ResultKind,
    statistics: Vec<Statistic>,
    /// Each key's shape, and the first task that reported it.
    shapes: IndexMap<String, (u64, Shape)>,
    keys: IndexMap<String, KeyReduce>,
    succeeded: u64,
}

impl Summarizer {
    pub fn new(kind: ResultKind, statistics: &[Statistic]) -> Summarizer {
        Summarizer {
            kind,
            statistics: statistics.to_vec(),
            shapes: IndexMap::new(),
            keys: IndexMap::new(),
            succeeded: 0,
        }
    }

    /// Reduces the next outcome (by task id); why the task failed, if it did or fails here.
    pub fn add(&mut self, outcome: &TaskOutcome) -> Option<String> {
        if let Some(failure) = &outcome.failure {
            return Some(failure.clone());
        }
        if let Some(reason) = self.shape_mismatch(outcome) {
            return Some(reason);
        }
        // Overflowing histogram counts fail the task too, before any of it is added.
        if let Some((key, _)) = outcome
            .values
            .iter()
            .find(|(key, value)| overflows(self.keys.get(key.as_str()), value))
        {
            return Some(format!("the counts of histogram `{key}` overflow the sum"));
        }
        self.succeeded += 1;
        for (key, value) in &outcome.values {
            if !self.shapes.contains_key(key) {
                self.shapes
                    .insert(key.clone(), (outcome.task, Shape::of(value)));
            }
            self.keys
                .entry(key.clone())
                .or_insert_with(|| KeyReduce::new(value))
                .add(value);
        }
        None
    }

    /// Why `outcome` cannot be reduced with the tasks before it: a key of another shape than the
    /// first task (by id) that reported it.
    fn shape_mismatch(&self, outcome: &TaskOutcome) -> Option<String> {
        let (key, value, task, shape) = outcome.values.iter().find_map(|(key, value)| {
            let (task, shape) = self.shapes.get(key)?;
            (!shape.fits(value)).then_some((key, value, task, shape))
        })?;
        Some(match (shape, value) {
            (Shape::Histogram(theirs), TaskValue::Histogram(ours)) => format!(
                "the histogram `{key}` has edges {}, but task {task}'s has {}; counts are summed \
                 only over identical edges",
                shown_edges(&ours.edges),
                shown_edges(theirs)
            ),
            (shape, ours) => format!(
                "key `{key}` is {}, but task {task}'s is {}",
                Shape::of(ours).describe(),
                shape.describe()
            ),
        })
    }

    /// The result as `run --json` shows it under `result`, and how many tasks succeeded.
    pub fn finish(&self) -> (Map<String, Value>, u64) {
        let statistics = &self.statistics;
        let result = match self.kind {
            ResultKind::None => Map::from_iter([("count".to_string(), json!(self.succeeded))]),
            ResultKind::Number => match self.keys.get(NUMBER_KEY) {
                Some(KeyReduce::Number(stats)) => stats.json(statistics),
                _ => KeyStats::new().json(statistics),
            },
            ResultKind::Json => self
                .keys
                .iter()
                .map(|(key, reduce)| (key.clone(), reduce.json(statistics)))
                .collect(),
        };
        (result, self.succeeded)
    }
}

/// Reduces outcomes (in any order) in task-id order, as [`Summarizer`] does.
pub fn summarize(
    outcomes: &[TaskOutcome],
    kind: ResultKind,
    statistics: &[Statistic],
) -> TaskSummary {
    let mut sorted: Vec<&TaskOutcome> = outcomes.iter().collect();
    sorted.sort_by_key(|o| o.task);
    let mut summarizer = Summarizer::new(kind, statistics);
    let mut failed = Vec::new();
    for outcome in sorted {
        if let Some(reason) = summarizer.add(outcome) {
            let mut outcome = outcome.clone();
            outcome.failure = Some(reason);
            failed.push(outcome);
        }
    }
    let (result, succeeded) = summarizer.finish();
    TaskSummary {
        result,
        succeeded,
        failed,
    }
}

/// Edges for a message: all of a short list, else its ends.
fn shown_edges(edges: &[f64]) -> String {
    let text = |e: &[f64]| e.iter().map(f64::to_string).collect::<Vec<_>>().join(", ");
    match edges.len() {
        0..=6 => format!("[{}]", text(edges)),
        n => format!(
            "[{}, ..., {}] ({n} edges)",
            text(&edges[..3]),
            text(&edges[n - 2..])
        ),
    }
}

/// Whether adding `value` to `reduce` would overflow a histogram's counts.
fn overflows(reduce: Option<&KeyReduce>, value: &TaskValue) -> bool {
    match (reduce, value) {
        (Some(KeyReduce::Histogram { counts, .. }), TaskValue::Histogram(h)) => counts
            .iter()
            .zip(&h.counts)
            .any(|(total, count)| total.checked_add(*count).is_none()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn outcome(task: u64, values: &[(&str, Number)]) -> TaskOutcome {
        TaskOutcome {
            task,
            attempts: 1,
            values: values
                .iter()
                .map(|(k, v)| (k.to_string(), TaskValue::Number(v.clone())))
                .collect(),
            failure: None,
            log: String::new(),
            stdout: String::new(),
            elapsed_s: 0.0,
            stderr_tail: Vec::new(),
            outputs: Vec::new(),
            slice: None,
            node: None,
        }
    }

    fn number(text: &str) -> Number {
        parse_number(text).unwrap()
    }

    #[test]
    fn number_output_reads_the_last_non_empty_line() {
        let values = parse_output(ResultKind::Number, "starting\n42\n\n  \n").unwrap();
        assert_eq!(values[NUMBER_KEY], TaskValue::Number(Number::from(42)));
        let values = parse_output(ResultKind::Number, "2.5e-3\n").unwrap();
        assert_eq!(values[NUMBER_KEY], TaskValue::Number(number("2.5e-3")));
        assert!(
            parse_output(ResultKind::Number, "")
                .unwrap_err()
                .contains("nothing")
        );
        assert!(
            parse_output(ResultKind::Number, "1\nabc\n")
                .unwrap_err()
                .contains("`abc`")
        );
        assert!(parse_output(ResultKind::Number, "nan\n").is_err());
        assert!(parse_output(ResultKind::Number, "inf\n").is_err());
    }

    #[test]
    fn json_output_must_be_an_object_of_numbers() {
        let values = parse_output(ResultKind::Json, "log\n{\"p\": 30, \"q\": 0.5}\n").unwrap();
        assert_eq!(values.keys().collect::<Vec<_>>(), ["p", "q"]);
        assert!(
            parse_output(ResultKind::Json, "{\"p\": \"x\"}")
                .unwrap_err()
                .contains("key `p`")
        );
        assert!(parse_output(ResultKind::Json, "[1, 2]").is_err());
        assert!(parse_output(ResultKind::None, "").unwrap().is_empty());
    }

    #[test]
    fn integer_sums_stay_integers_and_json_keys_reduce_separately() {
        let outcomes: Vec<TaskOutcome> = (0..6)
            .map(|i| outcome(i, &[("p", Number::from(i * 12)), ("one", Number::from(1))]))
            .collect();
        let summary = summarize(
            &outcomes,
            ResultKind::Json,
            &[Statistic::Sum, Statistic::Max],
        );
        assert_eq!(
            Value::Object(summary.result),
            json!({"p": {"count": 6, "sum": 180, "max": 60}, "one": {"count": 6, "sum": 6, "max": 1}})
        );
    }

    #[test]
    fn failed_tasks_are_left_out_and_listed() {
        let mut outcomes: Vec<TaskOutcome> = (0..4)
            .map(|i| outcome(i, &[(NUMBER_KEY, Number::from(i))]))
            .collect();
        outcomes[2].failure = Some("exit status 1".into());
        let summary = summarize(&outcomes, ResultKind::Number, &[Statistic::Sum]);
        assert_eq!(Value::Object(summary.result), json!({"count": 3, "sum": 4}));
        assert_eq!(summary.failed.len(), 1);
        assert_eq!(summary.failed[0].task, 2);
    }

    #[test]
    fn float_statistics_are_exact_sums() {
        let values = ["0.1", "0.2", "0.3", "1e16", "-1e16"];
        let outcomes: Vec<TaskOutcome> = values
            .iter()
            .enumerate()
            .map(|(i, v)| outcome(i as u64, &[(NUMBER_KEY, number(v))]))
            .collect();
        let summary = summarize(
            &outcomes,
            ResultKind::Number,
            &[Statistic::Sum, Statistic::Mean, Statistic::Min],
        );
        // 0.1 + 0.2 + 0.3 summed exactly, then rounded once.
        assert_eq!(summary.result["sum"], json!(0.6));
        assert_eq!(summary.result["min"], json!(-1e16));
    }

    fn json_outcome(task: u64, line: &str) -> TaskOutcome {
        TaskOutcome {
            values: parse_output(ResultKind::Json, line).unwrap(),
            ..outcome(task, &[])
        }
    }

    #[test]
    fn nested_objects_give_dotted_keys_and_arrays_and_histograms_are_values() {
        let values = parse_output(
            ResultKind::Json,
            r#"{"a": {"b": 1, "c": [1, 2.5]}, "h": {"edges": [0, 1, 2], "counts": [3, 4]}}"#,
        )
        .unwrap();
        assert_eq!(values.keys().collect::<Vec<_>>(), ["a.b", "a.c", "h"]);
        assert!(matches!(values["a.c"], TaskValue::Array(ref v) if v.len() == 2));
        assert!(matches!(values["h"], TaskValue::Histogram(_)));
        for (bad, why) in [
            (
                r#"{"h": {"edges": [0, 1], "counts": [1, 2]}}"#,
                "one edge more",
            ),
            (r#"{"h": {"edges": [1, 0], "counts": [1]}}"#, "increase"),
            (
                r#"{"h": {"edges": [0, 1], "counts": [-1]}}"#,
                "not a histogram",
            ),
            (r#"{"a": [1, "x"]}"#, "element 1 of key `a`"),
            (r#"{"a": {"b": true}}"#, "key `a.b`"),
        ] {
            let err = parse_output(ResultKind::Json, bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn arrays_reduce_element_by_element_and_histograms_sum_their_counts() {
        let outcomes = [
            json_outcome(
                0,
                r#"{"v": [1, 0.5], "h": {"edges": [0, 1, 2], "counts": [1, 2]}}"#,
            ),
            json_outcome(
                1,
                r#"{"v": [3, 0.25], "h": {"edges": [0, 1, 2], "counts": [10, 20]}}"#,
            ),
        ];
        let summary = summarize(
            &outcomes,
            ResultKind::Json,
            &[Statistic::Sum, Statistic::Max],
        );
        assert_eq!(
            Value::Object(summary.result),
            json!({
                "v": {"count": 2, "sum": [4, 0.75], "max": [3, 0.5]},
                "h": {"count": 2, "edges": [0.0, 1.0, 2.0], "counts": [11, 22]},
            })
        );
    }

    #[test]
    fn a_task_of_another_shape_fails_with_the_reason_and_the_others_reduce() {
        let outcomes = [
            json_outcome(0, r#"{"v": [1, 2], "h": {"edges": [0, 1], "counts": [1]}}"#),
            json_outcome(
                1,
                r#"{"v": [1, 2, 3], "h": {"edges": [0, 1], "counts": [1]}}"#,
            ),
            json_outcome(2, r#"{"v": [5, 5], "h": {"edges": [0, 2], "counts": [1]}}"#),
            json_outcome(
                3,
                r#"{"v": [10, 20], "h": {"edges": [0, 1], "counts": [5]}}"#,
            ),
        ];
        let summary = summarize(&outcomes, ResultKind::Json, &[Statistic::Sum]);
        let failed: Vec<(u64, &str)> = summary
            .failed
            .iter()
            .map(|o| (o.task, o.failure.as_deref().unwrap()))
            .collect();
        assert_eq!(
            failed,
            [
                (
                    1,
                    "key `v` is an array of 3 numbers, but task 0's is an array of 2 numbers"
                ),
                (
                    2,
                    "the histogram `h` has edges [0, 2], but task 0's has [0, 1]; counts are summed only over identical edges"
                ),
            ]
        );
        assert_eq!(summary.succeeded, 2);
        assert_eq!(summary.result["v"]["sum"], json!([11, 22]));
        assert_eq!(summary.result["h"]["counts"], json!([6]));
    }

    proptest! {
        #[test]
        fn the_result_does_not_depend_on_the_order_of_outcomes(
            values in proptest::collection::vec(-1e6f64..1e6, 1..40),
            rotation in 0usize..40,
        ) {
            let outcomes: Vec<TaskOutcome> = values
                .iter()
                .enumerate()
                .map(|(i, v)| outcome(i as u64, &[(NUMBER_KEY, Number::from_f64(*v).unwrap())]))
                .collect();
            let mut shuffled = outcomes.clone();
            shuffled.rotate_left(rotation % outcomes.len());
            shuffled.reverse();
            let all = Statistic::ALL;
            prop_assert_eq!(
                summarize(&outcomes, ResultKind::Number, &all).result,
                summarize(&shuffled, ResultKind::Number, &all).result
            );
        }
    }
}

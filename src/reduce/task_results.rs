//! Outcomes of command tasks and their reduction. Every outcome reaches the reduce (from threads,
//! MPI ranks or part files) and is reduced in task-id order with exact sums, so the result does
//! not depend on how the tasks were split. Integers stay integers: their sums are exact in
//! 128-bit arithmetic.

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
    /// `result: number`: the number; `result: json`: one entry per key; `result: none`: empty.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub values: IndexMap<String, Number>,
    /// Why the task failed; `None` if it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Its standard error (and hpcsub's notes on each attempt).
    pub log: String,
    /// Its standard output (of the last attempt).
    pub stdout: String,
    pub elapsed_s: f64,
}

/// The key under which `result: number` keeps its one value.
pub const NUMBER_KEY: &str = "value";

/// Reads a task's standard output as `kind` says: the last non-empty line holds the result.
pub fn parse_output(kind: ResultKind, stdout: &str) -> Result<IndexMap<String, Number>, String> {
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
            Ok(IndexMap::from([(NUMBER_KEY.to_string(), number)]))
        }
        ResultKind::Json => {
            let object: Map<String, Value> = serde_json::from_str(line).map_err(|e| {
                format!("the last line of its stdout, `{shown}`, is not a JSON object: {e}")
            })?;
            object
                .into_iter()
                .map(|(key, value)| match value {
                    Value::Number(n) => Ok((key, n)),
                    other => Err(format!(
                        "key `{key}` of its JSON result is {other}, not a number"
                    )),
                })
                .collect()
        }
        ResultKind::None => unreachable!("handled above"),
    }
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

/// Reduces outcomes (in any order) in task-id order.
pub fn summarize(
    outcomes: &[TaskOutcome],
    kind: ResultKind,
    statistics: &[Statistic],
) -> TaskSummary {
    let mut sorted: Vec<&TaskOutcome> = outcomes.iter().collect();
    sorted.sort_by_key(|o| o.task);
    let mut keys: IndexMap<&str, KeyStats> = IndexMap::new();
    let mut failed = Vec::new();
    let mut succeeded = 0;
    for outcome in sorted {
        if outcome.failure.is_some() {
            failed.push(outcome.clone());
            continue;
        }
        succeeded += 1;
        for (key, value) in &outcome.values {
            keys.entry(key.as_str())
                .or_insert_with(KeyStats::new)
                .add(value);
        }
    }
    let result = match kind {
        ResultKind::None => Map::from_iter([("count".to_string(), json!(succeeded))]),
        ResultKind::Number => match keys.get(NUMBER_KEY) {
            Some(stats) => stats.json(statistics),
            None => KeyStats::new().json(statistics),
        },
        ResultKind::Json => keys
            .iter()
            .map(|(key, stats)| (key.to_string(), Value::Object(stats.json(statistics))))
            .collect(),
    };
    TaskSummary {
        result,
        succeeded,
        failed,
    }
}

/// The `failed` list of a report: task, reason, log.
pub fn failed_json(failed: &[TaskOutcome]) -> Value {
    failed
        .iter()
        .map(|o| {
            json!({
                "task": o.task,
                "reason": o.failure.clone().unwrap_or_default(),
                "attempts": o.attempts,
                "log": o.log,
                "stdout": o.stdout,
            })
        })
        .collect()
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
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            failure: None,
            log: String::new(),
            stdout: String::new(),
            elapsed_s: 0.0,
        }
    }

    fn number(text: &str) -> Number {
        parse_number(text).unwrap()
    }

    #[test]
    fn number_output_reads_the_last_non_empty_line() {
        let values = parse_output(ResultKind::Number, "starting\n42\n\n  \n").unwrap();
        assert_eq!(values[NUMBER_KEY], Number::from(42));
        let values = parse_output(ResultKind::Number, "2.5e-3\n").unwrap();
        assert_eq!(values[NUMBER_KEY].as_f64(), Some(2.5e-3));
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

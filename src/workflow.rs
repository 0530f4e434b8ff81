//! A workflow's steps bound to what the steps they need left: expressions get the reduced
//! values `steps.NAME.STATISTIC`, task steps the paths `{steps.NAME.result|outputs|tasks}`, and a
//! step `from` another each source task's `{input}` (its `{outdir}`) and `{result.KEY}`. And the
//! hash of a step that tells a resumed run whether its result can be kept.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::executor::command::outdir;
use crate::expr::Expr;
use crate::jobfile::inputs::Resolved;
use crate::report::TaskRecord;
use crate::run_dir::hash;
use crate::run_dir::workflow::WorkflowDir;
use crate::spec::{JobSpec, StepSpec, VarDefinition, Work};

/// The tasks of a source step are read whole; a line holds one task's record.
const MAX_TASKS_FILE_BYTES: u64 = 4 << 30;

/// What a step is computed from: its definition, its resolved inputs, and the results of the
/// steps it needs. Equal hashes mean an equal result.
pub fn step_hash(step: &StepSpec, resolved: Option<&Resolved>, dir: &WorkflowDir) -> String {
    let mut text = format!(
        "{:?}\n{}\n",
        step.job,
        serde_json::to_string(&resolved).expect("JSON")
    );
    for need in &step.needs {
        text.push_str(&format!(
            "{need}={}\n",
            dir.result_hash(need).unwrap_or_default()
        ));
    }
    hash(&text)
}

/// What the steps a step needs left, as the step takes it in: the reduced values of compute
/// steps, the paths of their files, and a step `from` another's per-task values. Read by one
/// process (rank 0 of an MPI job) and sent to the others.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bound {
    pub values: BTreeMap<String, f64>,
    pub fixed: BTreeMap<String, String>,
    pub per_task: Vec<BTreeMap<String, String>>,
}

/// What the steps `step` needs left in `dir`, for its (resolved) `job`.
pub fn bindings(step: &StepSpec, job: &JobSpec, dir: &WorkflowDir) -> Result<Bound, String> {
    let mut bound = Bound::default();
    match &job.work {
        Work::Compute(_) => bound.values = needed_values(step, dir)?,
        Work::Tasks(tasks) => {
            for need in &step.needs {
                for (path, value) in [
                    ("result", dir.result(need)),
                    ("outputs", dir.outputs(need)),
                    ("tasks", dir.tasks(need)),
                ] {
                    bound
                        .fixed
                        .insert(format!("steps.{need}.{path}"), value.display().to_string());
                }
            }
            if let Some(from) = &tasks.from {
                bound.per_task = source_tasks(from, dir)?;
                if bound.per_task.len() as u64 != tasks.count {
                    return Err(format!(
                        "step `{from}` left {} task records in {}, but {} tasks map over them",
                        bound.per_task.len(),
                        dir.tasks(from).display(),
                        tasks.count
                    ));
                }
            }
        }
    }
    Ok(bound)
}

/// `job` with `bound` in it.
pub fn apply(job: &JobSpec, bound: &Bound) -> JobSpec {
    let mut job = job.clone();
    match &mut job.work {
        Work::Compute(compute) => {
            let values: HashMap<String, f64> =
                bound.values.iter().map(|(k, v)| (k.clone(), *v)).collect();
            for var in &mut compute.vars {
                if let VarDefinition::Derived(expr) = &mut var.definition {
                    substitute(expr, &values);
                }
            }
            substitute(&mut compute.expr, &values);
        }
        Work::Tasks(tasks) => {
            tasks.bound.fixed = bound.fixed.clone();
            tasks.bound.per_task = bound.per_task.clone();
        }
    }
    job
}

/// `job`, the (resolved) job of `step`, with what the steps it needs left bound into it.
pub fn bind(step: &StepSpec, job: &JobSpec, dir: &WorkflowDir) -> Result<JobSpec, String> {
    Ok(apply(job, &bindings(step, job, dir)?))
}

/// `steps.NAME.STATISTIC` of every compute step `step` needs, from its `result.json`.
fn needed_values(step: &StepSpec, dir: &WorkflowDir) -> Result<BTreeMap<String, f64>, String> {
    let mut values = BTreeMap::new();
    for need in &step.needs {
        let path = dir.result(need);
        let Ok(text) = crate::bounded_read::text(&path, 1 << 30) else {
            continue;
        };
        let report: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a result: {e}", path.display()))?;
        for (statistic, value) in report["result"].as_object().into_iter().flatten() {
            if let Some(x) = value.as_f64() {
                values.insert(format!("steps.{need}.{statistic}"), x);
            }
        }
    }
    Ok(values)
}

/// Replaces the names in `values` by their numbers; a name without a value is left (see
/// [`unbound_values`]).
fn substitute(expr: &mut Expr, values: &HashMap<String, f64>) {
    match expr {
        Expr::Name(name, _) => {
            if let Some(value) = values.get(name) {
                *expr = Expr::Number(*value);
            }
        }
        Expr::Number(_) => {}
        Expr::Unary(_, x) => substitute(x, values),
        Expr::Binary(_, a, b) => {
            substitute(a, values);
            substitute(b, values);
        }
        Expr::Call { args, .. } => args.iter_mut().for_each(|a| substitute(a, values)),
    }
}

/// `job` with every value of a needed step as 0, for what needs a compiled program before the
/// steps it needs have run: a plan's registers and memory, a graph.
pub fn provisional(job: &JobSpec) -> JobSpec {
    let zeros: HashMap<String, f64> = unbound_values(job).into_iter().map(|n| (n, 0.0)).collect();
    let mut job = job.clone();
    if let Work::Compute(compute) = &mut job.work {
        for var in &mut compute.vars {
            if let VarDefinition::Derived(expr) = &mut var.definition {
                substitute(expr, &zeros);
            }
        }
        substitute(&mut compute.expr, &zeros);
    }
    job
}

/// The names `steps.*` left in a bound compute step: values its needed steps did not define.
pub fn unbound_values(job: &JobSpec) -> Vec<String> {
    fn collect(expr: &Expr, out: &mut Vec<String>) {
        match expr {
            Expr::Name(name, _) if name.starts_with("steps.") => out.push(name.clone()),
            Expr::Name(..) | Expr::Number(_) => {}
            Expr::Unary(_, x) => collect(x, out),
            Expr::Binary(_, a, b) => {
                collect(a, out);
                collect(b, out);
            }
            Expr::Call { args, .. } => args.iter().for_each(|a| collect(a, out)),
        }
    }
    let mut names = Vec::new();
    if let Some(compute) = job.compute() {
        for var in &compute.vars {
            if let VarDefinition::Derived(expr) = &var.definition {
                collect(expr, &mut names);
            }
        }
        collect(&compute.expr, &mut names);
    }
    names.sort();
    names.dedup();
    names
}

/// For each task of step `from`, in order: its `{input}` (its `{outdir}`) and `{result.KEY}`.
fn source_tasks(from: &str, dir: &WorkflowDir) -> Result<Vec<BTreeMap<String, String>>, String> {
    let path = dir.tasks(from);
    let text = crate::bounded_read::text(&path, MAX_TASKS_FILE_BYTES).map_err(|e| {
        format!(
            "cannot read the tasks of step `{from}` ({}): {e}",
            path.display()
        )
    })?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let record: TaskRecord = serde_json::from_str(line).map_err(|e| {
                format!(
                    "{} holds a line that is no task record: {e}",
                    path.display()
                )
            })?;
            let mut values = BTreeMap::new();
            values.insert(
                "input".to_string(),
                outdir(&dir.outputs(from), record.task)
                    .display()
                    .to_string(),
            );
            for (key, value) in &record.result {
                let text = match serde_json::to_value(value).expect("JSON") {
                    serde_json::Value::Number(n) => n.to_string(),
                    other => other.to_string(),
                };
                values.insert(format!("result.{key}"), text);
            }
            Ok(values)
        })
        .collect()
}

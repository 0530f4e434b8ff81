//! A workflow's steps bound to what the steps they need left: expressions get the reduced
//! values `steps.NAME.STATISTIC`, task steps the paths `{steps.NAME.result|outputs|tasks}`, and a
//! step `from` another each source task's `{input}` (its `{outdir}`) and `{result.KEY}`. And the
//! hash of a step that tells a resumed run whether its result can be kept.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::executor::command::outdir;
use crate::expr::Distribution;
use crate::expr::Expr;
use crate::jobfile::inputs::Resolved;
use crate::report::TaskRecord;
use crate::run_dir::hash;
use crate::run_dir::workflow::WorkflowDir;
use crate::spec::{ComputeSpec, JobSpec, OfSteps, StepSpec, VarDefinition, Work};

/// The most samples a count computed from a step's values may ask for: far more than any run
/// finishes, and exact as an `f64`.
const MAX_SAMPLES: f64 = 1e18;

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

/// `job` with `bound` in it; an error if a value it uses is missing or makes its `samples` or
/// a draw invalid.
pub fn apply(job: &JobSpec, bound: &Bound) -> Result<JobSpec, String> {
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
            let mut unbound = Vec::new();
            if let Some(samples) = &mut compute.of_steps.samples {
                substitute(samples, &values);
                collect_step_names(samples, &mut unbound);
            }
            for draw in &mut compute.of_steps.draws {
                draw.args.iter_mut().for_each(|a| substitute(a, &values));
                draw.args
                    .iter()
                    .for_each(|a| collect_step_names(a, &mut unbound));
            }
            if unbound.is_empty() {
                evaluate_of_steps(compute)?;
            }
        }
        Work::Tasks(tasks) => {
            tasks.bound.fixed = bound.fixed.clone();
            tasks.bound.per_task = bound.per_task.clone();
        }
    }
    let unbound = unbound_values(&job);
    if unbound.is_empty() {
        Ok(job)
    } else {
        Err(missing_values(&unbound, &bound.values))
    }
}

/// Sets `samples` and the draws that were written with values of needed steps, now numbers.
fn evaluate_of_steps(compute: &mut ComputeSpec) -> Result<(), String> {
    if let Some(samples) = compute.of_steps.samples.take() {
        let value = crate::jobfile::constant_value(&samples).unwrap_or(f64::NAN);
        // A count computed from a statistic is rarely whole: the nearest whole count is meant.
        let rounded = value.round();
        if !(1.0..=MAX_SAMPLES).contains(&rounded) {
            return Err(format!(
                "`samples` is {value} with the values of the steps it needs; it must be from 1 to {MAX_SAMPLES:e}"
            ));
        }
        compute.samples = rounded as u64;
    }
    for draw in std::mem::take(&mut compute.of_steps.draws) {
        let values: Vec<f64> = draw
            .args
            .iter()
            .map(|a| crate::jobfile::constant_value(a).unwrap_or(f64::NAN))
            .collect();
        let distribution = Distribution::new(&draw.distribution, &values).map_err(|m| {
            format!(
                "var `{}`, with the values of the steps it needs: {m}",
                draw.var
            )
        })?;
        let var = compute
            .vars
            .iter_mut()
            .find(|v| v.name == draw.var)
            .expect("a draw of steps names one of its vars");
        var.definition = VarDefinition::Random(distribution);
    }
    Ok(())
}

/// Why `unbound` have no value: for each step named, the values it did leave.
fn missing_values(unbound: &[String], values: &BTreeMap<String, f64>) -> String {
    let mut text = format!(
        "the steps it needs left no value for {}",
        unbound.join(", ")
    );
    let mut steps: Vec<&str> = unbound
        .iter()
        .filter_map(|name| name.strip_prefix("steps.")?.split('.').next())
        .collect();
    steps.dedup();
    for step in steps {
        let prefix = format!("steps.{step}.");
        let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
        for name in values.keys().filter(|k| k.starts_with(&prefix)) {
            let (group, statistic) = name.rsplit_once('.').expect("steps.NAME.STAT");
            match groups.last_mut() {
                Some((last, statistics)) if *last == group => statistics.push(statistic),
                _ => groups.push((group.to_string(), vec![statistic])),
            }
        }
        if groups.is_empty() {
            text.push_str(&format!("; step `{step}` left no numbers to use"));
            continue;
        }
        let listed: Vec<String> = groups
            .iter()
            .map(|(group, statistics)| format!("{group}.{{{}}}", statistics.join(", ")))
            .collect();
        text.push_str(&format!("; step `{step}` left {}", listed.join(", ")));
    }
    text
}

/// `job`, the (resolved) job of `step`, with what the steps it needs left bound into it.
pub fn bind(step: &StepSpec, job: &JobSpec, dir: &WorkflowDir) -> Result<JobSpec, String> {
    apply(job, &bindings(step, job, dir)?)
}

/// The reduced values of every step `step` needs, from its `result.json`: `steps.NAME.STAT` of
/// a compute step or a task step with one number per task, `steps.NAME.KEY.STAT` of each key of
/// a task step's JSON. Arrays and histograms are not numbers an expression can use.
fn needed_values(step: &StepSpec, dir: &WorkflowDir) -> Result<BTreeMap<String, f64>, String> {
    let mut values = BTreeMap::new();
    for need in &step.needs {
        let path = dir.result(need);
        let Ok(text) = crate::bounded_read::text(&path, 1 << 30) else {
            continue;
        };
        let report: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a result: {e}", path.display()))?;
        for (name, value) in report["result"].as_object().into_iter().flatten() {
            match value {
                serde_json::Value::Object(statistics) => {
                    for (statistic, x) in statistics {
                        if let Some(x) = x.as_f64() {
                            values.insert(format!("steps.{need}.{name}.{statistic}"), x);
                        }
                    }
                }
                x => {
                    if let Some(x) = x.as_f64() {
                        values.insert(format!("steps.{need}.{name}"), x);
                    }
                }
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

/// `job` with every value of a needed step as 0 and its `samples` and draws of needed steps
/// left as their stand-ins, for what needs a compiled program before the steps it needs have
/// run: a plan's registers and memory, a graph.
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
        compute.of_steps = OfSteps::default();
    }
    job
}

fn collect_step_names(expr: &Expr, out: &mut Vec<String>) {
    match expr {
        Expr::Name(name, _) if name.starts_with("steps.") => out.push(name.clone()),
        Expr::Name(..) | Expr::Number(_) => {}
        Expr::Unary(_, x) => collect_step_names(x, out),
        Expr::Binary(_, a, b) => {
            collect_step_names(a, out);
            collect_step_names(b, out);
        }
        Expr::Call { args, .. } => args.iter().for_each(|a| collect_step_names(a, out)),
    }
}

/// The names `steps.*` left in a bound compute step: values its needed steps did not define.
pub fn unbound_values(job: &JobSpec) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(compute) = job.compute() {
        for var in &compute.vars {
            if let VarDefinition::Derived(expr) = &var.definition {
                collect_step_names(expr, &mut names);
            }
        }
        collect_step_names(&compute.expr, &mut names);
        let of_steps = &compute.of_steps;
        of_steps
            .samples
            .iter()
            .chain(of_steps.draws.iter().flat_map(|d| &d.args))
            .for_each(|e| collect_step_names(e, &mut names));
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

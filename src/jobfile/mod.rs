//! Job file -> validated [`JobSpec`]. Reading and YAML live in [`yaml`]; this module checks every
//! value and reports the first problem as `file:line:column` with a hint.

mod condor;
pub mod inputs;
pub mod quantity;
mod slurm;
mod tasks;
mod workflow;
mod yaml;

pub use tasks::StepScope;

use std::path::Path;

use marked_yaml::Spanned;

use crate::diagnostic::{Diagnostic, FileDiagnostic, Location, did_you_mean};
use crate::expr::{self, Distribution, Expr, Function, semantics};
use crate::spec::{
    Balance, ComputeSpec, CondorSpec, Document, DrawOfSteps, EnvironmentSpec, HistogramSpec,
    JobSpec, Located, MAX_HISTOGRAM_BINS, MAX_SLICES, MAX_THREADS, OfSteps, ReduceSpec, Resources,
    ResultKind, SlurmSpec, SplitSpec, Statistic, VarDefinition, VarSpec, Work,
};
use yaml::{RawCompute, RawReduction, locate};

/// Job files are small; anything bigger is almost certainly the wrong file.
const MAX_JOB_FILE_BYTES: u64 = 1 << 20;

/// Reads and validates a job file.
pub fn load(path: &Path) -> Result<(JobSpec, String), FileDiagnostic> {
    let (document, source) = load_document(path)?;
    match document {
        Document::Job(job) => Ok((*job, source)),
        Document::Workflow(_) => Err(FileDiagnostic::new(
            path,
            Some(&source),
            Diagnostic::new(
                yaml::first_key_location(&source, "steps").unwrap_or(Location::START),
                "this job file is a workflow (`steps:`), where one job was expected",
            ),
        )),
    }
}

/// Reads and validates a job file of one job or a workflow.
pub fn load_document(path: &Path) -> Result<(Document, String), FileDiagnostic> {
    let fail = |source: Option<&str>, diag: Diagnostic| FileDiagnostic::new(path, source, diag);
    let bytes = crate::bounded_read::bytes(path, MAX_JOB_FILE_BYTES).map_err(|e| {
        let message = match e {
            crate::bounded_read::ReadError::TooLarge { limit } => {
                format!("the job file is larger than {limit} bytes, the most a job file may be")
            }
            other => format!("cannot read the job file: {other}"),
        };
        fail(None, Diagnostic::new(Location::START, message))
    })?;
    let source = decode(&bytes).map_err(|diag| fail(None, diag))?;
    let document = parse_document(&source).map_err(|diag| fail(Some(&source), diag))?;
    Ok((document, source))
}

/// A job file as [`load`] reads it, with a task job's working directory and inputs resolved
/// against the file system (the job file's directory first): how `run`, `check` and `submit`
/// see a job. A run directory instead applies the resolution frozen at submission.
pub fn load_resolved(
    path: &Path,
) -> Result<(JobSpec, String, Option<inputs::Resolved>), FileDiagnostic> {
    let (mut spec, source) = load(path)?;
    let resolved = resolve(&mut spec, path, &source)?;
    Ok((spec, source, resolved))
}

/// [`load_document`], resolved as [`load_resolved`] resolves a job: each step of a workflow
/// against the job file's directory, a step `from` another with that step's tasks.
pub fn load_resolved_document(
    path: &Path,
) -> Result<(Document, String, Vec<Option<inputs::Resolved>>), FileDiagnostic> {
    let (mut document, source) = load_document(path)?;
    let resolved = match &mut document {
        Document::Job(job) => vec![resolve(job, path, &source)?],
        Document::Workflow(workflow) => {
            let mut all: Vec<Option<inputs::Resolved>> = Vec::new();
            for index in 0..workflow.steps.len() {
                let (done, rest) = workflow.steps.split_at_mut(index);
                let step = &mut rest[0];
                let from = step.job.tasks().and_then(|t| t.from.clone());
                if let (Some(from), Some(tasks)) = (from, step.job.tasks_mut()) {
                    let source_step = done.iter().find(|s| s.name == from).expect("validated");
                    inputs::inherit(tasks, source_step.job.tasks().expect("a task step"));
                }
                all.push(resolve(&mut step.job, path, &source)?);
            }
            all
        }
    };
    Ok((document, source, resolved))
}

/// Resolves a task job's working directory, setup script and inputs against the directory of
/// the job file at `path`.
fn resolve(
    spec: &mut JobSpec,
    path: &Path,
    source: &str,
) -> Result<Option<inputs::Resolved>, FileDiagnostic> {
    let environment = spec.environment.clone();
    let Some(tasks) = spec.tasks_mut() else {
        return Ok(None);
    };
    let job_dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let fail = |diag| FileDiagnostic::new(path, Some(source), diag);
    let workdir = inputs::workdir(tasks, job_dir).map_err(fail)?;
    if let Some(script) = environment.as_ref().and_then(|e| e.script.as_ref())
        && !workdir.join(&script.value).is_file()
    {
        return Err(fail(
            Diagnostic::new(
                script.location,
                format!(
                    "the setup script {} is not a file",
                    workdir.join(&script.value).display()
                ),
            )
            .with_help("it is relative to the tasks' working directory"),
        ));
    }
    Ok(Some(inputs::resolve(tasks, &workdir).map_err(fail)?))
}

/// Text of a job file, refusing binary data with the position of the first offending byte.
fn decode(bytes: &[u8]) -> Result<String, Diagnostic> {
    let location_at = |offset: usize| {
        let before = String::from_utf8_lossy(&bytes[..offset]);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Location { line, column }
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Diagnostic::new(
            location_at(e.valid_up_to()),
            "the job file is not UTF-8 text (is it a binary file?)",
        )
    })?;
    // A byte-order mark (some Windows editors write one) is no part of the text.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(offset) = text.find('\0') {
        return Err(Diagnostic::new(
            location_at(offset),
            "the job file contains a NUL byte (is it a binary file?)",
        ));
    }
    if text.trim().is_empty() {
        return Err(Diagnostic::new(Location::START, "the job file is empty")
            .with_help("start from jobs/quadratic.yaml, or see docs/job-file.md"));
    }
    Ok(text.to_string())
}

/// Validates the text of a job file of one job; a workflow is refused (see [`parse_document`]).
pub fn parse(source: &str) -> Result<JobSpec, Diagnostic> {
    match parse_document(source)? {
        Document::Job(job) => Ok(*job),
        Document::Workflow(_) => Err(Diagnostic::new(
            yaml::first_key_location(source, "steps").unwrap_or(Location::START),
            "this job file is a workflow (`steps:`), where one job was expected",
        )),
    }
}

/// Validates job-file text: one job, or a workflow of steps.
pub fn parse_document(source: &str) -> Result<Document, Diagnostic> {
    let raw = yaml::read(source)?;
    let name = validate_name(&raw.name)?;
    let seed = match &raw.seed {
        Some(seed) => parse_seed(seed)?,
        None => 0,
    };
    let outer = Outer {
        seed,
        slurm: slurm::validate(&raw.slurm)?,
        condor: condor::validate(&raw.condor)?,
    };
    let Some(steps) = &raw.steps else {
        let body = Body {
            compute: &raw.compute,
            tasks: &raw.tasks,
            reduce: &raw.reduce,
            split: &raw.split,
            resources: &raw.resources,
            environment: &raw.environment,
        };
        return Ok(Document::Job(Box::new(validate_body(
            &body,
            name,
            &outer,
            source,
            StepScope::default(),
        )?)));
    };
    for (key, given) in [
        ("compute", raw.compute.is_some()),
        ("tasks", raw.tasks.is_some()),
        ("reduce", raw.reduce.is_some()),
        ("split", raw.split.is_some()),
        ("resources", raw.resources.is_some()),
        ("environment", raw.environment.is_some()),
    ] {
        if given {
            return Err(Diagnostic::new(
                yaml::first_key_location(source, key).unwrap_or(Location::START),
                format!("a workflow's `{key}` belongs to its steps, not to the job"),
            )
            .with_help("move it under the step it is for, in `steps:`"));
        }
    }
    workflow::validate(steps, name, &outer, source).map(Document::Workflow)
}

/// What every step of a workflow shares with the job: its seed and scheduler settings.
struct Outer {
    seed: u64,
    slurm: SlurmSpec,
    condor: CondorSpec,
}

/// The keys that make a job (or a step of a workflow).
struct Body<'a> {
    compute: &'a Option<Spanned<yaml::RawCompute>>,
    tasks: &'a Option<Spanned<yaml::RawTasks>>,
    reduce: &'a Option<Spanned<Vec<Spanned<RawReduction>>>>,
    split: &'a Option<Spanned<yaml::RawSplit>>,
    resources: &'a Option<Spanned<yaml::RawResources>>,
    environment: &'a Option<Spanned<yaml::RawEnvironment>>,
}

fn validate_body(
    raw: &Body,
    name: String,
    outer: &Outer,
    source: &str,
    scope: StepScope,
) -> Result<JobSpec, Diagnostic> {
    let work = match (raw.compute, raw.tasks) {
        (Some(compute), None) => Work::Compute(validate_compute(compute, source, scope)?),
        (None, Some(tasks)) => {
            Work::Tasks(tasks::validate(tasks, raw.reduce.is_some(), source, scope)?)
        }
        (Some(_), Some(tasks)) => {
            return Err(Diagnostic::new(
                yaml::first_key_location(source, "tasks").unwrap_or_else(|| locate(tasks)),
                "a job has `compute:` or `tasks:`, not both",
            )
            .with_help("split them into two job files, or two steps"));
        }
        (None, None) => {
            return Err(Diagnostic::new(
                Location::START,
                "missing key `compute` or `tasks`",
            )
            .with_help("add `compute:` (samples, vars, expr) or `tasks:` (a command run per task); see docs/job-file.md"));
        }
    };
    let reduce = match raw.reduce {
        Some(list) => validate_reduce(list)?,
        None => ReduceSpec {
            statistics: match work {
                Work::Compute(_) => vec![Statistic::Mean, Statistic::Sem],
                Work::Tasks(_) => vec![Statistic::Sum],
            },
            histogram: None,
        },
    };
    if let (Work::Tasks(tasks), Some(list)) = (&work, raw.reduce) {
        if tasks.result == ResultKind::None {
            return Err(
                Diagnostic::new(locate(list), "`result: none` leaves nothing to reduce")
                    .with_help("remove `reduce:`, or set `result: number` or `result: json`"),
            );
        }
        if reduce.histogram.is_some() {
            return Err(Diagnostic::new(
                locate(list),
                "a histogram needs `compute:`; task results reduce to count, sum, mean, var, std, min and max",
            ));
        }
    }
    let split = match raw.split {
        Some(split) => SplitSpec {
            slices: match (&split.slices, &split.ranks) {
                (Some(_), Some(ranks)) => {
                    return Err(Diagnostic::new(
                        locate(ranks),
                        "`split` has both `slices` and `ranks`, which mean the same",
                    )
                    .with_help("keep `slices` (`ranks` is its older name)"));
                }
                (Some(n), None) => bounded_count(n, "slices", 1, u64::from(MAX_SLICES))? as u32,
                (None, Some(n)) => bounded_count(n, "ranks", 1, u64::from(MAX_SLICES))? as u32,
                (None, None) => 1,
            },
            threads: match &split.threads {
                Some(t) => Some(bounded_count(t, "threads", 1, MAX_THREADS as u64)? as usize),
                None => None,
            },
            balance: validate_balance(split.balance.as_ref(), &work)?,
        },
        None => SplitSpec {
            slices: 1,
            threads: None,
            balance: validate_balance(None, &work)?,
        },
    };
    let resources = match raw.resources {
        Some(res) => Resources {
            time: match &res.time {
                Some(t) => {
                    Some(quantity::parse_duration(t).map_err(|m| Diagnostic::new(locate(t), m))?)
                }
                None => None,
            },
            memory: match &res.memory {
                Some(m) => {
                    Some(quantity::parse_memory(m).map_err(|msg| Diagnostic::new(locate(m), msg))?)
                }
                None => None,
            },
            disk: match &res.disk {
                Some(d) => {
                    Some(quantity::parse_memory(d).map_err(|msg| Diagnostic::new(locate(d), msg))?)
                }
                None => None,
            },
            checkpoint: match &res.checkpoint {
                // hpcsub times it itself: fractions of a second are fine.
                Some(c) => {
                    Some(quantity::parse_timeout(c).map_err(|m| Diagnostic::new(locate(c), m))?)
                }
                None => None,
            },
        },
        None => Resources::default(),
    };
    Ok(JobSpec {
        name,
        seed: outer.seed,
        work,
        reduce,
        split,
        resources,
        slurm: outer.slurm.clone(),
        condor: outer.condor.clone(),
        environment: validate_environment(raw.environment, raw.tasks)?,
    })
}

/// `environment:` is for task jobs: it sets up what their programs need.
fn validate_environment(
    raw: &Option<Spanned<yaml::RawEnvironment>>,
    tasks: &Option<Spanned<yaml::RawTasks>>,
) -> Result<Option<EnvironmentSpec>, Diagnostic> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    if tasks.is_none() {
        return Err(Diagnostic::new(
            locate(raw),
            "`environment` sets up the programs of `tasks:`; a `compute:` job runs no program",
        ));
    }
    if raw.script.is_none() && raw.modules.as_ref().is_none_or(|m| m.is_empty()) {
        return Err(
            Diagnostic::new(locate(raw), "`environment` sets up nothing")
                .with_help("give `script: setup.sh`, `modules: [gcc/12]`, or both"),
        );
    }
    let modules = raw
        .modules
        .iter()
        .flat_map(|list| list.iter())
        .map(|name| {
            let valid = !name.is_empty()
                && !name.starts_with('-')
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._+-/@:".contains(c));
            if valid {
                Ok(name.to_string())
            } else {
                Err(Diagnostic::new(
                    locate(name),
                    format!("`{}` is not a module name", name.as_str()),
                )
                .with_help(
                    "module names hold letters, digits and `. _ + - / @ :`, such as gcc/12.2",
                ))
            }
        })
        .collect::<Result<_, _>>()?;
    let script = match &raw.script {
        Some(script) if script.trim().is_empty() => {
            return Err(Diagnostic::new(locate(script), "`script` is empty"));
        }
        Some(script) => Some(Located {
            value: script.to_string(),
            location: locate(script),
        }),
        None => None,
    };
    Ok(Some(EnvironmentSpec { script, modules }))
}

/// Job names end up in file names and scheduler job names, so they are kept to a safe alphabet.
pub fn check_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.chars().count() > 64 {
        return Err(format!(
            "the name must be 1 to 64 characters, got {}",
            name.chars().count()
        ));
    }
    if let Some(bad) = name.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "the name may only hold letters, digits, `.`, `_` and `-`; `{}` is not allowed",
            bad.escape_default()
        ));
    }
    if name.starts_with(['.', '-']) {
        return Err("the name must not start with `.` or `-`".into());
    }
    if name.contains("..") {
        return Err("the name must not contain `..`".into());
    }
    Ok(())
}

fn validate_name(name: &Spanned<String>) -> Result<String, Diagnostic> {
    check_name(name)
        .map_err(|m| Diagnostic::new(locate(name), m).with_help("for example: name: quadratic"))?;
    Ok(name.to_string())
}

fn parse_seed(seed: &Spanned<String>) -> Result<u64, Diagnostic> {
    let text: String = seed.trim().chars().filter(|c| *c != '_').collect();
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse::<u64>(),
    };
    parsed.map_err(|_| {
        Diagnostic::new(
            locate(seed),
            format!(
                "`{}` is not a seed: expected a whole number from 0 to {}",
                seed.as_str(),
                u64::MAX
            ),
        )
    })
}

/// `split.balance`: dynamic for task jobs unless they say `static`; compute jobs cut their
/// samples into fixed ranges of blocks.
fn validate_balance(raw: Option<&Spanned<String>>, work: &Work) -> Result<Balance, Diagnostic> {
    let Some(raw) = raw else {
        return Ok(match work {
            Work::Tasks(_) => Balance::Dynamic,
            Work::Compute(_) => Balance::Static,
        });
    };
    match (raw.as_str().trim(), work) {
        ("static", _) => Ok(Balance::Static),
        ("dynamic", Work::Tasks(_)) => Ok(Balance::Dynamic),
        ("dynamic", Work::Compute(_)) => Err(Diagnostic::new(
            locate(raw),
            "`balance: dynamic` is for task jobs; a compute job's slices take fixed ranges of sample blocks",
        )
        .with_help("remove `balance`, or write `balance: static`")),
        (other, _) => Err(Diagnostic::new(
            locate(raw),
            format!("`balance` must be `dynamic` or `static`, got `{other}`"),
        )
        .with_help("`dynamic`: slices claim batches of tasks as they go; `static`: every n-th task")),
    }
}

fn bounded_count(
    value: &Spanned<String>,
    what: &str,
    min: u64,
    max: u64,
) -> Result<u64, Diagnostic> {
    let n = quantity::parse_count(value)
        .map_err(|m| Diagnostic::new(locate(value), format!("`{what}`: {m}")))?;
    if n < min || n > max {
        return Err(Diagnostic::new(
            locate(value),
            format!("`{what}` must be between {min} and {max}, got {n}"),
        ));
    }
    Ok(n)
}

fn validate_compute(
    compute: &Spanned<RawCompute>,
    source: &str,
    steps: StepScope,
) -> Result<ComputeSpec, Diagnostic> {
    let no_vars = Scope {
        earlier: &[],
        later: &[],
        current: None,
        steps,
    };
    let mut of_steps = OfSteps::default();
    // A count of a needed step's values is known only once that step ran: until then the
    // step's plan counts one sample.
    let samples = if compute.samples.contains("steps.") && !steps.needs.is_empty() {
        let parsed = parse_expression(&compute.samples, source)?;
        check_step_constant(&parsed, &no_vars, &compute.samples, source, "`samples`")?;
        of_steps.samples = Some(parsed);
        1
    } else {
        let samples = quantity::parse_count(&compute.samples)
            .map_err(|m| Diagnostic::new(locate(&compute.samples), format!("`samples`: {m}")))?;
        if samples == 0 {
            return Err(Diagnostic::new(
                locate(&compute.samples),
                "`samples` must be at least 1",
            ));
        }
        samples
    };
    let declared: Vec<&str> = compute
        .vars
        .iter()
        .flat_map(|vars| vars.keys())
        .map(|key| key.as_str())
        .collect();
    let mut vars = Vec::with_capacity(declared.len());
    for (index, (key, definition)) in compute.vars.iter().flat_map(|v| v.iter()).enumerate() {
        check_var_name(key)?;
        let scope = Scope {
            earlier: &declared[..index],
            later: &declared[index + 1..],
            current: Some(key.as_str()),
            steps,
        };
        let parsed = parse_expression(definition, source).map_err(|diag| {
            let line = source.lines().nth(diag.location.line - 1).unwrap_or("");
            if line.contains('{') && definition.contains('(') && !definition.contains(')') {
                diag.with_help("in a flow mapping `{a: uniform(1, 2)}` the comma splits entries; write one var per line")
            } else {
                diag
            }
        })?;
        let definition = match distribution_call(&parsed) {
            Some((call_name, call_span, args)) => {
                let at = position(definition, source, call_span.start);
                let values = match args.iter().map(constant_value).collect::<Option<Vec<_>>>() {
                    Some(values) => values,
                    None if !steps.needs.is_empty() && args.iter().all(names_only_steps) => {
                        for arg in args {
                            check_references(arg, &no_vars, definition, source)?;
                        }
                        of_steps.draws.push(DrawOfSteps {
                            var: key.to_string(),
                            distribution: call_name.to_string(),
                            args: args.to_vec(),
                        });
                        stand_in_arguments(call_name)
                    }
                    None => {
                        return Err(Diagnostic::new(
                            at,
                            format!("the arguments of `{call_name}` must be numbers or constant expressions"),
                        )
                        .with_help(if steps.needs.is_empty() {
                            "to transform a random variable, define it first and use it in a later var"
                        } else {
                            "they may use the values of needed steps (steps.NAME.max); to transform a random variable, define it first and use it in a later var"
                        }));
                    }
                };
                let distribution =
                    Distribution::new(call_name, &values).map_err(|m| Diagnostic::new(at, m))?;
                VarDefinition::Random(distribution)
            }
            None => {
                check_references(&parsed, &scope, definition, source)?;
                VarDefinition::Derived(parsed)
            }
        };
        vars.push(VarSpec {
            name: key.to_string(),
            definition,
        });
    }
    let expr = parse_expression(&compute.expr, source)?;
    let scope = Scope {
        earlier: &declared,
        later: &[],
        current: None,
        steps,
    };
    check_references(&expr, &scope, &compute.expr, source)?;
    Ok(ComputeSpec {
        samples,
        vars,
        expr,
        of_steps,
    })
}

/// Whether every name in `e` is a constant or a value of a step (`steps.NAME.STAT`).
fn names_only_steps(e: &Expr) -> bool {
    match e {
        Expr::Number(_) => true,
        Expr::Name(name, _) => name.starts_with("steps.") || semantics::constant(name).is_some(),
        Expr::Unary(_, x) => names_only_steps(x),
        Expr::Binary(_, a, b) => names_only_steps(a) && names_only_steps(b),
        Expr::Call { args, .. } => args.iter().all(names_only_steps),
    }
}

/// `what`, written with values of needed steps, may use nothing else that varies per sample.
fn check_step_constant(
    e: &Expr,
    scope: &Scope,
    text: &Spanned<String>,
    source: &str,
    what: &str,
) -> Result<(), Diagnostic> {
    check_references(e, scope, text, source)?;
    if names_only_steps(e) {
        Ok(())
    } else {
        Err(Diagnostic::new(
            locate(text),
            format!("{what} may use numbers, constants and values of needed steps only"),
        ))
    }
}

/// Arguments that make a valid draw of `distribution`, for the stand-in a step's plan is made
/// with before the steps it needs have run.
fn stand_in_arguments(distribution: &str) -> Vec<f64> {
    match distribution {
        "uniform" | "normal" => vec![0.0, 1.0],
        "exponential" => vec![1.0],
        _ => Vec::new(),
    }
}

fn check_var_name(key: &Spanned<String>) -> Result<(), Diagnostic> {
    let name = key.as_str();
    let valid_identifier = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let problem = if !valid_identifier {
        Some(format!(
            "`{name}` is not a variable name: use letters, digits and `_`, starting with a letter"
        ))
    } else if semantics::constant(name).is_some() {
        Some(format!(
            "`{name}` is a built-in constant and cannot be a variable name"
        ))
    } else if Function::from_name(name).is_some() || Distribution::NAMES.contains(&name) {
        Some(format!(
            "`{name}` is a built-in function and cannot be a variable name"
        ))
    } else {
        None
    };
    match problem {
        Some(message) => {
            let diag = Diagnostic::new(locate(key), message);
            Err(if name.contains(['(', ')']) {
                diag.with_help("in a flow mapping `{a: uniform(1, 2)}` the comma splits entries; write one var per line")
            } else {
                diag
            })
        }
        None => Ok(()),
    }
}

/// The location of byte `offset` inside a scalar, allowing for an opening quote.
fn position(scalar: &Spanned<String>, source: &str, offset: usize) -> Location {
    let start = locate(scalar);
    let opening = source
        .lines()
        .nth(start.line - 1)
        .and_then(|line| line.chars().nth(start.column - 1));
    let quote = usize::from(matches!(opening, Some('"' | '\'')));
    let chars_before = scalar.get(..offset).map_or(offset, |s| s.chars().count());
    start.shifted(quote + chars_before)
}

fn parse_expression(text: &Spanned<String>, source: &str) -> Result<Expr, Diagnostic> {
    expr::parse::parse(text)
        .map_err(|e| Diagnostic::new(position(text, source, e.offset), e.message))
}

fn distribution_call(e: &Expr) -> Option<(&str, expr::Span, &[Expr])> {
    match e {
        Expr::Call {
            function,
            span,
            args,
        } if Distribution::NAMES.contains(&function.as_str()) => Some((function, *span, args)),
        _ => None,
    }
}

/// The value of an expression made only of numbers and constants.
pub fn constant_value(e: &Expr) -> Option<f64> {
    match e {
        Expr::Number(v) => Some(*v),
        Expr::Name(name, _) => semantics::constant(name),
        Expr::Unary(op, x) => Some(semantics::unary(*op, constant_value(x)?)),
        Expr::Binary(op, a, b) => Some(semantics::binary(
            *op,
            constant_value(a)?,
            constant_value(b)?,
        )),
        Expr::Call { function, args, .. } => {
            let f = Function::from_name(function)?;
            let values: Vec<f64> = args.iter().map(constant_value).collect::<Option<_>>()?;
            match values.as_slice() {
                [x] if f.arity() == 1 => Some(f.apply1(*x)),
                [a, b] if f.arity() == 2 => Some(semantics::apply2(f, *a, *b)),
                [c, a, b] if f == Function::Where => Some(semantics::select(*c, *a, *b)),
                _ => None,
            }
        }
    }
}

struct Scope<'a> {
    earlier: &'a [&'a str],
    later: &'a [&'a str],
    current: Option<&'a str>,
    /// A workflow step's needs, whose reduced values are `steps.NAME.STATISTIC`.
    steps: StepScope<'a>,
}

/// Whether `name` is a reduced value of a step in `scope`: `steps.NAME.STAT` of a compute step
/// or of a task step with `result: number`, `steps.NAME.KEY.STAT` of a task step with
/// `result: json` (whose keys are known only once it ran); the error if it names a step but not
/// such a value.
fn step_value(name: &str, scope: StepScope) -> Option<Result<(), String>> {
    let rest = name.strip_prefix("steps.")?;
    let Some((step, value)) = rest.split_once('.') else {
        return Some(Err(format!(
            "`{name}` needs a statistic: steps.{rest}.mean, for example"
        )));
    };
    let Some(needed) = scope.needs.iter().find(|s| s.name == step) else {
        return Some(Err(format!(
            "`{name}` refers to step `{step}`, which is not in this step's `needs`"
        )));
    };
    let known: Vec<&str> = std::iter::once("count")
        .chain(
            (needed.job.reduce.statistics.iter())
                .filter(|s| **s != Statistic::Count)
                .map(|s| s.name()),
        )
        .collect();
    let result = needed.job.tasks().map(|tasks| tasks.result);
    let statistic = match result {
        Some(ResultKind::None) => {
            return Some(Err(format!(
                "step `{step}` runs tasks with `result: none`: it reduces no values"
            )));
        }
        Some(ResultKind::Json) => match value.rsplit_once('.') {
            Some((_key, statistic)) => statistic,
            None => {
                return Some(Err(format!(
                    "step `{step}` reduces the keys of its tasks' JSON: write steps.{step}.KEY.{}",
                    if known.contains(&value) { value } else { "sum" }
                )));
            }
        },
        Some(ResultKind::Number) | None => {
            if let Some((_, statistic)) = value.rsplit_once('.') {
                return Some(Err(format!(
                    "step `{step}` reduces one number per task, with no keys: write steps.{step}.{statistic}"
                )));
            }
            value
        }
    };
    Some(if known.contains(&statistic) {
        Ok(())
    } else {
        Err(format!(
            "step `{step}` reduces to {}; `{statistic}` is not among them",
            known.join(", ")
        ))
    })
}

fn check_references(
    e: &Expr,
    scope: &Scope,
    text: &Spanned<String>,
    source: &str,
) -> Result<(), Diagnostic> {
    let at = |span: expr::Span| position(text, source, span.start);
    match e {
        Expr::Number(_) => Ok(()),
        Expr::Name(name, span) => {
            if semantics::constant(name).is_some() || scope.earlier.contains(&name.as_str()) {
                return Ok(());
            }
            if let Some(checked) = step_value(name, scope.steps) {
                return checked.map_err(|message| {
                    Diagnostic::new(at(*span), message)
                        .with_help("a step uses the values of the steps in its `needs` as steps.NAME.mean, steps.NAME.std, ...")
                });
            }
            let diag = if scope.current == Some(name.as_str()) {
                Diagnostic::new(at(*span), format!("`{name}` refers to itself"))
                    .with_help("a var is defined from the vars before it")
            } else if scope.later.contains(&name.as_str()) {
                Diagnostic::new(at(*span), format!("`{name}` is defined after this var"))
                    .with_help("vars are evaluated in order: move this var below the one it uses")
            } else if Function::from_name(name).is_some()
                || Distribution::NAMES.contains(&name.as_str())
            {
                Diagnostic::new(
                    at(*span),
                    format!("`{name}` is a function; call it as {name}(...)"),
                )
            } else {
                let known: Vec<&str> = scope.earlier.iter().copied().chain(["pi", "e"]).collect();
                let diag = Diagnostic::new(at(*span), format!("unknown variable `{name}`"));
                match did_you_mean(name, known.iter().copied()) {
                    Some(candidate) => diag.with_help(format!("did you mean `{candidate}`?")),
                    None if known.len() > 2 => {
                        diag.with_help(format!("known here: {}", known.join(", ")))
                    }
                    None => diag.with_help("define it under `vars:` before using it"),
                }
            };
            Err(diag)
        }
        Expr::Unary(_, x) => check_references(x, scope, text, source),
        Expr::Binary(_, a, b) => {
            check_references(a, scope, text, source)?;
            check_references(b, scope, text, source)
        }
        Expr::Call {
            function,
            span,
            args,
        } => {
            if Distribution::NAMES.contains(&function.as_str()) {
                return Err(Diagnostic::new(
                    at(*span),
                    format!("`{function}(...)` must be the whole definition of a var"),
                )
                .with_help(format!(
                    "define `u: {function}(...)` under vars and use `u` here"
                )));
            }
            let Some(f) = Function::from_name(function) else {
                let names = Function::ALL
                    .iter()
                    .map(|f| f.name())
                    .chain(Distribution::NAMES);
                let diag = Diagnostic::new(at(*span), format!("unknown function `{function}`"));
                return Err(match did_you_mean(function, names) {
                    Some(candidate) => diag.with_help(format!("did you mean `{candidate}`?")),
                    None => diag.with_help(
                        "functions: sqrt exp log log10 sin cos tan atan2 abs floor ceil min max pow where",
                    ),
                });
            };
            if args.len() != f.arity() {
                return Err(Diagnostic::new(
                    at(*span),
                    format!(
                        "`{function}` takes {} argument{}, got {}",
                        f.arity(),
                        if f.arity() == 1 { "" } else { "s" },
                        args.len()
                    ),
                ));
            }
            args.iter()
                .try_for_each(|arg| check_references(arg, scope, text, source))
        }
    }
}

fn validate_reduce(list: &Spanned<Vec<Spanned<RawReduction>>>) -> Result<ReduceSpec, Diagnostic> {
    if list.is_empty() {
        return Err(Diagnostic::new(locate(list), "`reduce` is empty")
            .with_help("list what to compute, e.g. reduce: [mean, std, min, max]"));
    }
    let mut statistics = Vec::new();
    let mut histogram = None;
    for item in list.iter() {
        match &**item {
            RawReduction::Statistic(name) => {
                let statistic = Statistic::from_name(name).ok_or_else(|| {
                    let names = Statistic::ALL.iter().map(|s| s.name()).chain(["histogram"]);
                    let diag = Diagnostic::new(locate(item), format!("unknown reduction `{name}`"));
                    match did_you_mean(name, names) {
                        Some(c) => diag.with_help(format!("did you mean `{c}`?")),
                        None => diag.with_help(
                            "reductions: count, sum, mean, sem, var, std, min, max, {histogram: {bins: N, range: [low, high]}}",
                        ),
                    }
                })?;
                if statistics.contains(&statistic) {
                    return Err(Diagnostic::new(
                        locate(item),
                        format!("`{name}` is listed twice"),
                    ));
                }
                statistics.push(statistic);
            }
            RawReduction::Histogram(raw) => {
                if histogram.is_some() {
                    return Err(Diagnostic::new(locate(item), "only one histogram per job"));
                }
                let bins =
                    bounded_count(&raw.bins, "bins", 1, u64::from(MAX_HISTOGRAM_BINS))? as u32;
                let bounds: Vec<f64> = raw
                    .range
                    .iter()
                    .map(|v| {
                        v.trim()
                            .parse::<f64>()
                            .ok()
                            .filter(|x| x.is_finite())
                            .ok_or_else(|| {
                                Diagnostic::new(
                                    locate(v),
                                    format!("`{}` is not a finite number", v.as_str()),
                                )
                            })
                    })
                    .collect::<Result<_, _>>()?;
                let [low, high] = bounds[..] else {
                    return Err(Diagnostic::new(
                        locate(&raw.range),
                        format!(
                            "`range` needs two numbers [low, high], got {}",
                            bounds.len()
                        ),
                    ));
                };
                if low >= high {
                    return Err(Diagnostic::new(
                        locate(&raw.range),
                        format!("`range` needs low < high, got [{low}, {high}]"),
                    ));
                }
                histogram = Some(HistogramSpec { bins, low, high });
            }
        }
    }
    with_error_of_mean(&mut statistics);
    Ok(ReduceSpec {
        statistics,
        histogram,
    })
}

/// A mean without its standard error is half an answer: `sem` follows every `mean` unless the
/// job lists it elsewhere itself.
fn with_error_of_mean(statistics: &mut Vec<Statistic>) {
    if statistics.contains(&Statistic::Sem) {
        return;
    }
    if let Some(at) = statistics.iter().position(|s| *s == Statistic::Mean) {
        statistics.insert(at + 1, Statistic::Sem);
    }
}

#[cfg(test)]
mod tests;

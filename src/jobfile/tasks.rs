//! The `tasks:` section: a command run once per task id or parameter point. Placeholders are
//! resolved here, so a typo in `{alpah}` is a located error before anything runs.

use marked_yaml::Spanned;

use super::yaml::{RawTasks, first_key_location, locate};
use super::{bounded_count, position, quantity};
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::spec::{
    FILE, FILE_NAME, FILE_STEM, LINE, Located, MAX_RETRIES, MAX_TASKS, OUTDIR, Param, Piece,
    ResultKind, STEP_PATHS, StepSpec, TaskInputs, TasksSpec, Template, Work,
};

/// What a step of a workflow may refer to: the steps it needs, validated before it. Empty for a
/// job of one step.
#[derive(Clone, Copy, Default)]
pub struct StepScope<'a> {
    pub needs: &'a [&'a StepSpec],
}

/// The placeholders of a task from `tasks.from`: the task it maps its source's outputs from.
pub const INPUT: &str = "input";
pub const RESULT_PREFIX: &str = "result.";

pub fn validate(
    tasks: &Spanned<RawTasks>,
    reduce_given: bool,
    source: &str,
    scope: StepScope,
) -> Result<TasksSpec, Diagnostic> {
    let from = validate_from(tasks, scope)?;
    let params = validate_params(tasks)?;
    let inputs = validate_inputs(tasks)?;
    let grid = params
        .iter()
        .try_fold(1u64, |product, param| {
            product.checked_mul(param.values.len() as u64)
        })
        .filter(|&n| n <= MAX_TASKS);
    let count = match (&tasks.count, &tasks.params) {
        _ if from.is_some() => from.map_or(0, |s| s.1.count),
        (Some(count), _) if !inputs.is_empty() => {
            return Err(Diagnostic::new(
                locate(count),
                "`count` cannot be given with `files` or `lines`: there is one task per input",
            )
            .with_help("remove `count`"));
        }
        (None, None) if !inputs.is_empty() => 1,
        (Some(count), params) => {
            let n = bounded_count(count, "count", 1, MAX_TASKS)?;
            if params.is_some() && grid != Some(n) {
                return Err(Diagnostic::new(
                    locate(count),
                    format!(
                        "`count` is {n} but `params` has {} points",
                        grid.map_or_else(|| "too many".to_string(), |g| g.to_string())
                    ),
                )
                .with_help("give `count` or `params`, not both: the count of a grid is the product of its list lengths"));
            }
            n
        }
        (None, Some(raw)) => grid.ok_or_else(|| {
            Diagnostic::new(
                locate(raw),
                format!("`params` makes more than {MAX_TASKS} tasks"),
            )
        })?,
        (None, None) => {
            return Err(Diagnostic::new(
                first_key_location(source, "tasks").unwrap_or_else(|| locate(tasks)),
                "`tasks` needs `count` (task ids 0..count-1), `params` (a grid), `files` or `lines`",
            )
            .with_help("for example: count: 10, or files: \"data/*.csv\""));
        }
    };

    let step_paths: Vec<String> = scope
        .needs
        .iter()
        .flat_map(|step| STEP_PATHS.map(|path| format!("steps.{}.{path}", step.name)))
        .collect();
    let mut known: Vec<&str> = ["task", OUTDIR]
        .into_iter()
        .chain(params.iter().map(|p| p.name.as_str()))
        .chain(step_paths.iter().map(String::as_str))
        .collect();
    let with_files = |known: &mut Vec<&str>, inputs: &TaskInputs| {
        if !inputs.files.is_empty() {
            known.extend([FILE, FILE_NAME, FILE_STEM]);
        }
        if inputs.lines.is_some() {
            known.push(LINE);
        }
    };
    with_files(&mut known, &inputs);
    // A task from another step's task has that task's placeholders, and its outputs.
    if let Some((_, source_tasks)) = &from {
        known.extend(source_tasks.params.iter().map(|p| p.name.as_str()));
        with_files(&mut known, &source_tasks.inputs);
        known.push(INPUT);
    }
    let known = Known {
        names: &known,
        results: from.is_some(),
    };
    if tasks.command.is_empty() {
        return Err(
            Diagnostic::new(locate(&tasks.command), "`command` is empty").with_help(
                "list the program and its arguments: command: [\"python3\", \"work.py\", \"{task}\"]",
            ),
        );
    }
    let command = tasks
        .command
        .iter()
        .map(|argument| template(argument, &known, source))
        .collect::<Result<Vec<_>, _>>()?;
    if tasks.command[0].trim().is_empty() {
        return Err(Diagnostic::new(
            locate(&tasks.command[0]),
            "the program to run (the first entry of `command`) is empty",
        ));
    }

    let result = match &tasks.result {
        Some(name) => ResultKind::from_name(name).ok_or_else(|| {
            let diag = Diagnostic::new(
                locate(name),
                format!("unknown result kind `{}`", name.as_str()),
            );
            match did_you_mean(name, ResultKind::ALL.map(ResultKind::name)) {
                Some(c) => diag.with_help(format!("did you mean `{c}`?")),
                None => diag.with_help("expected number, json or none"),
            }
        })?,
        None if reduce_given => ResultKind::Number,
        None => ResultKind::None,
    };
    let timeout = match &tasks.timeout {
        Some(t) => Some(
            quantity::parse_timeout(t)
                .map_err(|m| Diagnostic::new(locate(t), format!("`timeout`: {m}")))?,
        ),
        None => None,
    };
    let retries = match &tasks.retries {
        Some(r) => bounded_count(r, "retries", 0, MAX_RETRIES)? as u32,
        None => 0,
    };
    let env = tasks
        .env
        .iter()
        .flat_map(|env| env.iter())
        .map(|(name, value)| {
            if !is_identifier(name) {
                return Err(Diagnostic::new(
                    locate(name),
                    format!(
                        "`{}` is not an environment variable name: use letters, digits and `_`",
                        name.as_str()
                    ),
                ));
            }
            Ok((name.to_string(), template(value, &known, source)?))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let worker = match &tasks.worker {
        None => false,
        Some(flag) => match flag.as_str() {
            "true" => true,
            "false" => false,
            other => {
                return Err(Diagnostic::new(
                    locate(flag),
                    format!("`worker` is `{other}`; expected true or false"),
                ));
            }
        },
    };
    if worker {
        let arguments = tasks.command.iter().zip(&command);
        let values = tasks.env.iter().flat_map(|env| env.iter()).zip(&env);
        let per_task = arguments
            .map(|(raw, template)| (locate(raw), template))
            .chain(values.map(|((_, raw), (_, template))| (locate(raw), template)))
            .find_map(|(location, template)| {
                per_task_placeholder(template).map(|name| (location, name))
            });
        if let Some((location, name)) = per_task {
            return Err(Diagnostic::new(
                location,
                format!(
                    "a worker is started once and serves many tasks, so its command and env cannot use `{{{name}}}`"
                ),
            )
            .with_help("a worker reads each task's placeholders from the JSON line of the task on its stdin; see \"Workers\" in docs/job-file.md"));
        }
    }
    Ok(TasksSpec {
        count,
        params,
        command,
        result,
        timeout,
        retries,
        env,
        inputs,
        workdir: tasks.workdir.as_ref().map(located),
        from: from.map(|(name, _)| name.to_string()),
        worker,
        bound: Default::default(),
    })
}

/// A placeholder of `template` whose value differs from task to task: any but a needed step's
/// paths, which are the same for every task.
fn per_task_placeholder(template: &Template) -> Option<&str> {
    template.pieces.iter().find_map(|piece| match piece {
        Piece::Placeholder(name) if !name.starts_with("steps.") => Some(name.as_str()),
        _ => None,
    })
}

/// `tasks.from`: a step this one needs, whose tasks it maps over one for one.
fn validate_from<'a>(
    tasks: &RawTasks,
    scope: StepScope<'a>,
) -> Result<Option<(&'a str, &'a TasksSpec)>, Diagnostic> {
    let Some(name) = &tasks.from else {
        return Ok(None);
    };
    let Some(step) = scope.needs.iter().find(|s| s.name == name.as_str()) else {
        let diag = Diagnostic::new(
            locate(name),
            format!("`from: {}` names no step this one needs", name.as_str()),
        );
        return Err(if scope.needs.is_empty() {
            diag.with_help("`from` maps over the tasks of a workflow step listed in `needs`")
        } else {
            diag.with_help(format!("add `{}` to `needs`", name.as_str()))
        });
    };
    let Work::Tasks(source) = &step.job.work else {
        return Err(Diagnostic::new(
            locate(name),
            format!(
                "step `{}` runs `compute:`; `from` maps over the tasks of a `tasks:` step",
                step.name
            ),
        ));
    };
    for (key, given) in [
        ("count", tasks.count.is_some()),
        ("params", tasks.params.is_some()),
        ("files", tasks.files.is_some()),
        ("lines", tasks.lines.is_some()),
    ] {
        if given {
            return Err(Diagnostic::new(
                locate(name),
                format!(
                    "`from` makes one task per task of `{}`; `{key}` cannot be given with it",
                    step.name
                ),
            ));
        }
    }
    Ok(Some((step.name.as_str(), source)))
}

/// The placeholders a template may use.
struct Known<'a> {
    names: &'a [&'a str],
    /// Whether `{result.KEY}` is known (a step `from` another).
    results: bool,
}

impl Known<'_> {
    fn contains(&self, name: &str) -> bool {
        self.names.contains(&name)
            || (self.results && name.strip_prefix(RESULT_PREFIX).is_some_and(is_identifier))
    }
}

fn located(scalar: &Spanned<String>) -> Located<String> {
    Located {
        value: scalar.to_string(),
        location: locate(scalar),
    }
}

fn validate_inputs(tasks: &RawTasks) -> Result<TaskInputs, Diagnostic> {
    let files: Vec<Located<String>> = match &tasks.files {
        None => Vec::new(),
        Some(globs) if globs.0.is_empty() => {
            return Err(Diagnostic::new(locate(globs), "`files` is empty")
                .with_help("give a glob such as \"data/*.csv\""));
        }
        Some(globs) => globs
            .0
            .iter()
            .map(|glob| Located {
                value: glob.clone(),
                location: locate(globs),
            })
            .collect(),
    };
    for glob in &files {
        if glob.value.trim().is_empty() {
            return Err(Diagnostic::new(
                glob.location,
                "an empty glob matches no file",
            ));
        }
        if let Err(e) = glob::Pattern::new(&glob.value) {
            return Err(Diagnostic::new(
                glob.location,
                format!("`{}` is not a glob: {}", glob.value, e.msg),
            ));
        }
    }
    if let Some(lines) = &tasks.lines
        && lines.trim().is_empty()
    {
        return Err(Diagnostic::new(
            locate(lines),
            "`lines` needs the path of a text file",
        ));
    }
    Ok(TaskInputs {
        files,
        lines: tasks.lines.as_ref().map(located),
    })
}

fn validate_params(tasks: &RawTasks) -> Result<Vec<Param>, Diagnostic> {
    let Some(raw) = &tasks.params else {
        return Ok(Vec::new());
    };
    if raw.is_empty() {
        return Err(Diagnostic::new(locate(raw), "`params` is empty")
            .with_help("for example: params: {alpha: [0.1, 0.2]}"));
    }
    raw.iter()
        .map(|(name, values)| {
            if !is_identifier(name) {
                return Err(Diagnostic::new(
                    locate(name),
                    format!(
                        "`{}` is not a parameter name: use letters, digits and `_`, starting with a letter",
                        name.as_str()
                    ),
                ));
            }
            if ["task", OUTDIR, FILE, FILE_NAME, FILE_STEM, LINE].contains(&name.as_str()) {
                return Err(Diagnostic::new(
                    locate(name),
                    format!(
                        "`{}` is a placeholder of hpcsub's own and cannot be a parameter name",
                        name.as_str()
                    ),
                ));
            }
            if values.is_empty() {
                return Err(Diagnostic::new(
                    locate(values),
                    format!("parameter `{}` has no values", name.as_str()),
                ));
            }
            Ok(Param {
                name: name.to_string(),
                values: values.iter().map(|v| v.to_string()).collect(),
            })
        })
        .collect()
}

fn is_identifier(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Identifiers joined by dots, such as `steps.simulate.result`.
fn is_dotted_identifier(name: &str) -> bool {
    name.split('.').all(is_identifier)
}

/// Splits an argument into text and placeholders. `{name}` with a known name is a placeholder,
/// `{{name}}` is the literal text `{name}`, an unknown `{identifier}` is an error, and any other
/// brace text (JSON, shell syntax) is kept as written.
fn template(scalar: &Spanned<String>, known: &Known, source: &str) -> Result<Template, Diagnostic> {
    let text = scalar.as_str();
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = 0;
    while let Some(found) = text[rest..].find('{') {
        let open = rest + found;
        // Names may be dotted: `{steps.simulate.result}`, `{result.n}`.
        let identifier_end = |from: usize| {
            text[from..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                .map(|len| from + len)
        };
        literal.push_str(&text[rest..open]);
        if text[open..].starts_with("{{")
            && let Some(end) = identifier_end(open + 2)
            && end > open + 2
            && text[end..].starts_with("}}")
            && is_dotted_identifier(&text[open + 2..end])
        {
            literal.push_str(&text[open + 1..end + 1]);
            rest = end + 2;
            continue;
        }
        match identifier_end(open + 1) {
            Some(end)
                if end > open + 1
                    && text[end..].starts_with('}')
                    && is_dotted_identifier(&text[open + 1..end]) =>
            {
                let name = &text[open + 1..end];
                if !known.contains(name) {
                    let diag = Diagnostic::new(
                        position(scalar, source, open),
                        format!("unknown placeholder `{{{name}}}`"),
                    );
                    let step = name
                        .strip_prefix("steps.")
                        .and_then(|rest| rest.split('.').next());
                    return Err(match did_you_mean(name, known.names.iter().copied()) {
                        Some(candidate) => diag.with_help(format!("did you mean `{{{candidate}}}`?")),
                        None if step.is_some() => diag.with_help(format!(
                            "a step refers to the steps in its `needs` as {{steps.NAME.result}}, {{steps.NAME.outputs}} or {{steps.NAME.tasks}}; is `{}` in `needs`?",
                            step.unwrap_or_default()
                        )),
                        None => diag.with_help(format!(
                            "placeholders here: {}; write `{{{{{name}}}}}` for the literal text `{{{name}}}`",
                            known.names.iter().map(|k| format!("{{{k}}}")).collect::<Vec<_>>().join(", ")
                        )),
                    });
                }
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Placeholder(name.to_string()));
                rest = end + 1;
            }
            _ => {
                literal.push('{');
                rest = open + 1;
            }
        }
    }
    literal.push_str(&text[rest..]);
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    Ok(Template { pieces })
}

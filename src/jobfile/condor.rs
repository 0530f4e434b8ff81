//! The `condor:` section. Its values end up in HTCondor submit files, whose lines run to the end
//! of the line and expand `$(...)` macros, so every value is one line without `$`, and extra
//! commands are limited to the submit commands listed in `condor/submit-commands.txt`.

use marked_yaml::Spanned;

use super::bounded_count;
use super::yaml::{RawCondor, locate};
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::spec::{CONDOR_SLICE_ATTRIBUTE as SLICE_ATTRIBUTE, CondorSpec, MAX_RETRIES, MAX_SLICES};

/// The submit commands hpcsub or a job file may write, one a line, `#` comments.
const SUBMIT_COMMANDS: &str = include_str!("../../condor/submit-commands.txt");

/// Commands hpcsub writes itself: giving them again would change what runs or where its
/// output goes, or say twice what the job file says elsewhere.
const WRITTEN_BY_HPCSUB: [&str; 16] = [
    "universe",
    "executable",
    "arguments",
    "initialdir",
    "request_cpus",
    "request_memory",
    "request_disk",
    "output",
    "error",
    "log",
    "getenv",
    "requirements",
    "max_idle",
    "batch_name",
    "allowed_execute_duration",
    "checkpoint_exit_code",
];

fn known_commands() -> impl Iterator<Item = &'static str> {
    SUBMIT_COMMANDS
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
}

/// A value that HTCondor reads literally to the end of its line.
fn check_value(value: &Spanned<String>, what: &str) -> Result<String, Diagnostic> {
    let text = value.as_str();
    let fail = |message: String| Err(Diagnostic::new(locate(value), message));
    if text.trim().is_empty() {
        return fail(format!("`{what}` is empty"));
    }
    if text.len() > 4096 {
        return fail(format!(
            "`{what}` is {} bytes long; at most 4096",
            text.len()
        ));
    }
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return fail(format!(
            "`{what}` must be one line without control characters; it holds `{}`",
            c.escape_default()
        ));
    }
    if text.contains('$') {
        return Err(Diagnostic::new(
            locate(value),
            format!("`{what}` holds `$`, which HTCondor would expand as a submit macro"),
        )
        .with_help("write the value without `$(...)`; hpcsub sets the slice and paths itself"));
    }
    Ok(text.to_string())
}

/// `+Name` and `My.Name` are custom ClassAd attributes; other names must be submit commands
/// hpcsub does not write itself.
fn check_command(name: &Spanned<String>) -> Result<String, Diagnostic> {
    let text = name.as_str();
    let fail = |message: String| Err(Diagnostic::new(locate(name), message));
    let attribute = text.strip_prefix('+').or_else(|| {
        text.strip_prefix("My.")
            .or_else(|| text.strip_prefix("MY."))
    });
    if let Some(attribute) = attribute {
        let valid = attribute.starts_with(|c: char| c.is_ascii_alphabetic())
            && attribute
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return fail(format!(
                "`{}` is not a ClassAd attribute name: letters, digits and `_`, starting with a letter",
                attribute.escape_default()
            ));
        }
        if attribute.eq_ignore_ascii_case(SLICE_ATTRIBUTE) {
            return fail(format!(
                "`{SLICE_ATTRIBUTE}` is set by hpcsub itself: it is the slice each proc computes"
            ));
        }
        return Ok(format!("My.{attribute}"));
    }
    let lower = text.to_ascii_lowercase();
    if WRITTEN_BY_HPCSUB.contains(&lower.as_str()) || lower == "queue" {
        return Err(Diagnostic::new(
            locate(name),
            format!("`{text}` is written by hpcsub itself and cannot be given in `condor.extra`"),
        )
        .with_help(
            "set `condor.requirements`, `condor.max_idle`, `resources` or `split` instead",
        ));
    }
    if known_commands().any(|known| known == lower) {
        return Ok(lower);
    }
    let diag = Diagnostic::new(
        locate(name),
        format!(
            "`{}` is not a submit command hpcsub knows",
            text.escape_default()
        ),
    );
    Err(match did_you_mean(&lower, known_commands()) {
        Some(candidate) => diag.with_help(format!("did you mean `{candidate}`?")),
        None => diag.with_help(
            "custom job attributes are written `+Name` or `My.Name`; the accepted commands are \
             listed in condor/submit-commands.txt",
        ),
    })
}

pub fn validate(raw: &Option<Spanned<RawCondor>>) -> Result<CondorSpec, Diagnostic> {
    let Some(raw) = raw else {
        return Ok(CondorSpec::default());
    };
    let mut extra: Vec<(String, String)> = Vec::new();
    for (name, value) in raw.extra.iter().flat_map(|map| map.iter()) {
        let command = check_command(name)?;
        if extra
            .iter()
            .any(|(seen, _)| seen.eq_ignore_ascii_case(&command))
        {
            return Err(Diagnostic::new(
                locate(name),
                format!("`{}` is given twice in `condor.extra`", name.as_str()),
            ));
        }
        extra.push((command, check_value(value, name)?));
    }
    Ok(CondorSpec {
        requirements: match &raw.requirements {
            Some(expression) => Some(check_value(expression, "requirements")?),
            None => None,
        },
        max_idle: match &raw.max_idle {
            Some(n) => Some(bounded_count(n, "max_idle", 1, u64::from(MAX_SLICES))? as u32),
            None => None,
        },
        extra,
        retries: match &raw.retries {
            Some(n) => bounded_count(n, "retries", 0, MAX_RETRIES)? as u32,
            None => 0,
        },
    })
}

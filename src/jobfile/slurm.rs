//! The `slurm:` section. Its values end up on `#SBATCH` lines, so each is held to an alphabet
//! that cannot start a new line, a shell word or another directive.

use marked_yaml::Spanned;

use super::bounded_count;
use super::yaml::{RawSlurm, locate};
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::spec::{MAX_SLICES, SlurmMode, SlurmSpec};

/// Options hpcsub writes itself; setting them again would break the run directory's layout.
const RESERVED: [&str; 12] = [
    "array",
    "chdir",
    "dependency",
    "error",
    "export",
    "input",
    "job-name",
    "ntasks",
    "open-mode",
    "output",
    "parsable",
    "wrap",
];

fn is_slurm_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 128
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ','))
}

fn name(value: &Option<Spanned<String>>, key: &str) -> Result<Option<String>, Diagnostic> {
    let Some(value) = value else { return Ok(None) };
    if !is_slurm_name(value) {
        return Err(Diagnostic::new(
            locate(value),
            format!(
                "`{key}` must be a Slurm name of letters, digits, `_`, `-`, `.` and `,`; got `{}`",
                value.escape_default()
            ),
        ));
    }
    Ok(Some(value.to_string()))
}

/// `--option` or `--option=value`, the value from a conservative alphabet (no spaces, quotes,
/// `$`, `;`, backslashes or newlines).
fn check_extra(option: &Spanned<String>) -> Result<String, Diagnostic> {
    let text = option.as_str();
    let (key, value) = match text.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (text, None),
    };
    let fail = |message: String| Err(Diagnostic::new(locate(option), message));
    let Some(flag) = key.strip_prefix("--") else {
        return fail(format!(
            "`{}` is not a long sbatch option: write it as `--option=value`",
            text.escape_default()
        ));
    };
    if flag.is_empty()
        || !flag.starts_with(|c: char| c.is_ascii_lowercase())
        || !flag
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return fail(format!(
            "`{}` is not an sbatch option name",
            key.escape_default()
        ));
    }
    if RESERVED.contains(&flag) {
        return fail(format!(
            "`--{flag}` is set by hpcsub itself and cannot be given in `slurm.extra`"
        ));
    }
    if let Some(value) = value {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "_-.,:=/+@%[]*&|!".contains(c);
        if value.is_empty() || !value.chars().all(allowed) {
            return fail(format!(
                "the value of `--{flag}` may hold only letters, digits and `_ - . , : = / + @ % [ ] * & | !`; got `{}`",
                value.escape_default()
            ));
        }
    }
    Ok(text.to_string())
}

pub fn validate(raw: &Option<Spanned<RawSlurm>>) -> Result<SlurmSpec, Diagnostic> {
    let Some(raw) = raw else {
        return Ok(SlurmSpec::default());
    };
    let mode = match &raw.mode {
        None => SlurmMode::Array,
        Some(m) => match m.as_str() {
            "array" => SlurmMode::Array,
            "mpi" => SlurmMode::Mpi,
            other => {
                let diag = Diagnostic::new(locate(m), format!("unknown Slurm mode `{other}`"));
                return Err(match did_you_mean(other, ["array", "mpi"]) {
                    Some(c) => diag.with_help(format!("did you mean `{c}`?")),
                    None => diag.with_help("expected `array` (the default) or `mpi`"),
                });
            }
        },
    };
    Ok(SlurmSpec {
        partition: name(&raw.partition, "partition")?,
        account: name(&raw.account, "account")?,
        qos: name(&raw.qos, "qos")?,
        extra: raw
            .extra
            .iter()
            .flat_map(|list| list.iter())
            .map(check_extra)
            .collect::<Result<_, _>>()?,
        array_limit: match &raw.array_limit {
            Some(limit) => {
                Some(bounded_count(limit, "array_limit", 1, u64::from(MAX_SLICES))? as u32)
            }
            None => None,
        },
        mode,
    })
}

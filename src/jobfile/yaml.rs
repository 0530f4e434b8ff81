//! The only module that knows which YAML crate reads job files. It turns text into the raw,
//! span-carrying structure below, and every YAML or shape error into a located [`Diagnostic`].

use std::fmt;

use marked_yaml::{FromNodeError, LoadError, LoaderOptions, Marker, Spanned};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::diagnostic::{Diagnostic, Location, did_you_mean};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJob {
    pub name: Spanned<String>,
    pub seed: Option<Spanned<String>>,
    pub compute: Option<Spanned<RawCompute>>,
    pub tasks: Option<Spanned<RawTasks>>,
    pub reduce: Option<Spanned<Vec<Spanned<RawReduction>>>>,
    pub split: Option<Spanned<RawSplit>>,
    pub resources: Option<Spanned<RawResources>>,
    pub slurm: Option<Spanned<RawSlurm>>,
    pub condor: Option<Spanned<RawCondor>>,
    pub environment: Option<Spanned<RawEnvironment>>,
    pub steps: Option<Spanned<indexmap::IndexMap<Spanned<String>, Spanned<RawStep>>>>,
}

/// One step of a workflow: what a job is, plus the steps it needs.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub needs: Option<RawList>,
    pub compute: Option<Spanned<RawCompute>>,
    pub tasks: Option<Spanned<RawTasks>>,
    pub reduce: Option<Spanned<Vec<Spanned<RawReduction>>>>,
    pub split: Option<Spanned<RawSplit>>,
    pub resources: Option<Spanned<RawResources>>,
    pub environment: Option<Spanned<RawEnvironment>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnvironment {
    pub script: Option<Spanned<String>>,
    pub modules: Option<RawList>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCondor {
    pub requirements: Option<Spanned<String>>,
    pub max_idle: Option<Spanned<String>>,
    pub extra: Option<Spanned<indexmap::IndexMap<Spanned<String>, Spanned<String>>>>,
    pub retries: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlurm {
    pub partition: Option<Spanned<String>>,
    pub account: Option<Spanned<String>>,
    pub qos: Option<Spanned<String>>,
    pub extra: Option<RawList>,
    pub array_limit: Option<Spanned<String>>,
    pub mode: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCompute {
    pub samples: Spanned<String>,
    pub vars: Option<Spanned<indexmap::IndexMap<Spanned<String>, Spanned<String>>>>,
    pub expr: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTasks {
    pub count: Option<Spanned<String>>,
    pub params: Option<Spanned<indexmap::IndexMap<Spanned<String>, RawList>>>,
    pub command: Spanned<Vec<Spanned<String>>>,
    pub result: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub retries: Option<Spanned<String>>,
    pub env: Option<Spanned<indexmap::IndexMap<Spanned<String>, Spanned<String>>>>,
    pub files: Option<Spanned<RawGlobs>>,
    pub lines: Option<Spanned<String>>,
    pub workdir: Option<Spanned<String>>,
    pub from: Option<Spanned<String>>,
    pub worker: Option<Spanned<String>>,
}

/// One glob, or a list of them.
pub struct RawGlobs(pub Vec<String>);

impl<'de> Deserialize<'de> for RawGlobs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct GlobsVisitor;
        impl<'de> Visitor<'de> for GlobsVisitor {
            type Value = RawGlobs;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a glob such as \"data/*.csv\", or a list of globs")
            }

            fn visit_str<E: de::Error>(self, glob: &str) -> Result<RawGlobs, E> {
                Ok(RawGlobs(vec![glob.to_string()]))
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<RawGlobs, A::Error> {
                let mut globs = Vec::new();
                while let Some(glob) = seq.next_element::<String>()? {
                    globs.push(glob);
                }
                Ok(RawGlobs(globs))
            }
        }
        deserializer.deserialize_any(GlobsVisitor)
    }
}

/// A YAML list of scalars, each with its location.
pub type RawList = Spanned<Vec<Spanned<String>>>;

pub enum RawReduction {
    Statistic(String),
    Histogram(RawHistogram),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHistogram {
    pub bins: Spanned<String>,
    pub range: Spanned<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSplit {
    pub slices: Option<Spanned<String>>,
    /// The older name of `slices`.
    pub ranks: Option<Spanned<String>>,
    pub threads: Option<Spanned<String>>,
    pub balance: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResources {
    pub time: Option<Spanned<String>>,
    pub memory: Option<Spanned<String>>,
    pub disk: Option<Spanned<String>>,
    pub checkpoint: Option<Spanned<String>>,
}

/// Hand-written so a bad entry gets a message about reductions, not about enum variants.
impl<'de> Deserialize<'de> for RawReduction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ReductionVisitor;
        impl<'de> Visitor<'de> for ReductionVisitor {
            type Value = RawReduction;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a reduction name or {histogram: {bins: N, range: [low, high]}}")
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<RawReduction, E> {
                Ok(RawReduction::Statistic(name.to_string()))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawReduction, A::Error> {
                let Some(key) = map.next_key::<String>()? else {
                    return Err(de::Error::custom("an empty mapping is not a reduction"));
                };
                if key != "histogram" {
                    return Err(de::Error::unknown_field(&key, &["histogram"]));
                }
                let histogram = map.next_value::<RawHistogram>()?;
                if let Some(extra) = map.next_key::<String>()? {
                    return Err(de::Error::custom(format!(
                        "one reduction per list entry: move `{extra}` to its own `- ` line"
                    )));
                }
                Ok(RawReduction::Histogram(histogram))
            }
        }
        deserializer.deserialize_any(ReductionVisitor)
    }
}

pub fn location_of(marker: Option<&Marker>) -> Location {
    marker
        .map(|m| Location {
            line: m.line().max(1),
            column: m.column().max(1),
        })
        .unwrap_or(Location::START)
}

pub fn locate<T>(spanned: &Spanned<T>) -> Location {
    location_of(spanned.span().start())
}

/// Parses job-file text into the raw structure, or the first problem with its location.
pub fn read(source: &str) -> Result<RawJob, Diagnostic> {
    let options = LoaderOptions::default().error_on_duplicate_keys(true);
    let node = marked_yaml::parse_yaml_with_options(0, source, options)
        .map_err(|e| load_error(e, source))?;
    marked_yaml::from_node(&node).map_err(|err| shape_error(err, source))
}

fn load_error(err: LoadError, source: &str) -> Diagnostic {
    let hint_tag = "an expression that starts with `!` or `&` or `*` must be quoted: expr: \"!x\"";
    match err {
        LoadError::TopLevelMustBeMapping(m) => Diagnostic::new(
            location_of(Some(&m)),
            "a job file must be a mapping of keys such as `name:` and `compute:`",
        ),
        LoadError::UnexpectedAnchor(m) => Diagnostic::new(
            location_of(Some(&m)),
            "YAML anchors (`&name`) are not supported in job files",
        )
        .with_help(hint_tag),
        LoadError::UnexpectedTag(m) => {
            // The library marks the end of the tagged node; the tag itself is what to show.
            let tag = source.lines().enumerate().find_map(|(n, line)| {
                let byte = line
                    .find(": !")
                    .map(|b| b + 2)
                    .or_else(|| line.find("- !").map(|b| b + 2))?;
                Some(Location {
                    line: n + 1,
                    column: line[..byte].chars().count() + 1,
                })
            });
            Diagnostic::new(
                tag.unwrap_or_else(|| location_of(Some(&m))),
                "YAML tags (`!tag`) are not supported in job files",
            )
            .with_help(hint_tag)
        }
        LoadError::MappingKeyMustBeScalar(m) => {
            Diagnostic::new(location_of(Some(&m)), "a key must be a plain word")
        }
        LoadError::ScanError(m, scan) => {
            let mut message = scan.to_string();
            if let Some(stripped) = message.find(" at byte").map(|i| message[..i].to_string()) {
                message = stripped;
            }
            let diag = Diagnostic::new(location_of(Some(&m)), format!("invalid YAML: {message}"));
            if message.contains("block sequence entries") {
                diag.with_help("an expression that starts with `- ` reads as a YAML list: quote it, e.g. expr: \"- b\"")
            } else {
                diag
            }
        }
        LoadError::DuplicateKey(inner) => Diagnostic::new(
            location_of(inner.key.span().start()),
            format!("`{}` is given twice", inner.key.as_str()),
        )
        .with_help(format!(
            "the first `{}` is on line {}",
            inner.prev_key.as_str(),
            location_of(inner.prev_key.span().start()).line
        )),
        other => Diagnostic::new(Location::START, format!("invalid YAML: {other}")),
    }
}

/// The YAML library marks an unknown key's value; users look for the key, which is on the same
/// line (block or flow style) or, for a nested value, on the line above.
fn key_location(source: &str, value: Location, key: &str) -> Location {
    let lines: Vec<&str> = source.lines().collect();
    let on_line = |line: usize, before_column: Option<usize>| -> Option<Location> {
        let text = lines.get(line.checked_sub(1)?)?;
        let limit = before_column.map_or(text.len(), |c| {
            text.char_indices()
                .nth(c - 1)
                .map_or(text.len(), |(i, _)| i)
        });
        let byte = text[..limit].rfind(key)?;
        Some(Location {
            line,
            column: text[..byte].chars().count() + 1,
        })
    };
    on_line(value.line, Some(value.column))
        .or_else(|| on_line(value.line, None))
        .or_else(|| on_line(value.line - 1, None))
        .unwrap_or(value)
}

/// Where `key:` is first written, for errors about a whole mapping.
pub fn first_key_location(source: &str, key: &str) -> Option<Location> {
    let pattern = format!("{key}:");
    source.lines().enumerate().find_map(|(n, line)| {
        let byte = line.find(&pattern)?;
        Some(Location {
            line: n + 1,
            column: line[..byte].chars().count() + 1,
        })
    })
}

/// Path-specific descriptions of what a key holds, used when a value has the wrong shape.
fn expected_at(path: &str) -> Option<&'static str> {
    let leaf = path.rsplit('.').next().unwrap_or(path);
    let leaf = leaf.split('[').next().unwrap_or(leaf);
    Some(match leaf {
        "name" => "a job name such as `quadratic`",
        "steps" => "a mapping of step names to steps, each with `compute:` or `tasks:` and `needs`",
        "needs" => "a list of the steps this one needs, such as [simulate]",
        "from" => "the name of the step whose tasks this one maps over",
        "environment" => "a mapping with `script` and `modules`",
        "script" => "the path of a bash script, relative to the tasks' working directory",
        "modules" => "a list of environment modules such as [gcc/12, python]",
        "seed" => "a whole number from 0 to 18446744073709551615",
        "compute" => "a mapping with `samples`, `vars` and `expr`",
        "tasks" => "a mapping with `command` and `count`, `params`, `files` or `lines`",
        "files" => "a glob such as \"data/*.csv\", or a list of globs",
        "lines" => "the path of a text file, one task per line",
        "workdir" => "a directory, relative to the job file's",
        "count" => "a whole number of tasks, at least 1",
        "params" => "a mapping of parameter names to lists of values, such as `alpha: [0.1, 0.2]`",
        "command" => "a list of arguments such as [\"python3\", \"work.py\", \"{task}\"]",
        "result" => "one of number, json, none",
        "timeout" => "a duration such as 30s or 5m",
        "retries" => "a whole number of extra attempts, such as 1",
        "worker" => "true or false",
        "env" => "a mapping of environment variable names to values",
        "slurm" => "a mapping with `partition`, `account`, `qos`, `extra`, `array_limit`, `mode`",
        "partition" | "account" | "qos" => "a Slurm name such as `debug`",
        "extra" if path.starts_with("condor") => {
            "a mapping of submit commands to values, such as `accounting_group: group_physics`"
        }
        "extra" => "a list of sbatch options such as [\"--constraint=avx2\"]",
        "condor" => "a mapping with `requirements`, `max_idle`, `extra`, `retries`",
        "requirements" => "a ClassAd expression such as 'OpSysAndVer == \"AlmaLinux9\"'",
        "max_idle" => "a whole number of slices idle at once",
        "disk" => "a disk size such as 2GiB",
        "array_limit" => "a whole number of array tasks running at once",
        "mode" => "array or mpi",
        "samples" => "a sample count such as 200_000_000 or \"200M\"",
        "vars" => "a mapping of variable names to definitions, such as `a: uniform(5, 10)`",
        "expr" => "an expression such as (-b + sqrt(b^2 - 4*a*c)) / (2*a)",
        "reduce" => "a list such as [mean, std, min, max]",
        "split" => "a mapping with `slices` and `threads`",
        "resources" => "a mapping with `time`, `memory`, `disk` and `checkpoint`",
        "checkpoint" => "how often a submitted slice saves its progress, such as 10m",
        "histogram" => "a mapping {bins: N, range: [low, high]}",
        "bins" => "a whole number of bins",
        "range" => "a list [low, high]",
        "slices" | "ranks" | "threads" => "a whole number, at least 1",
        "time" => "a duration such as 10m or 1-00:00:00",
        "memory" => "a memory size such as 1GiB",
        _ => return None,
    })
}

fn shape_error(err: FromNodeError, source: &str) -> Diagnostic {
    let path = err.path().unwrap_or("").to_string();
    let location = location_of(err.start_mark().as_ref());
    let section = path
        .rsplit_once('.')
        .map(|(parent, _)| format!(" in `{parent}`"))
        .unwrap_or_default();
    match err.into_inner() {
        marked_yaml::Error::UnknownFieldError(field, expected, _) => {
            let location = key_location(source, location, &field);
            let diag = Diagnostic::new(location, format!("unknown key `{field}`{section}"));
            match did_you_mean(&field, expected.iter().copied()) {
                Some(candidate) => diag.with_help(format!("did you mean `{candidate}`?")),
                None => diag.with_help(format!("expected one of: {}", expected.join(", "))),
            }
        }
        other => {
            let raw = other.to_string();
            let message = if let Some(field) = raw
                .strip_prefix("missing field `")
                .and_then(|rest| rest.strip_suffix('`'))
            {
                let place = if path.is_empty() {
                    String::new()
                } else {
                    format!(" in `{path}`")
                };
                let parent = path
                    .rsplit('.')
                    .next()
                    .unwrap_or("")
                    .split('[')
                    .next()
                    .unwrap_or("");
                let location = if parent.is_empty() {
                    Location::START
                } else {
                    first_key_location(source, parent).unwrap_or(location)
                };
                return Diagnostic::new(location, format!("missing key `{field}`{place}"))
                    .with_help(match expected_at(field) {
                        Some(what) => format!("add `{field}:` with {what}"),
                        None => format!("add `{field}:`"),
                    });
            } else if path.is_empty() {
                raw
            } else {
                format!("`{path}`: {raw}")
            };
            let diag = Diagnostic::new(location, message);
            let diag = match expected_at(&path) {
                Some(what) => diag.with_help(format!("expected {what}")),
                None => diag,
            };
            if path.ends_with("expr") || path.contains("vars") {
                let line = source
                    .lines()
                    .nth(location.line.saturating_sub(1))
                    .unwrap_or("");
                if line.trim_start().starts_with("- ")
                    || line.contains(": -")
                    || line.contains(":-")
                {
                    return diag.with_help(
                        "an expression that starts with `- ` reads as a YAML list: quote it, e.g. expr: \"- b\"",
                    );
                }
            }
            diag
        }
    }
}

//! A task job's working directory and inputs, resolved against the file system: `tasks.workdir`
//! against the job file's directory, then `tasks.files` (globs) and `tasks.lines` against the
//! working directory. The result is frozen into a run directory at submission, so every slice
//! runs the same tasks whatever the file system shows later, and `status` can tell which inputs
//! changed since.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::diagnostic::Diagnostic;
use crate::spec::{FILE, LINE, Located, MAX_TASKS, Param, TasksSpec};

/// A lines file holds at most this many bytes.
const MAX_LINES_FILE_BYTES: u64 = 256 << 20;

/// The resolution of a task job's inputs, as frozen into a run directory (`inputs.json`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Resolved {
    /// Where the tasks run: absolute.
    pub workdir: PathBuf,
    /// One task per file, in task-axis order (sorted by path bytes), as `{file}` gives them.
    pub files: Vec<InputFile>,
    /// The lines file, if any, and its task lines in order.
    pub lines_file: Option<InputFile>,
    pub lines: Vec<String>,
    /// A step `from` another: the whole grid it took from that step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid: Option<Grid>,
}

/// A task grid: its axes as (name, values), and its task count (which a grid without axes,
/// `count: N`, holds alone).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    pub params: Vec<(String, Vec<String>)>,
    pub count: u64,
}

/// An input file as it was when the job was resolved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputFile {
    /// As the tasks get it: relative to the working directory unless written absolute.
    pub path: String,
    pub size: u64,
    /// Seconds since the Unix epoch.
    pub modified: f64,
}

impl InputFile {
    fn of(workdir: &Path, path: String) -> std::io::Result<InputFile> {
        let metadata = std::fs::metadata(workdir.join(&path))?;
        Ok(InputFile {
            path,
            size: metadata.len(),
            modified: modified(&metadata),
        })
    }
}

fn modified(metadata: &std::fs::Metadata) -> f64 {
    metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The working directory of a task job: `tasks.workdir` against `job_dir`, else `job_dir`.
pub fn workdir(tasks: &TasksSpec, job_dir: &Path) -> Result<PathBuf, Diagnostic> {
    let Some(Located { value, location }) = &tasks.workdir else {
        return job_dir.canonicalize().map_err(|e| {
            Diagnostic::new(
                crate::diagnostic::Location::START,
                format!("cannot resolve the job file's directory: {e}"),
            )
        });
    };
    let dir = job_dir.join(value);
    match dir.canonicalize() {
        Ok(dir) if dir.is_dir() => Ok(dir),
        Ok(_) => Err(Diagnostic::new(
            *location,
            format!("`{value}` is not a directory"),
        )),
        Err(e) => Err(Diagnostic::new(
            *location,
            format!("`workdir` {} cannot be used: {e}", dir.display()),
        )
        .with_help("it is relative to the job file's directory")),
    }
}

/// Resolves the inputs of `tasks` against `workdir` and makes them the first axes of its grid
/// (files vary slowest, then lines, then `params`).
pub fn resolve(tasks: &mut TasksSpec, workdir: &Path) -> Result<Resolved, Diagnostic> {
    let mut resolved = Resolved {
        workdir: workdir.to_path_buf(),
        grid: tasks.from.is_some().then(|| Grid {
            params: tasks
                .params
                .iter()
                .map(|p| (p.name.clone(), p.values.clone()))
                .collect(),
            count: tasks.count,
        }),
        ..Resolved::default()
    };
    if !tasks.inputs.files.is_empty() {
        resolved.files = matching_files(&tasks.inputs.files, workdir)?;
    }
    if let Some(lines) = &tasks.inputs.lines {
        let (file, task_lines) = read_lines(lines, workdir)?;
        resolved.lines_file = Some(file);
        resolved.lines = task_lines;
    }
    apply(tasks, &resolved).map_err(|message| {
        let location = tasks
            .inputs
            .files
            .first()
            .or(tasks.inputs.lines.as_ref())
            .map_or(crate::diagnostic::Location::START, |l| l.location);
        Diagnostic::new(location, message)
    })?;
    Ok(resolved)
}

/// Makes a resolution the first axes of the task grid, and the count its size.
pub fn apply(tasks: &mut TasksSpec, resolved: &Resolved) -> Result<(), String> {
    if let Some(grid) = &resolved.grid {
        tasks.params = grid
            .params
            .iter()
            .map(|(name, values)| Param {
                name: name.clone(),
                values: values.clone(),
            })
            .collect();
        tasks.count = grid.count;
        return Ok(());
    }
    let mut axes = Vec::new();
    if !tasks.inputs.files.is_empty() {
        axes.push(Param {
            name: FILE.into(),
            values: resolved.files.iter().map(|f| f.path.clone()).collect(),
        });
    }
    if tasks.inputs.lines.is_some() {
        axes.push(Param {
            name: LINE.into(),
            values: resolved.lines.clone(),
        });
    }
    if axes.is_empty() {
        return Ok(());
    }
    tasks.params.splice(0..0, axes);
    tasks.count = tasks
        .params
        .iter()
        .try_fold(1u64, |n, p| n.checked_mul(p.values.len() as u64))
        .filter(|&n| n <= MAX_TASKS)
        .ok_or_else(|| format!("the inputs and `params` make more than {MAX_TASKS} tasks"))?;
    Ok(())
}

/// A step `from` another takes that step's grid: one task per task of it, with its parameters
/// (and input files and lines), so `{x}` means in both what it means in the source.
pub fn inherit(tasks: &mut TasksSpec, source: &TasksSpec) {
    tasks.params = source.params.clone();
    tasks.count = source.count;
}

/// Every regular file matching any of `globs` in `workdir`, once each, sorted by path bytes.
fn matching_files(globs: &[Located<String>], workdir: &Path) -> Result<Vec<InputFile>, Diagnostic> {
    let mut paths: Vec<String> = Vec::new();
    for glob in globs {
        let absolute = Path::new(&glob.value).is_absolute();
        let pattern = if absolute {
            glob.value.clone()
        } else {
            format!(
                "{}/{}",
                glob::Pattern::escape(&workdir.to_string_lossy()),
                glob.value
            )
        };
        let entries = glob::glob_with(
            &pattern,
            glob::MatchOptions {
                require_literal_leading_dot: true,
                ..glob::MatchOptions::new()
            },
        )
        .map_err(|e| {
            Diagnostic::new(
                glob.location,
                format!("`{}` is not a glob: {}", glob.value, e.msg),
            )
        })?;
        let before = paths.len();
        for entry in entries {
            let path = entry.map_err(|e| {
                Diagnostic::new(
                    glob.location,
                    format!("cannot read {}: {}", e.path().display(), e.error()),
                )
            })?;
            if !path.is_file() {
                continue;
            }
            let shown = if absolute {
                path
            } else {
                path.strip_prefix(workdir)
                    .map(Path::to_path_buf)
                    .unwrap_or(path)
            };
            paths.push(shown.to_string_lossy().into_owned());
        }
        if paths.len() == before {
            return Err(Diagnostic::new(
                glob.location,
                format!("no file matches `{}` in {}", glob.value, workdir.display()),
            )
            .with_help("globs are relative to the tasks' working directory: the job file's, or `tasks.workdir`"));
        }
    }
    paths.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    paths.dedup();
    paths
        .into_iter()
        .map(|path| {
            InputFile::of(workdir, path.clone())
                .map_err(|e| Diagnostic::new(globs[0].location, format!("cannot read {path}: {e}")))
        })
        .collect()
}

/// The lines file and its task lines: every non-empty line that is not a `#` comment, without
/// the white space around it.
fn read_lines(
    lines: &Located<String>,
    workdir: &Path,
) -> Result<(InputFile, Vec<String>), Diagnostic> {
    let path = workdir.join(&lines.value);
    let text = crate::bounded_read::text(&path, MAX_LINES_FILE_BYTES).map_err(|e| {
        Diagnostic::new(
            lines.location,
            format!("cannot read the lines file {}: {e}", path.display()),
        )
    })?;
    let task_lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    if task_lines.is_empty() {
        return Err(Diagnostic::new(
            lines.location,
            format!(
                "{} has no task line (every line is empty or a `#` comment)",
                path.display()
            ),
        ));
    }
    let file = InputFile::of(workdir, lines.value.clone()).map_err(|e| {
        Diagnostic::new(
            lines.location,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    Ok((file, task_lines))
}

/// The inputs that changed since they were resolved: removed, or of another size or time.
pub fn changed(resolved: &Resolved) -> Vec<String> {
    resolved
        .files
        .iter()
        .chain(&resolved.lines_file)
        .filter_map(|input| {
            let now = std::fs::metadata(resolved.workdir.join(&input.path));
            match now {
                Err(_) => Some(format!("{} was removed", input.path)),
                Ok(m) if m.len() != input.size || modified(&m) != input.modified => Some(format!(
                    "{} changed after submission ({} bytes then, {} now)",
                    input.path,
                    input.size,
                    m.len()
                )),
                Ok(_) => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobfile::parse;

    fn tasks_of(text: &str) -> TasksSpec {
        parse(text).unwrap().tasks().unwrap().clone()
    }

    #[test]
    fn files_are_sorted_by_path_bytes_and_vary_slowest() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.csv", "a.csv", "B.csv", "skip.txt"] {
            std::fs::write(dir.path().join(name), name).unwrap();
        }
        std::fs::write(dir.path().join("in.txt"), "# header\n\nx 1\n  y 2  \n").unwrap();
        let mut tasks = tasks_of(
            "name: t\ntasks:\n  files: \"*.csv\"\n  lines: in.txt\n  params: {k: [1, 2]}\n  command: [echo, \"{file_stem}\", \"{line}\", \"{k}\"]\n",
        );
        let resolved = resolve(&mut tasks, dir.path()).unwrap();
        let files: Vec<&str> = resolved.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(files, ["B.csv", "a.csv", "b.csv"]);
        assert_eq!(resolved.lines, ["x 1", "y 2"]);
        assert_eq!(tasks.count, 3 * 2 * 2);
        let point: Vec<(&str, &str)> = tasks.point(5);
        assert_eq!(point, [("file", "a.csv"), ("line", "x 1"), ("k", "2")]);
        let argv: Vec<String> = tasks.command.iter().map(|t| tasks.fill(t, 5, "")).collect();
        assert_eq!(argv, ["echo", "a", "x 1", "2"]);
        assert!(changed(&resolved).is_empty());
        std::fs::write(dir.path().join("a.csv"), "longer now").unwrap();
        assert_eq!(changed(&resolved).len(), 1);
    }

    #[test]
    fn a_glob_matching_nothing_is_an_error_at_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut tasks =
            tasks_of("name: t\ntasks:\n  files: [\"*.csv\"]\n  command: [cat, \"{file}\"]\n");
        let err = resolve(&mut tasks, dir.path()).unwrap_err();
        assert!(
            err.message.contains("no file matches `*.csv`"),
            "{}",
            err.message
        );
        assert_eq!(
            (err.location.line, err.location.column),
            (3, 10),
            "the list after `files:`"
        );
    }
}

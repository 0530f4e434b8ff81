//! Every task's record, in task order. A run's records are written to a spool file as its tasks
//! finish and read back for the report's JSON, `tasks.jsonl` and `tasks.csv`, so that a run of a
//! million tasks holds none of them in memory.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::{IndexMap, IndexSet};
use serde::ser::{Error as _, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::reduce::task_results::{Summarizer, TaskOutcome, TaskValue};
use crate::spec::{Statistic, TasksSpec};

/// One task of a finished task job: its parameters, how it ended and what it reported.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TaskRecord {
    pub task: u64,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub params: IndexMap<String, String>,
    /// `succeeded` or `failed`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub result: IndexMap<String, TaskValue>,
    pub attempts: u32,
    pub elapsed_s: f64,
    /// Its stderr log.
    pub log: String,
    /// Its stdout log.
    pub stdout: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stderr_tail: Vec<String>,
    /// The files it left in its `{outdir}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
    /// The slice that ran it and its node (a submitted or MPI run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl TaskRecord {
    /// `outcome`'s record; `reason` is why the task failed, if it did.
    fn new(tasks: &TasksSpec, outcome: TaskOutcome, reason: Option<String>) -> TaskRecord {
        TaskRecord {
            task: outcome.task,
            params: tasks
                .point(outcome.task)
                .into_iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            status: if reason.is_some() {
                "failed"
            } else {
                "succeeded"
            }
            .into(),
            reason,
            result: outcome.values,
            attempts: outcome.attempts,
            elapsed_s: outcome.elapsed_s,
            log: outcome.log,
            stdout: outcome.stdout,
            stderr_tail: outcome.stderr_tail,
            outputs: outcome.outputs,
            slice: outcome.slice,
            node: outcome.node,
        }
    }

    pub fn failed(&self) -> bool {
        self.reason.is_some()
    }

    /// `x=0.5, y=2`, for people.
    pub fn params_text(&self) -> String {
        self.params
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Jobs of up to this many tasks keep their records in memory too, for the report's table.
pub const TASKS_SHOWN: usize = 20;

/// Every task's record, in task order.
#[derive(Clone, Debug)]
pub enum TaskRecords {
    /// Read back from a stored report.
    Held(Vec<TaskRecord>),
    /// Written as the tasks finished.
    Spooled(Arc<Spool>),
}

#[derive(Debug)]
pub struct Spool {
    /// One record a line. An unnamed file, gone when its last handle closes, so that neither a
    /// removed log directory nor a crash leaves it behind.
    file: File,
    count: u64,
    /// Every record, if there are at most [`TASKS_SHOWN`].
    few: Vec<TaskRecord>,
    /// The first task's parameter names, and the keys of numeric results in the order they
    /// first appeared: the columns of `tasks.csv`.
    params: Vec<String>,
    numeric: IndexSet<String>,
}

/// Reads a file from its start without moving its cursor, so that every reader of a shared
/// spool sees every record.
struct FromStart<'a> {
    file: &'a File,
    offset: u64,
}

impl Read for FromStart<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.offset)?;
        self.offset += n as u64;
        Ok(n)
    }
}

impl Spool {
    /// Each record's line of JSON, in task order.
    fn lines(&self) -> impl Iterator<Item = io::Result<String>> + '_ {
        BufReader::new(FromStart {
            file: &self.file,
            offset: 0,
        })
        .lines()
    }
}

impl TaskRecords {
    pub fn len(&self) -> u64 {
        match self {
            TaskRecords::Held(records) => records.len() as u64,
            TaskRecords::Spooled(spool) => spool.count,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every record, if there are at most [`TASKS_SHOWN`].
    pub fn few(&self) -> Option<&[TaskRecord]> {
        let few = match self {
            TaskRecords::Held(records) => records,
            TaskRecords::Spooled(spool) => &spool.few,
        };
        (self.len() <= TASKS_SHOWN as u64).then_some(few.as_slice())
    }

    /// Calls `each` with every record, in task order.
    fn each(&self, mut each: impl FnMut(&TaskRecord) -> io::Result<()>) -> io::Result<()> {
        match self {
            TaskRecords::Held(records) => records.iter().try_for_each(each),
            TaskRecords::Spooled(spool) => spool.lines().try_for_each(|line| {
                let record: TaskRecord = serde_json::from_str(&line?)?;
                each(&record)
            }),
        }
    }

    /// The parameter names and the numeric result keys: the columns of `tasks.csv`.
    fn columns(&self) -> (Vec<String>, Vec<String>) {
        match self {
            TaskRecords::Held(records) => {
                let params = records
                    .first()
                    .map_or(Vec::new(), |r| r.params.keys().cloned().collect());
                let mut numeric = IndexSet::new();
                for record in records {
                    numeric_keys(record, &mut numeric);
                }
                (params, numeric.into_iter().collect())
            }
            TaskRecords::Spooled(spool) => (
                spool.params.clone(),
                spool.numeric.iter().cloned().collect(),
            ),
        }
    }
}

fn numeric_keys(record: &TaskRecord, keys: &mut IndexSet<String>) {
    for (key, value) in &record.result {
        if matches!(value, TaskValue::Number(_)) && !keys.contains(key) {
            keys.insert(key.clone());
        }
    }
}

impl Serialize for TaskRecords {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            TaskRecords::Held(records) => records.serialize(serializer),
            TaskRecords::Spooled(spool) => {
                let mut seq = serializer.serialize_seq(Some(spool.count as usize))?;
                for line in spool.lines() {
                    let line = line.map_err(|e| {
                        S::Error::custom(format!("cannot read the task records back: {e}"))
                    })?;
                    let record: &RawValue =
                        serde_json::from_str(&line).map_err(S::Error::custom)?;
                    seq.serialize_element(record)?;
                }
                seq.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for TaskRecords {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::deserialize(deserializer).map(TaskRecords::Held)
    }
}

/// A task job's reduced result and its records.
pub struct Recorded {
    pub result: Map<String, Value>,
    pub succeeded: u64,
    pub failed: Vec<TaskRecord>,
    pub tasks: TaskRecords,
}

/// Reduces and records outcomes as they arrive. The reduction and the spool take them in task-id
/// order, whatever order the tasks finish in, so the result does not depend on how the tasks
/// were split; only those that finished ahead of a task still running wait in memory.
pub struct TaskRecorder<'a> {
    tasks: &'a TasksSpec,
    summarizer: Summarizer,
    spool: BufWriter<File>,
    count: u64,
    few: Vec<TaskRecord>,
    failed: Vec<TaskRecord>,
    params: Option<Vec<String>>,
    numeric: IndexSet<String>,
    /// Outcomes that finished before a task of a lower id, by id.
    waiting: BTreeMap<u64, TaskOutcome>,
    /// The lowest id not recorded yet.
    next: u64,
}

impl<'a> TaskRecorder<'a> {
    /// A recorder whose spool is an unnamed file in `dir`.
    pub fn new(
        tasks: &'a TasksSpec,
        statistics: &[Statistic],
        dir: &Path,
    ) -> io::Result<TaskRecorder<'a>> {
        Ok(TaskRecorder {
            tasks,
            summarizer: Summarizer::new(tasks.result, statistics),
            spool: BufWriter::new(tempfile::tempfile_in(dir)?),
            count: 0,
            few: Vec::new(),
            failed: Vec::new(),
            params: None,
            numeric: IndexSet::new(),
            waiting: BTreeMap::new(),
            next: 0,
        })
    }

    /// Takes the outcome of one of tasks 0, 1, 2, ... in any order.
    pub fn arrive(&mut self, outcome: TaskOutcome) -> io::Result<()> {
        self.waiting.insert(outcome.task, outcome);
        while let Some(outcome) = self.waiting.remove(&self.next) {
            self.record(outcome)?;
            self.next += 1;
        }
        Ok(())
    }

    /// Reduces and records every outcome in `outcomes` (of any tasks, in any order), then
    /// finishes.
    pub fn record_all(mut self, mut outcomes: Vec<TaskOutcome>) -> io::Result<Recorded> {
        outcomes.sort_by_key(|o| o.task);
        for outcome in outcomes {
            self.record(outcome)?;
        }
        self.finish()
    }

    /// Reduces and spools the outcome of the task after the last one recorded.
    fn record(&mut self, outcome: TaskOutcome) -> io::Result<()> {
        let reason = self.summarizer.add(&outcome);
        let record = TaskRecord::new(self.tasks, outcome, reason);
        serde_json::to_writer(&mut self.spool, &record)?;
        self.spool.write_all(b"\n")?;
        self.count += 1;
        self.params
            .get_or_insert_with(|| record.params.keys().cloned().collect());
        numeric_keys(&record, &mut self.numeric);
        if record.failed() {
            self.failed.push(record.clone());
        }
        if self.few.len() <= TASKS_SHOWN {
            self.few.push(record);
        }
        Ok(())
    }

    /// The result and the records. Outcomes still waiting (a task before them never finished:
    /// the run was interrupted) are recorded in id order.
    pub fn finish(mut self) -> io::Result<Recorded> {
        for outcome in std::mem::take(&mut self.waiting).into_values() {
            self.record(outcome)?;
        }
        let (result, succeeded) = self.summarizer.finish();
        let file = self
            .spool
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        Ok(Recorded {
            result,
            succeeded,
            failed: self.failed,
            tasks: TaskRecords::Spooled(Arc::new(Spool {
                file,
                count: self.count,
                few: self.few,
                params: self.params.unwrap_or_default(),
                numeric: self.numeric,
            })),
        })
    }
}

/// Writes `tasks.jsonl` (one record a line, in task order) and `tasks.csv` (parameters and
/// numeric results, one row a task) into `dir`, each atomically; their paths.
pub fn write_task_files(dir: &Path, records: &TaskRecords) -> io::Result<Vec<PathBuf>> {
    let mut jsonl = tempfile::NamedTempFile::new_in(dir)?;
    {
        let mut out = BufWriter::new(&mut jsonl);
        match records {
            TaskRecords::Spooled(spool) => {
                io::copy(
                    &mut FromStart {
                        file: &spool.file,
                        offset: 0,
                    },
                    &mut out,
                )?;
            }
            TaskRecords::Held(_) => records.each(|record| {
                serde_json::to_writer(&mut out, record)?;
                out.write_all(b"\n")
            })?,
        }
        out.flush()?;
    }
    let jsonl_path = dir.join("tasks.jsonl");
    jsonl.persist(&jsonl_path).map_err(|e| e.error)?;

    let (params, numeric) = records.columns();
    let mut csv_file = tempfile::NamedTempFile::new_in(dir)?;
    {
        let mut writer = csv::Writer::from_writer(BufWriter::new(&mut csv_file));
        let header: Vec<&str> = ["task", "status"]
            .into_iter()
            .chain(params.iter().map(String::as_str))
            .chain(numeric.iter().map(String::as_str))
            .chain(["reason"])
            .collect();
        writer.write_record(&header)?;
        records.each(|record| {
            let mut row: Vec<String> = vec![record.task.to_string(), record.status.clone()];
            row.extend(
                params
                    .iter()
                    .map(|p| record.params.get(p).cloned().unwrap_or_default()),
            );
            row.extend(numeric.iter().map(|key| match record.result.get(key) {
                Some(TaskValue::Number(n)) => n.to_string(),
                _ => String::new(),
            }));
            row.push(record.reason.clone().unwrap_or_default());
            Ok(writer.write_record(&row)?)
        })?;
        writer.flush()?;
    }
    let csv_path = dir.join("tasks.csv");
    csv_file.persist(&csv_path).map_err(|e| e.error)?;
    Ok(vec![jsonl_path, csv_path])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobfile::parse;
    use crate::reduce::task_results::{parse_output, summarize};
    use crate::spec::ResultKind;
    use proptest::prelude::*;

    fn tasks_of(count: usize) -> TasksSpec {
        let values: Vec<String> = (0..count).map(|i| i.to_string()).collect();
        let job = format!(
            "name: records\ntasks:\n  params:\n    x: [{}]\n  command: [echo, '{{x}}']\n  result: json\n",
            values.join(", ")
        );
        parse(&job).unwrap().tasks().unwrap().clone()
    }

    /// Task `i` reports `{"y": i/10}`, except that every 7th fails and task 5 reports an array
    /// (a shape the reduction fails).
    fn outcomes(count: u64) -> Vec<TaskOutcome> {
        (0..count)
            .map(|task| {
                let line = match task {
                    5 => r#"{"y": [1, 2]}"#.to_string(),
                    _ => format!(r#"{{"y": {}}}"#, task as f64 / 10.0),
                };
                TaskOutcome {
                    task,
                    attempts: 1,
                    values: parse_output(ResultKind::Json, &line).unwrap(),
                    failure: (task % 7 == 6).then(|| format!("task {task} exited with 1")),
                    log: format!("logs/task-{task}.err"),
                    stdout: format!("logs/task-{task}.out"),
                    elapsed_s: 0.25,
                    stderr_tail: Vec::new(),
                    outputs: Vec::new(),
                    slice: None,
                    node: None,
                }
            })
            .collect()
    }

    /// The records as the reduction of all outcomes at once gives them, held in memory.
    fn held(tasks: &TasksSpec, outcomes: &[TaskOutcome]) -> (Map<String, Value>, TaskRecords) {
        let summary = summarize(outcomes, tasks.result, &[Statistic::Sum]);
        let records = outcomes
            .iter()
            .map(|o| {
                let reason = summary
                    .failed
                    .iter()
                    .find(|f| f.task == o.task)
                    .and_then(|f| f.failure.clone());
                TaskRecord::new(tasks, o.clone(), reason)
            })
            .collect();
        (summary.result, TaskRecords::Held(records))
    }

    fn files(records: &TaskRecords) -> (String, String) {
        let dir = tempfile::tempdir().unwrap();
        write_task_files(dir.path(), records).unwrap();
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
        (read("tasks.jsonl"), read("tasks.csv"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn outcomes_arriving_in_any_order_are_reduced_and_recorded_in_task_order(
            order in Just((0..30u64).collect::<Vec<_>>()).prop_shuffle()
        ) {
            let tasks = tasks_of(30);
            let all = outcomes(30);
            let (result, expected) = held(&tasks, &all);
            let dir = tempfile::tempdir().unwrap();
            let mut recorder = TaskRecorder::new(&tasks, &[Statistic::Sum], dir.path()).unwrap();
            for &task in &order {
                recorder.arrive(all[task as usize].clone()).unwrap();
            }
            let recorded = recorder.finish().unwrap();
            prop_assert_eq!(&recorded.result, &result);
            prop_assert_eq!(recorded.succeeded, 30 - 4 - 1);
            let failed: Vec<u64> = recorded.failed.iter().map(|r| r.task).collect();
            prop_assert_eq!(failed, [5, 6, 13, 20, 27]);
            prop_assert_eq!(
                serde_json::to_string(&recorded.tasks).unwrap(),
                serde_json::to_string(&expected).unwrap()
            );
            prop_assert_eq!(files(&recorded.tasks), files(&expected));
            // More than the table shows: the records stay in the spool alone.
            prop_assert!(recorded.tasks.few().is_none());
        }
    }

    #[test]
    fn outcomes_behind_a_task_that_never_finished_are_recorded_at_the_end() {
        let tasks = tasks_of(4);
        let all = outcomes(4);
        let dir = tempfile::tempdir().unwrap();
        let mut recorder = TaskRecorder::new(&tasks, &[Statistic::Sum], dir.path()).unwrap();
        for task in [3, 0, 2] {
            recorder.arrive(all[task].clone()).unwrap();
        }
        let recorded = recorder.finish().unwrap();
        let few: Vec<u64> = recorded
            .tasks
            .few()
            .unwrap()
            .iter()
            .map(|r| r.task)
            .collect();
        assert_eq!(few, [0, 2, 3]);
        let (_, csv) = files(&recorded.tasks);
        assert_eq!(
            csv,
            "task,status,x,y,reason\n0,succeeded,0,0,\n2,succeeded,2,0.2,\n3,succeeded,3,0.3,\n"
        );
    }

    #[test]
    fn a_report_read_back_holds_the_records_it_was_written_with() {
        let tasks = tasks_of(3);
        let dir = tempfile::tempdir().unwrap();
        let recorded = TaskRecorder::new(&tasks, &[Statistic::Sum], dir.path())
            .unwrap()
            .record_all(outcomes(3))
            .unwrap();
        let text = serde_json::to_string(&recorded.tasks).unwrap();
        let back: TaskRecords = serde_json::from_str(&text).unwrap();
        assert!(matches!(back, TaskRecords::Held(ref records) if records.len() == 3));
        assert_eq!(serde_json::to_string(&back).unwrap(), text);
    }
}

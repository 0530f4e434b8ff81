//! What a scheduler's queue says about a run's jobs.

use serde::Serialize;

/// Where a job (or one array element) stands in the queue. Jobs that left the queue are not
/// listed at all: leaving it says nothing about success, which only the parts tell.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueState {
    Pending,
    Running,
    /// Held or suspended: in the queue, but not going to run until someone acts; and why, as
    /// the scheduler says (HTCondor's hold reason, Slurm's state name).
    Held(String),
    /// Left the queue, as the scheduler still remembers: `COMPLETED`, or why it did not,
    /// such as `TIMEOUT`, `CANCELLED`, `NODE_FAIL`, `OUT_OF_MEMORY`, `PREEMPTED`, an exit code.
    Ended(String),
    /// A state hpcsub does not know, as the scheduler named it.
    Other(String),
}

impl QueueState {
    /// Slurm's long state names (`squeue -o %T`).
    pub fn from_slurm(name: &str) -> QueueState {
        match name {
            "PENDING" | "CONFIGURING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED"
            | "RESV_DEL_HOLD" => QueueState::Pending,
            "RUNNING" | "COMPLETING" | "STAGE_OUT" | "SIGNALING" | "RESIZING" => {
                QueueState::Running
            }
            "SUSPENDED" | "STOPPED" => QueueState::Held(name.to_string()),
            "COMPLETED" | "FAILED" | "TIMEOUT" | "CANCELLED" | "NODE_FAIL" | "OUT_OF_MEMORY"
            | "PREEMPTED" | "BOOT_FAIL" | "DEADLINE" | "REVOKED" | "SPECIAL_EXIT" => {
                QueueState::Ended(name.to_string())
            }
            other => QueueState::Other(other.to_string()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            QueueState::Pending => "pending",
            QueueState::Running => "running",
            QueueState::Held(_) => "held",
            QueueState::Ended(name) | QueueState::Other(name) => name,
        }
    }
}

impl QueueState {
    /// Whether the job is still in the queue (pending, running, held).
    pub fn queued(&self) -> bool {
        !matches!(self, QueueState::Ended(_))
    }
}

/// One job, or one element of an array job, in the queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QueueEntry {
    pub job_id: String,
    /// The slice an array element or proc computes; `None` for other jobs (the gather).
    pub slice: Option<u32>,
    pub state: QueueState,
}

/// What one look at the queue found: the run's jobs still there, and whether the jobs waited
/// for have all ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Poll {
    pub entries: Vec<QueueEntry>,
    pub ended: bool,
}

//! Partial results and their exact reduction: the accumulator every backend merges, and the
//! final statistics derived from it once.

pub mod accumulator;
pub mod double_double;
pub mod exact_sum;
pub mod summary;
pub mod task_results;

pub use accumulator::{Accumulator, Histogram, LaneStats, Tracked};
pub use summary::Summary;

//! The local executor: one process, `threads` threads taking whole blocks from a shared counter
//! (dynamic scheduling), each folding its blocks into its own exact accumulator.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use crate::kernel::rng::BLOCK_SAMPLES;
use crate::kernel::{Evaluator, Kernel};
use crate::plan::Slice;
use crate::progress::Progress;
use crate::reduce::Accumulator;
use crate::spec::HistogramSpec;

/// Computes the blocks of `slice` on `threads` threads and returns their exact reduction.
pub fn run_slice(
    kernel: &Kernel,
    histogram: Option<HistogramSpec>,
    slice: &Slice,
    threads: usize,
    progress: &Progress,
) -> Accumulator {
    let next_block = AtomicU64::new(slice.first_block);
    let workers = threads.clamp(1, (slice.end_block - slice.first_block).max(1) as usize);
    let (sender, receiver) = mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let sender = sender.clone();
            let next_block = &next_block;
            scope.spawn(move || {
                let mut evaluator = Evaluator::for_kernel(kernel);
                let mut acc = Accumulator::new(kernel.shift, histogram);
                loop {
                    let block = next_block.fetch_add(1, Ordering::Relaxed);
                    if block >= slice.end_block {
                        break;
                    }
                    let start = block * BLOCK_SAMPLES;
                    let end = start.saturating_add(BLOCK_SAMPLES).min(slice.end);
                    evaluator.run_block(block, start..end, &mut acc);
                    progress.advance(end - start);
                }
                // The receiver outlives every worker inside this scope.
                let _ = sender.send(acc);
            });
        }
        drop(sender);
        let mut total = Accumulator::new(kernel.shift, histogram);
        let mut finished = 0;
        while finished < workers {
            match receiver.recv_timeout(Duration::from_millis(100)) {
                Ok(acc) => {
                    total.merge(&acc);
                    finished += 1;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => progress.refresh(),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        total
    })
}

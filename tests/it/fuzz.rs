//! Mutation fuzzing of job files: thousands of mutants of the example jobs, each checked by the
//! real binary, which must answer every one with a result or a located error, never a panic,
//! a signal or a hang.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// Mutants per run; each is checked in well under a second.
const MUTANTS: usize = 3000;
/// Longer than any check takes; past it, the mutant hung hpcsub.
const LIMIT: Duration = Duration::from_secs(20);

/// A small deterministic generator (xorshift64*), so a failure names a reproducible mutant.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PIECES: [&str; 24] = [
    ":",
    "-",
    "[",
    "]",
    "{",
    "}",
    ",",
    "#",
    "\"",
    "'",
    "\n",
    " ",
    "1e308",
    "-0",
    "nan",
    "0x",
    "(",
    ")",
    "^",
    "9999999999999999999999",
    "{task}",
    "{x}",
    "steps.a.mean",
    "\u{feff}",
];

fn mutate(text: &str, rng: &mut Rng) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(chars.len() + 1);
        match rng.below(5) {
            0 if !chars.is_empty() => {
                chars.remove(at.min(chars.len() - 1));
            }
            1 => {
                let piece = PIECES[rng.below(PIECES.len())];
                chars.splice(at..at, piece.chars());
            }
            2 if !chars.is_empty() => {
                let from = rng.below(chars.len());
                let len = rng.below(40).min(chars.len() - from);
                let copy: Vec<char> = chars[from..from + len].to_vec();
                chars.splice(at..at, copy);
            }
            3 if !chars.is_empty() => {
                let i = at.min(chars.len() - 1);
                chars[i] = char::from(b' ' + rng.below(95) as u8);
            }
            _ => {
                let lines: Vec<String> = chars
                    .iter()
                    .collect::<String>()
                    .lines()
                    .map(str::to_string)
                    .collect();
                if lines.len() > 1 {
                    let (a, b) = (rng.below(lines.len()), rng.below(lines.len()));
                    let mut lines = lines;
                    lines.swap(a, b);
                    chars = (lines.join("\n") + "\n").chars().collect();
                }
            }
        }
    }
    chars.into_iter().collect()
}

#[test]
fn no_mutant_of_an_example_job_panics_crashes_or_hangs() {
    let examples: Vec<String> = std::fs::read_dir(repo_path("jobs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2u64)
            .map(|worker| {
                let examples = &examples;
                let dir = dir.path();
                scope.spawn(move || {
                    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (worker + 1));
                    let mut failures = Vec::new();
                    for n in 0..MUTANTS / 2 {
                        let text = mutate(&examples[rng.below(examples.len())], &mut rng);
                        let path = dir.join(format!("mutant-{worker}-{n}.yaml"));
                        std::fs::write(&path, &text).unwrap();
                        let mut child = Command::new(env!("CARGO_BIN_EXE_hpcsub"))
                            .args(["check", "--json"])
                            .arg(&path)
                            .current_dir(repo_path("jobs"))
                            .stdout(Stdio::null())
                            .stderr(Stdio::piped())
                            .spawn()
                            .unwrap();
                        let started = Instant::now();
                        let status = loop {
                            if let Some(status) = child.try_wait().unwrap() {
                                break Some(status);
                            }
                            if started.elapsed() > LIMIT {
                                let _ = child.kill();
                                let _ = child.wait();
                                break None;
                            }
                            std::thread::sleep(Duration::from_millis(2));
                        };
                        let mut stderr = String::new();
                        if let Some(mut pipe) = child.stderr.take() {
                            let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                        }
                        let verdict = match status.map(|s| s.code()) {
                            None => Some("hung".to_string()),
                            Some(None) => Some("killed by a signal".to_string()),
                            Some(Some(0 | 2)) if !stderr.contains("panicked") => None,
                            Some(Some(code)) => Some(format!("exit code {code}: {stderr}")),
                        };
                        match verdict {
                            Some(why) => {
                                failures.push(format!("{}: {why}\n{text}", path.display()))
                            }
                            None => {
                                let _ = std::fs::remove_file(&path);
                            }
                        }
                    }
                    failures
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {MUTANTS} mutants failed:\n{}",
        failures.len(),
        failures.join("\n---\n")
    );
}

//! `hpcsub scale`: the job timed at several configurations of ranks and threads, with the
//! classic scaling measures. The maths lives here, apart from the running, so it can be
//! tested on fixed timings; [`plot`] draws the chart.

pub mod plot;

use serde_json::{Value, json};

/// One configuration: `ranks` processes of `threads` threads each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    pub ranks: u32,
    pub threads: usize,
}

impl Config {
    pub fn workers(self) -> usize {
        self.ranks as usize * self.threads
    }

    pub fn label(self) -> String {
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        format!(
            "{} x {}",
            plural(self.ranks as usize, "rank"),
            plural(self.threads, "thread")
        )
    }
}

/// The wall times of the repeated runs of one configuration, in seconds.
#[derive(Clone, Debug)]
pub struct Measured {
    pub config: Config,
    pub times: Vec<f64>,
}

/// One row of the table. Speed-up and efficiency are relative to the first row, whose
/// workers count as the unit (p = workers / first row's workers).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub config: Config,
    pub best_s: f64,
    pub median_s: f64,
    pub speedup: f64,
    pub efficiency: f64,
    /// Karp-Flatt's experimentally determined serial fraction, (1/S - 1/p) / (1 - 1/p); none
    /// for p = 1.
    pub karp_flatt: Option<f64>,
}

fn median(times: &[f64]) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    }
}

/// Relative workers of each row: workers divided by the first row's.
fn relative_workers(measured: &[Measured]) -> Vec<f64> {
    let unit = measured.first().map_or(1, |m| m.config.workers()) as f64;
    measured
        .iter()
        .map(|m| m.config.workers() as f64 / unit)
        .collect()
}

pub fn rows(measured: &[Measured]) -> Vec<Row> {
    let Some(first) = measured.first() else {
        return Vec::new();
    };
    let base = first.times.iter().copied().fold(f64::INFINITY, f64::min);
    measured
        .iter()
        .zip(relative_workers(measured))
        .map(|(m, p)| {
            let best_s = m.times.iter().copied().fold(f64::INFINITY, f64::min);
            let speedup = base / best_s;
            Row {
                config: m.config,
                best_s,
                median_s: median(&m.times),
                speedup,
                efficiency: speedup / p,
                karp_flatt: (p > 1.0).then(|| (1.0 / speedup - 1.0 / p) / (1.0 - 1.0 / p)),
            }
        })
        .collect()
}

/// Amdahl's law: the speed-up on `p` workers of a job whose serial fraction is `serial`.
pub fn amdahl(serial: f64, p: f64) -> f64 {
    1.0 / (serial + (1.0 - serial) / p)
}

/// The serial fraction in [0, 1] whose Amdahl curve fits the measured speed-ups best (least
/// squares), over the rows of at most `cpus` workers: beyond them the workers share cores, which
/// Amdahl's law does not describe. None without two such rows of different worker counts.
pub fn amdahl_fit(measured: &[Measured], rows: &[Row], cpus: usize) -> Option<f64> {
    let points: Vec<(f64, f64)> = relative_workers(measured)
        .into_iter()
        .zip(rows)
        .filter(|(_, row)| row.config.workers() <= cpus)
        .map(|(p, row)| (p, row.speedup))
        .collect();
    if !points.iter().any(|&(p, _)| p != 1.0) {
        return None;
    }
    let error = |serial: f64| -> f64 {
        points
            .iter()
            .map(|&(p, s)| (s - amdahl(serial, p)).powi(2))
            .sum()
    };
    // The error is smooth in one variable: a fine grid, then one finer around the best.
    let best_on = |low: f64, high: f64| -> f64 {
        (0..=1000)
            .map(|i| low + (high - low) * f64::from(i) / 1000.0)
            .min_by(|a, b| error(*a).total_cmp(&error(*b)))
            .unwrap_or(low)
    };
    let coarse = best_on(0.0, 1.0);
    Some(best_on(
        (coarse - 0.001).max(0.0),
        (coarse + 0.001).min(1.0),
    ))
}

/// The table people read.
pub fn table(rows: &[Row], serial: Option<f64>) -> String {
    let mut text = format!(
        "{:<22} {:>7} {:>10} {:>11} {:>9} {:>11} {:>11}\n",
        "configuration",
        "workers",
        "best (s)",
        "median (s)",
        "speed-up",
        "efficiency",
        "Karp-Flatt"
    );
    for row in rows {
        text.push_str(&format!(
            "{:<22} {:>7} {:>10.4} {:>11.4} {:>9.2} {:>10.0}% {:>11}\n",
            row.config.label(),
            row.config.workers(),
            row.best_s,
            row.median_s,
            row.speedup,
            row.efficiency * 100.0,
            row.karp_flatt
                .map_or("-".to_string(), |e| format!("{e:.3}")),
        ));
    }
    if let Some(serial) = serial {
        text.push_str(&format!(
            "Amdahl fit: serial fraction {serial:.3} (speed-up limit {})\n",
            if serial > 0.0 {
                format!("{:.0}x", 1.0 / serial)
            } else {
                "none".into()
            }
        ));
    }
    text
}

pub fn to_json(measured: &[Measured], rows: &[Row], serial: Option<f64>) -> Value {
    json!({
        "rows": measured.iter().zip(rows).map(|(m, row)| json!({
            "ranks": row.config.ranks,
            "threads": row.config.threads,
            "workers": row.config.workers(),
            "times_s": m.times,
            "best_s": row.best_s,
            "median_s": row.median_s,
            "speedup": row.speedup,
            "efficiency": row.efficiency,
            "karp_flatt": row.karp_flatt,
        })).collect::<Vec<_>>(),
        "amdahl_serial_fraction": serial,
    })
}

/// A comma-separated list of positive whole numbers, such as `1,2,4`.
pub fn parse_list(text: &str, what: &str) -> Result<Vec<usize>, String> {
    let values: Vec<usize> = text
        .split(',')
        .map(|item| {
            item.trim()
                .parse::<usize>()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| {
                    format!(
                        "{what}: `{}` is not a whole number of at least 1",
                        item.trim()
                    )
                })
        })
        .collect::<Result<_, _>>()?;
    if values.is_empty() {
        return Err(format!("{what}: give at least one number, such as 1,2,4"));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(threads: usize, times: &[f64]) -> Measured {
        Measured {
            config: Config { ranks: 1, threads },
            times: times.to_vec(),
        }
    }

    #[test]
    fn speedup_efficiency_and_karp_flatt_from_fixed_timings() {
        let runs = [
            measured(1, &[10.0, 11.0, 12.0]),
            measured(2, &[5.5, 5.0, 6.0]),
            measured(4, &[3.0, 2.9, 4.0, 3.1]),
        ];
        let rows = rows(&runs);
        assert_eq!(rows[0].best_s, 10.0);
        assert_eq!(rows[0].median_s, 11.0);
        assert_eq!(rows[0].speedup, 1.0);
        assert_eq!(rows[0].efficiency, 1.0);
        assert_eq!(rows[0].karp_flatt, None);
        assert_eq!(rows[1].speedup, 2.0);
        assert_eq!(rows[1].efficiency, 1.0);
        assert_eq!(rows[1].karp_flatt, Some(0.0));
        assert_eq!(rows[2].median_s, 3.05);
        let s = 10.0 / 2.9;
        assert!((rows[2].speedup - s).abs() < 1e-12);
        assert!((rows[2].efficiency - s / 4.0).abs() < 1e-12);
        let e = (1.0 / s - 0.25) / 0.75;
        assert!((rows[2].karp_flatt.unwrap() - e).abs() < 1e-12);
    }

    #[test]
    fn the_amdahl_fit_recovers_a_known_serial_fraction() {
        let serial = 0.1;
        let runs: Vec<Measured> = [1, 2, 4, 8]
            .into_iter()
            .map(|p| measured(p, &[1.0 / amdahl(serial, p as f64)]))
            .collect();
        let rows = rows(&runs);
        let fitted = amdahl_fit(&runs, &rows, 8).unwrap();
        assert!((fitted - serial).abs() < 1e-5, "{fitted}");
        let oversubscribed = amdahl_fit(&runs, &rows, 4).unwrap();
        assert!((oversubscribed - serial).abs() < 1e-5, "{oversubscribed}");
        let mut slower = runs.clone();
        slower[3].times = vec![1.0];
        let slower_rows = super::rows(&slower);
        assert_eq!(amdahl_fit(&slower, &slower_rows, 4), Some(oversubscribed));
        for row in &rows[1..] {
            assert!((row.karp_flatt.unwrap() - serial).abs() < 1e-12);
        }
        assert_eq!(amdahl_fit(&runs[..1], &rows[..1], 8), None);
        assert_eq!(amdahl_fit(&runs, &rows, 1), None);
    }

    #[test]
    fn relative_to_a_first_row_of_several_workers() {
        let runs = [
            Measured {
                config: Config {
                    ranks: 1,
                    threads: 2,
                },
                times: vec![4.0],
            },
            Measured {
                config: Config {
                    ranks: 2,
                    threads: 2,
                },
                times: vec![2.5],
            },
        ];
        let rows = rows(&runs);
        assert_eq!(rows[1].speedup, 1.6);
        assert_eq!(rows[1].efficiency, 0.8);
        assert!((rows[1].karp_flatt.unwrap() - 0.25).abs() < 1e-12);
    }

    #[test]
    fn lists_of_counts() {
        assert_eq!(parse_list("1, 2,4", "--threads"), Ok(vec![1, 2, 4]));
        assert!(parse_list("1,0", "--threads").unwrap_err().contains("`0`"));
        assert!(parse_list("two", "--ranks").is_err());
    }
}

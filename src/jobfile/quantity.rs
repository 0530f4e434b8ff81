//! Parsing of the human-friendly quantities a job file holds: sample counts, durations and
//! memory sizes. Each parser returns a message that says what was expected.

use std::time::Duration;

/// A sample count: `200000000`, `200_000_000`, `2e8`, `200M`, `1.5k`. Exact: decimal arithmetic,
/// never floating point, so `2e8` is 200000000 and not "about" it.
pub fn parse_count(text: &str) -> Result<u64, String> {
    let expected =
        "expected a whole number of samples such as 200000000, 200_000_000, 2e8, 200M or 1.5k";
    let cleaned: String = text.trim().chars().filter(|c| *c != '_').collect();
    if cleaned.starts_with('-') {
        return Err(format!("`{text}` is negative; {expected}"));
    }
    let (number, suffix_exponent) = match cleaned.char_indices().last() {
        Some((i, 'k' | 'K')) => (&cleaned[..i], 3),
        Some((i, 'M')) => (&cleaned[..i], 6),
        Some((i, 'G')) => (&cleaned[..i], 9),
        Some((i, 'T')) => (&cleaned[..i], 12),
        _ => (cleaned.as_str(), 0),
    };
    let bad = || format!("`{text}` is not a count; {expected}");
    let (mantissa, exponent) = match number.find(['e', 'E']) {
        Some(i) => {
            let exp: i32 = number[i + 1..].parse().map_err(|_| bad())?;
            (&number[..i], exp)
        }
        None => (number, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if int_part.is_empty() && frac_part.is_empty()
        || !all_digits(int_part)
        || !all_digits(frac_part)
    {
        return Err(bad());
    }
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    let scale = exponent
        .checked_add(suffix_exponent)
        .and_then(|e| e.checked_sub(frac_part.len() as i32))
        .ok_or_else(bad)?;
    if digits.is_empty() {
        return Ok(0);
    }
    let too_large = || format!("`{text}` is too large: at most {} samples", u64::MAX);
    let (digits, scale) = if scale < 0 {
        let drop = (-scale) as usize;
        if drop > digits.len() || digits[digits.len() - drop..].chars().any(|c| c != '0') {
            return Err(format!("`{text}` is not a whole number; {expected}"));
        }
        (&digits[..digits.len() - drop], 0)
    } else {
        (digits, scale as u32)
    };
    if digits.len() as u64 + u64::from(scale) > 20 {
        return Err(too_large());
    }
    let base: u128 = digits.parse().map_err(|_| too_large())?;
    let value = base
        .checked_mul(10u128.pow(scale))
        .filter(|v| *v <= u128::from(u64::MAX))
        .ok_or_else(too_large)?;
    Ok(value as u64)
}

/// A duration: `90s`, `10m`, `2h`, `1d12h` (units in decreasing order), or Slurm's
/// `[D-]HH:MM:SS`, `D-HH[:MM]`, `MM:SS`. A bare number is refused because Slurm reads it as
/// minutes and people often mean seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let expected = "expected a duration such as 90s, 10m, 2h, 1d12h or Slurm's [D-]HH:MM:SS";
    let seconds = if text.chars().all(|c| c.is_ascii_digit()) && !text.is_empty() {
        return Err(format!(
            "`{text}` has no unit; write `{text}s` for seconds or `{text}m` for minutes"
        ));
    } else if text.contains(':') || text.contains('-') {
        parse_slurm_clock(text).ok_or_else(|| format!("`{text}` is not a duration; {expected}"))?
    } else {
        parse_unit_duration(text)
            .ok_or_else(|| format!("`{text}` is not a duration; {expected}"))?
    };
    if seconds == 0 {
        return Err(format!("`{text}` is zero; a job needs some time"));
    }
    Ok(Duration::from_secs(seconds))
}

/// A per-task timeout: any [`parse_duration`], or a fraction of a second such as `0.5s` or
/// `250ms` (tasks are timed by hpcsub itself, not by a scheduler counting whole seconds).
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let fraction = if let Some(ms) = text.strip_suffix("ms") {
        ms.parse::<u64>().ok().map(Duration::from_millis)
    } else if let Some(s) = text.strip_suffix('s').filter(|s| s.contains('.')) {
        s.parse::<f64>()
            .ok()
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
    } else {
        None
    };
    match fraction {
        Some(d) if d.is_zero() => Err(format!("`{text}` is zero")),
        Some(d) => Ok(d),
        None => parse_duration(text),
    }
}

fn parse_unit_duration(text: &str) -> Option<u64> {
    let units = [('d', 86_400u64), ('h', 3_600), ('m', 60), ('s', 1)];
    let mut rest = text;
    let mut total: u64 = 0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits_end = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits_end == 0 {
            return None;
        }
        let value: u64 = rest[..digits_end].parse().ok()?;
        let unit = rest[digits_end..].chars().next()?;
        let position = units[next_unit..].iter().position(|(u, _)| *u == unit)? + next_unit;
        total = total.checked_add(value.checked_mul(units[position].1)?)?;
        next_unit = position + 1;
        rest = &rest[digits_end + 1..];
    }
    Some(total)
}

fn parse_slurm_clock(text: &str) -> Option<u64> {
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    let (days, clock) = match text.split_once('-') {
        Some((d, rest)) => (number(d)?, rest),
        None => (0, text),
    };
    let parts: Vec<u64> = clock.split(':').map(number).collect::<Option<_>>()?;
    let has_days = text.contains('-');
    let (h, m, s) = match (has_days, parts.as_slice()) {
        (true, [h]) => (*h, 0, 0),
        (true, [h, m]) => (*h, *m, 0),
        (_, [h, m, s]) => (*h, *m, *s),
        (false, [m, s]) => (0, *m, *s),
        _ => return None,
    };
    days.checked_mul(86_400)?
        .checked_add(h.checked_mul(3_600)?)?
        .checked_add(m.checked_mul(60)?)?
        .checked_add(s)
}

/// A memory size in bytes: `512MiB`, `1GiB`, `2G` (binary, as Slurm reads it), `1GB` (decimal),
/// `1048576` or `1048576B`.
pub fn parse_memory(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let multiplier: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "T" | "TiB" => 1 << 40,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        other => {
            return Err(format!(
                "unknown memory unit `{other}` in `{text}`; use B, KiB, MiB, GiB, TiB (or K, M, G, T), or KB, MB, GB, TB"
            ));
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a memory size; expected e.g. 512MiB or 1GiB"))?;
    let bytes = (value * multiplier as f64).ceil();
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("`{text}` is not a usable memory size"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn counts_in_every_documented_form() {
        for (text, value) in [
            ("200000000", 200_000_000),
            ("200_000_000", 200_000_000),
            ("2e8", 200_000_000),
            ("2E8", 200_000_000),
            ("200M", 200_000_000),
            ("1.5k", 1_500),
            ("0.25M", 250_000),
            ("1e0", 1),
            ("18446744073709551615", u64::MAX),
            ("1G", 1_000_000_000),
            ("0", 0),
        ] {
            assert_eq!(parse_count(text), Ok(value), "{text}");
        }
    }

    #[test]
    fn counts_that_are_not_whole_or_too_large() {
        for (text, fragment) in [
            ("1.5", "not a whole number"),
            ("1.2345k", "not a whole number"),
            ("-5", "negative"),
            ("18446744073709551616", "too large"),
            ("1e30", "too large"),
            ("1e999999999999", "not a count"),
            ("abc", "not a count"),
            ("", "not a count"),
            ("2e", "not a count"),
            ("k", "not a count"),
            ("1..2", "not a count"),
        ] {
            let err = parse_count(text).unwrap_err();
            assert!(err.contains(fragment), "{text}: {err}");
        }
    }

    #[test]
    fn durations() {
        for (text, secs) in [
            ("90s", 90),
            ("10m", 600),
            ("2h", 7_200),
            ("1d12h", 129_600),
            ("1h30m", 5_400),
            ("01:30:00", 5_400),
            ("1-00:00:00", 86_400),
            ("2-12", 216_000),
            ("2-12:30", 217_800),
            ("05:30", 330),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
        }
        for text in ["10", "10x", "m10", "1m1h", "0s", "1:2:3:4", "-5", "", "1-"] {
            assert!(parse_duration(text).is_err(), "{text}");
        }
        assert!(parse_duration("10").unwrap_err().contains("`10s`"));
    }

    #[test]
    fn timeouts_also_take_fractions_of_a_second() {
        assert_eq!(parse_timeout("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_timeout("0.5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_timeout("5m"), Ok(Duration::from_secs(300)));
        for text in ["0ms", "0.0s", "-1.5s", "1.5", "ms"] {
            assert!(parse_timeout(text).is_err(), "{text}");
        }
    }

    #[test]
    fn memory_sizes() {
        for (text, bytes) in [
            ("1GiB", 1 << 30),
            ("512MiB", 512 << 20),
            ("2G", 2 << 30),
            ("1GB", 1_000_000_000),
            ("1024", 1024),
            ("1.5KiB", 1536),
        ] {
            assert_eq!(parse_memory(text), Ok(bytes), "{text}");
        }
        for text in ["1 parsec", "GiB", "0", "-1GiB", "1e400GiB"] {
            assert!(parse_memory(text).is_err(), "{text}");
        }
    }

    proptest! {
        #[test]
        fn count_parser_never_panics(text in "\\PC{0,30}") {
            let _ = parse_count(&text);
            let _ = parse_duration(&text);
            let _ = parse_memory(&text);
        }

        #[test]
        fn count_round_trips_plain_and_underscored(n in any::<u64>()) {
            prop_assert_eq!(parse_count(&n.to_string()), Ok(n));
            let digits = n.to_string();
            let underscored: String = digits
                .chars()
                .enumerate()
                .flat_map(|(i, c)| if i > 0 && (digits.len() - i) % 3 == 0 { vec!['_', c] } else { vec![c] })
                .collect();
            prop_assert_eq!(parse_count(&underscored), Ok(n));
        }
    }
}

//! The value parsers every flag of one kind shares: durations, sizes, addresses, counts.
//!
//! One parser per kind, so `--max-message-bytes 1MiB` and `bench --max-size 64KiB` accept the
//! same spellings, and every address flag says the same thing about a missing port.

use std::time::Duration;

/// Parses `500ms`, `10s`, `2m`, `1h` (a bare number is seconds).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (examples: 500ms, 10s, 2m)"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}` (use ms, s, m or h)"
            ))
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

/// `1024`, `64KiB`, `16MiB`, `1GiB` (also `K`, `KB`, `M`, `MB`, `G`, `GB`: powers of 1024 all
/// the same).
pub(crate) fn parse_size(text: &str) -> Result<usize, String> {
    let lower = text.trim().to_ascii_lowercase();
    let digits = lower.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let shift = match &lower[digits.len()..] {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => return Err(format!("unknown unit {other:?}: use KiB, MiB or GiB")),
    };
    let number: usize = digits
        .trim()
        .parse()
        .map_err(|e| format!("{text:?} is not a size (examples: 300, 64KiB, 1MiB): {e}"))?;
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text} is too large"))
}

/// `HOST:PORT` (`127.0.0.1:4000`, `localhost:4000`, `[::1]:4000`), checked for a port before
/// anything is resolved, so a missing port is named as such; or `unix:PATH`, a unix socket.
pub(crate) fn parse_host_port(text: &str) -> Result<String, String> {
    if let Some(path) = text.strip_prefix("unix:") {
        if path.is_empty() {
            return Err(
                "expected unix:PATH, e.g. unix:/run/windlass.sock (the path is empty)".into(),
            );
        }
        return Ok(text.to_string());
    }
    let missing = || format!("expected HOST:PORT, e.g. 127.0.0.1:4000 (`{text}` has no port)");
    let (host, port) = text.rsplit_once(':').ok_or_else(missing)?;
    // `::1` alone splits inside the IPv6 address: an IPv6 host needs brackets.
    if host.is_empty() || (host.contains(':') && !host.starts_with('[')) {
        return Err(missing());
    }
    port.parse::<u16>().map_err(|_| {
        format!("expected HOST:PORT, e.g. 127.0.0.1:4000 (`{port}` is not a port number)")
    })?;
    Ok(text.to_string())
}

/// A count of threads: at least 1 (0 is refused by name, not silently raised).
pub(crate) fn parse_workers(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1 (a server needs a worker thread)".to_string()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("`{text}` is not a number of threads: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5 parsecs")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("300"), Ok(300));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("16 MiB"), Ok(16 << 20));
        assert_eq!(parse_size("2k"), Ok(2048));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert!(parse_size("3 TiB").is_err());
        assert!(parse_size("KiB").is_err());
        assert!(parse_size("-1").is_err());
    }

    #[test]
    fn addresses_need_a_port() {
        assert_eq!(
            parse_host_port("127.0.0.1:4000"),
            Ok("127.0.0.1:4000".into())
        );
        assert!(parse_host_port("localhost:0").is_ok());
        assert!(parse_host_port("[::1]:4000").is_ok());
        for bad in ["127.0.0.1", "localhost", "::1", ":4000"] {
            let e = parse_host_port(bad).expect_err(bad);
            assert!(e.contains("expected HOST:PORT"), "{bad}: {e}");
            assert!(e.contains("has no port"), "{bad}: {e}");
        }
        let e = parse_host_port("127.0.0.1:http").expect_err("named port");
        assert!(e.contains("is not a port number"), "{e}");
        assert!(parse_host_port("127.0.0.1:70000").is_err());
    }

    #[test]
    fn zero_workers_is_refused() {
        assert_eq!(parse_workers("2"), Ok(2));
        assert!(parse_workers("0").unwrap_err().contains("at least 1"));
        assert!(parse_workers("many").is_err());
    }
}

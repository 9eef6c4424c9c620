//! `windlass-calc bench` runs every mode for a fraction of a second and prints parseable output.
//! No speed is asserted: only that the figures exist and are consistent.

use std::collections::HashMap;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_windlass-calc");

fn bench(args: &[&str]) -> Output {
    let out = Command::new(BIN)
        .arg("bench")
        .args(args)
        .output()
        .expect("run windlass-calc bench");
    assert!(
        out.status.success(),
        "bench {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A flat JSON object (what `--json` prints) as key → raw value text; panics if malformed.
fn parse_flat_json(line: &str) -> HashMap<String, String> {
    let body = line
        .strip_prefix('{')
        .and_then(|l| l.strip_suffix('}'))
        .unwrap_or_else(|| panic!("not a JSON object: {line}"));
    let mut fields = HashMap::new();
    let mut rest = body;
    while !rest.is_empty() {
        let key_end = rest[1..].find('"').expect("closed key") + 1;
        assert!(rest.starts_with('"'), "key must be quoted: {rest}");
        let key = &rest[1..key_end];
        let after = rest[key_end + 1..].strip_prefix(':').expect("colon");
        let value_len = if after.starts_with('"') {
            // Skip escaped characters inside the string.
            let bytes = after.as_bytes();
            let mut i = 1;
            while bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i + 1
        } else {
            after.find(',').unwrap_or(after.len())
        };
        let value = &after[..value_len];
        assert!(
            value.starts_with('"')
                || value == "null"
                || value == "true"
                || value == "false"
                || value.parse::<f64>().is_ok(),
            "bad value for {key}: {value}"
        );
        fields.insert(key.to_string(), value.to_string());
        rest = after[value_len..].strip_prefix(',').unwrap_or("");
    }
    fields
}

fn number(fields: &HashMap<String, String>, key: &str) -> f64 {
    fields[key]
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number: {fields:?}"))
}

fn json_lines(args: &[&str]) -> Vec<HashMap<String, String>> {
    let mut all = vec!["--json"];
    if !args.contains(&"--secs") {
        all.extend(["--secs", "0.2"]);
    }
    all.extend_from_slice(args);
    let out = bench(&all);
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    stdout.lines().map(parse_flat_json).collect()
}

fn check_consistent(fields: &HashMap<String, String>) {
    assert!(number(fields, "ops") > 0.0, "{fields:?}");
    assert!(number(fields, "calls_per_sec") > 0.0, "{fields:?}");
    let [p50, p90, p99, max] = ["p50_us", "p90_us", "p99_us", "max_us"].map(|k| number(fields, k));
    assert!(
        0.0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= max,
        "{fields:?}"
    );
}

#[test]
fn every_mode_runs_in_process_and_prints_json_lines() {
    for (mode, extra, depth, conns) in [
        ("seq", None, 1.0, 1.0),
        ("pipe", Some("4"), 4.0, 1.0),
        ("conns", None, 1.0, 3.0),
        ("chain", Some("5"), 5.0, 1.0),
    ] {
        let mut args = vec![mode, "--conns", "3"];
        if let Some(depth) = extra {
            args.extend(["--depth", depth]);
        }
        let lines = json_lines(&args);
        assert_eq!(lines.len(), 1, "{mode}: {lines:?}");
        let fields = &lines[0];
        assert_eq!(fields["mode"], format!("\"{mode}\""));
        assert_eq!(number(fields, "depth"), depth, "{mode}");
        assert_eq!(number(fields, "conns"), conns, "{mode}");
        assert_eq!(fields["tls"], "false");
        check_consistent(fields);
        if cfg!(target_os = "linux") {
            assert!(number(fields, "server_cpu_us_per_call") > 0.0, "{fields:?}");
        }
    }
}

#[test]
fn the_table_has_a_header_and_one_row_per_run() {
    let out = bench(&["seq", "--secs", "0.1", "--runs", "2"]);
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    // A last `# steal: …` line appears when the hypervisor took CPU time during the runs.
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| !l.starts_with("# steal: "))
        .collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(lines[0].starts_with("# placement:"), "{stdout}");
    assert!(
        lines[1].contains("calls/s") && lines[1].contains("p99"),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("windlass 1w") && lines[2].contains("seq"),
        "{stdout}"
    );
}

#[test]
fn the_call_count_bounds_a_run() {
    let lines = json_lines(&["pipe", "--depth", "8", "--calls", "5", "--secs", "30"]);
    assert_eq!(number(&lines[0], "ops"), 5.0);
}

#[cfg(feature = "tls")]
#[test]
fn tls_and_two_workers_run() {
    let lines = json_lines(&["conns", "--conns", "4", "--tls", "--workers", "2"]);
    assert_eq!(lines[0]["tls"], "true");
    assert_eq!(lines[0]["label"], "\"windlass 2w\"");
    check_consistent(&lines[0]);
}

#[test]
fn an_external_server_is_measured_with_its_process_cpu() {
    let server = windlass::Server::bind("127.0.0.1:0", windlass::server::Options::new(), |_| {
        windlass_calculator::new_client().client
    })
    .expect("server");
    let addr = server.local_addr().to_string();
    let pid = std::process::id().to_string();
    let lines = json_lines(&["seq", "--connect", &addr, "--pid", &pid]);
    assert_eq!(lines[0]["label"], format!("\"{addr}\""));
    check_consistent(&lines[0]);
    assert_ne!(lines[0]["server_cpu_us_per_call"], "null");
    server.shutdown().expect("shutdown");
}

/// `--work K` sends a tree of K `add` calls; the load generator checks every result (n + K), so a
/// run that completes calls proves the server evaluated the whole tree.
#[test]
fn work_sends_trees_of_add_calls_and_checks_their_sums() {
    for (mode, work) in [("seq", "1"), ("pipe", "64"), ("conns", "7")] {
        let lines = json_lines(&[mode, "--work", work, "--conns", "2", "--depth", "4"]);
        assert_eq!(lines[0]["work"], work, "{mode}");
        check_consistent(&lines[0]);
    }
    let plain = json_lines(&["seq", "--calls", "3"]);
    assert_eq!(plain[0]["work"], "0");
    let out = bench(&["conns", "--conns", "2", "--work", "16", "--secs", "0.1"]);
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert!(stdout.contains("conns n=2 w=16"), "{stdout}");
}

#[test]
fn work_is_refused_where_it_does_not_apply() {
    for (args, says) in [
        (
            &["chain", "--work", "3"][..],
            "a chain's calls are its work",
        ),
        (&["seq", "--work", "5000"], "over the maximum of 1024"),
        (
            &["compare", "--work", "3"],
            "--work is for seq, pipe and conns",
        ),
        (
            &["framing", "--work", "3"],
            "drop --connect, --bare, --workers and --work",
        ),
    ] {
        let out = Command::new(BIN)
            .arg("bench")
            .args(args)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn a_bad_duration_is_refused() {
    let out = Command::new(BIN)
        .args(["bench", "seq", "--secs=-1"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--secs"));
}

#[test]
fn the_flat_json_parser_reads_escapes() {
    let fields = parse_flat_json(r#"{"a":"x\"y,z","b":1.5,"c":null}"#);
    assert_eq!(fields["a"], r#""x\"y,z""#);
    assert_eq!(fields["b"], "1.5");
    assert_eq!(fields["c"], "null");
}

#[test]
fn compare_runs_every_contender_in_every_mode() {
    let plots = std::env::temp_dir().join(format!("windlass-bench-plots-{}", std::process::id()));
    let plot_dir = plots.to_str().expect("utf-8 temp dir");
    let lines = json_lines(&[
        "compare",
        "--secs",
        "0.1",
        "--depth",
        "4",
        "--conns",
        "2",
        "--workers",
        "2",
        "--plot",
        plot_dir,
    ]);
    for name in ["calls-seq.svg", "latency-pipe.svg", "calls-conns.svg"] {
        let svg = std::fs::read_to_string(plots.join(name)).expect("chart written");
        assert!(
            svg.starts_with("<svg") && svg.contains("windlass 1w"),
            "{name}"
        );
    }
    let _ = std::fs::remove_dir_all(&plots);
    let seen = |label: &str, mode: &str| {
        lines.iter().any(|fields| {
            fields["label"] == format!("\"{label}\"") && fields["mode"] == format!("\"{mode}\"")
        })
    };
    for mode in ["seq", "pipe"] {
        assert!(seen("raw TCP", mode), "{lines:?}");
    }
    assert!(!seen("raw TCP", "conns"), "{lines:?}");
    assert!(!seen("raw TCP", "chain"), "{lines:?}");
    for label in ["bare capnp-rpc", "windlass 1w", "windlass 2w"] {
        for mode in ["seq", "pipe", "conns", "chain"] {
            assert!(seen(label, mode), "{label} {mode}: {lines:?}");
        }
    }
    if cfg!(feature = "tls") {
        assert!(seen("windlass 1w TLS", "seq"), "{lines:?}");
    }
    for fields in &lines {
        check_consistent(fields);
    }
}

#[test]
fn bare_capnp_rpc_is_measured_in_process() {
    let lines = json_lines(&["pipe", "--depth", "4", "--bare"]);
    assert_eq!(lines[0]["label"], "\"bare capnp-rpc\"");
    check_consistent(&lines[0]);
    if cfg!(target_os = "linux") {
        assert!(
            number(&lines[0], "server_cpu_us_per_call") > 0.0,
            "{:?}",
            lines[0]
        );
    }
}

#[test]
fn the_placement_line_says_how_threads_are_pinned() {
    let out = bench(&["seq", "--secs", "0.1"]);
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let placement = stdout.lines().next().unwrap_or_default();
    assert!(placement.starts_with("# placement: "), "{stdout}");
    assert!(placement.contains("load generator on 1 thread"), "{stdout}");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cfg!(target_os = "linux") && cores >= 2 {
        // Pinned by default, unless the kernel refused, which must then be said.
        assert!(
            placement.contains("server threads pinned to CPU")
                || stderr.contains("warning: cannot pin"),
            "{stdout}\n{stderr}"
        );
    }
    // `--no-pin` and `--pin off` are the older spellings, still accepted.
    for off in [&["--no-cpu-pin"][..], &["--no-pin"], &["--pin", "off"]] {
        let out = bench(&[&["seq", "--secs", "0.1"][..], off].concat());
        let stdout = String::from_utf8(out.stdout).expect("utf-8");
        assert!(
            stdout.starts_with("# placement: ")
                && stdout.contains("nothing pinned (--cpu-pin off)"),
            "{off:?}: {stdout}"
        );
    }
}

/// Columns of a `bench framing` table row: size, segments, what, then the numbers.
fn framing_row(line: &str) -> (String, String, String, Vec<f64>) {
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert!(fields.len() >= 7, "short row: {line}");
    let numbers: Vec<f64> = fields[fields.len() - 4..]
        .iter()
        .map(|f| f.parse().unwrap_or_else(|_| panic!("{f} in {line}")))
        .collect();
    let what = fields[2..fields.len() - 4].join(" ");
    (fields[0].into(), fields[1].into(), what, numbers)
}

const FRAMING_OPS: [&str; 8] = [
    "memcpy",
    "decode",
    "capnp read",
    "capnp flat",
    "packed decode",
    "capnp packed read",
    "encode",
    "capnp write",
];

#[test]
fn framing_prints_every_row_with_sane_figures() {
    let out = bench(&["framing", "--secs", "0.2", "--max-size", "64KiB"]);
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let mut lines = stdout.lines();
    assert!(
        lines.next().is_some_and(|l| l.starts_with("# placement: ")),
        "{stdout}"
    );
    let rows: Vec<_> = lines
        .filter(|l| !l.starts_with('#') && !l.contains("ns/msg"))
        .map(framing_row)
        .collect();
    let mut expected = Vec::new();
    for size in ["1KiB", "64KiB"] {
        for segs in ["1", "64"] {
            for op in FRAMING_OPS {
                expected.push((size.to_string(), segs.to_string(), op.to_string()));
            }
        }
    }
    let seen: Vec<_> = rows
        .iter()
        .map(|(size, segs, what, _)| (size.clone(), segs.clone(), what.clone()))
        .collect();
    assert_eq!(seen, expected, "{stdout}");
    for (_, _, what, numbers) in &rows {
        let [ns, gbs, x_memcpy, copied] = numbers[..] else {
            unreachable!()
        };
        assert!(ns.is_finite() && ns > 0.0, "{what}: {numbers:?}");
        assert!(gbs.is_finite() && gbs > 0.0, "{what}: {numbers:?}");
        assert!(
            x_memcpy.is_finite() && x_memcpy > 0.0,
            "{what}: {numbers:?}"
        );
        assert!(copied >= 0.0, "{what}: {numbers:?}");
        if what == "memcpy" {
            assert_eq!(x_memcpy, 1.0, "{what}: {numbers:?}");
        }
    }
}

#[test]
fn framing_prints_json_lines() {
    let lines = json_lines(&["framing", "--secs", "0.1", "--max-size", "1KiB"]);
    assert_eq!(lines.len(), 2 * FRAMING_OPS.len(), "{lines:?}");
    for (fields, op) in lines.iter().zip(FRAMING_OPS.iter().cycle()) {
        assert_eq!(fields["bench"], "\"framing\"");
        assert_eq!(fields["what"], format!("\"{op}\""));
        assert_eq!(number(fields, "size"), 1024.0);
        for key in ["ns_per_msg", "gb_per_sec", "x_memcpy", "memcpy_ns"] {
            let x = number(fields, key);
            assert!(x.is_finite() && x > 0.0, "{key}: {fields:?}");
        }
    }
}

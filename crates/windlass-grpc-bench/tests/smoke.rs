//! The gRPC contender runs: every mode against tonic and windlass for a fraction of a second,
//! JSON lines with sane figures, charts when asked, and a clear error for a bad flag.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_windlass-grpc-bench");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run windlass-grpc-bench")
}

/// `"key":value` of a flat JSON line, as text.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let at = line
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("no {key} in {line}"));
    let rest = &line[at + key.len() + 3..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn every_mode_measures_tonic_and_windlass_and_plots() {
    let dir = std::env::temp_dir().join(format!("windlass-grpc-smoke-{}", std::process::id()));
    let dir_arg = dir.to_string_lossy().into_owned();
    let out = run(&[
        "--secs", "0.1", "--depth", "4", "--conns", "3", "--json", "--plot", &dir_arg,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    // 3 modes × (windlass, tonic) × (1 worker, N workers).
    assert_eq!(lines.len(), 12, "{stdout}");
    for line in &lines {
        assert!(
            field(line, "ops").parse::<u64>().expect("ops") > 0,
            "{line}"
        );
        assert!(
            field(line, "calls_per_sec").parse::<f64>().expect("rate") > 0.0,
            "{line}"
        );
    }
    let tonic: Vec<&&str> = lines.iter().filter(|l| l.contains("tonic gRPC")).collect();
    assert_eq!(tonic.len(), 6, "{stdout}");
    for mode in ["seq", "pipe", "conns"] {
        for chart in ["calls", "latency"] {
            let path = dir.join(format!("grpc-{chart}-{mode}.svg"));
            let svg = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            assert!(
                svg.starts_with("<svg") && svg.contains("tonic gRPC 1w"),
                "{path:?}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_flag_value_is_refused_with_its_name() {
    let out = run(&["--secs", "soon"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--secs soon"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

//! The web bench end to end on a handful of calls: both servers start, every mode runs against
//! both, the figures and the table come out. Never asserts speed.
//!
//! Needs `node`, `npm ci` in crates/windlass-bench/js and a built `windlass-calc`; run it with
//! `WINDLASS_CALC=<target>/release/windlass-calc cargo test -p windlass-bench --test web_smoke --
//! --ignored` (without `WINDLASS_CALC`, the `windlass-calc` of this test's own target profile).

use std::path::PathBuf;

use windlass_bench::web::{self, WebMode, WebPlan, WebTools};
use windlass_bench::Placement;

#[test]
#[ignore = "needs node, `npm ci` in crates/windlass-bench/js and a built windlass-calc (WINDLASS_CALC)"]
fn every_mode_runs_against_both_servers() {
    let mut tools = WebTools::beside_current_exe();
    if let Some(calc) = std::env::var_os("WINDLASS_CALC") {
        tools.windlass_calc = PathBuf::from(calc);
    }
    let plan = WebPlan {
        secs: 5.0,
        warmup_secs: 0.0,
        max_ops: 3,
        runs: 1,
        modes: WebMode::ALL.to_vec(),
    };
    let placement = Placement::unpinned("a smoke test");
    let reports = web::compare(&tools, &plan, &placement, |_| {}).expect("the bench runs");
    assert_eq!(reports.len(), 2 * WebMode::ALL.len());
    for report in &reports {
        assert_eq!(report.figures.ops, 3, "{}", report.line());
        let per_op = if matches!(report.mode, WebMode::Batch10 | WebMode::TenRequests) {
            10
        } else {
            1
        };
        assert_eq!(report.figures.calls, 3 * per_op, "{}", report.line());
        assert!(report.figures.server_cpu.is_some(), "{}", report.line());
    }
    let table = web::summary(&reports, &plan.modes);
    assert!(table.contains("windlass ÷ node"), "{table}");
    assert_eq!(web::plots(&reports, &plan.modes).expect("charts").len(), 3);
}

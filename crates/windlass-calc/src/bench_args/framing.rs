//! `windlass-calc bench framing`: the framing codecs against memcpy, printed as a table or JSON
//! lines (`windlass_bench::framing` does the measuring).

use std::process::ExitCode;

use windlass_bench::{cpu_list, framing};

use super::placement::pinned;
use super::{report_error, Bench};

/// `bench framing`: the framing table, on this (pinned) thread.
pub(super) fn run(args: &Bench) -> ExitCode {
    let default_budget = framing::DEFAULT_WINDOW.as_secs_f64() * framing::Plan::new().rows() as f64;
    let budget = match args.duration(default_budget) {
        Ok(budget) => budget,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut plan = framing::Plan::new().with_budget(budget);
    if let Some(bytes) = args.max_size {
        plan = plan.with_max_size(bytes);
    }
    let pinned = pinned(args);
    if !args.json {
        let placement = match pinned.split() {
            Some(split) => format!(
                "{} cores; measured on this thread, pinned to {}",
                pinned.cores(),
                cpu_list(&split.load)
            ),
            None => pinned.to_string(),
        };
        println!("# placement: {placement}");
        println!(
            "# best round of {:.0} ms per row; x memcpy = time per message / a memcpy of it, \
             measured in the same run",
            plan.window().as_secs_f64() * 1e3
        );
        println!("{}", framing::Row::table_header());
    }
    let printed = framing::run(&plan, |row| {
        if args.json {
            println!("{}", row.json_line());
        } else {
            println!("{}", row.table_row());
        }
    });
    match printed {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report_error(&e),
    }
}

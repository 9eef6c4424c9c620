//! Where `windlass-calc bench` runs its threads: pinning as --cpu-pin says, and the placement line
//! printed above every table.

use windlass_bench::{cpu_list, BenchError, Placement};

use super::Bench;

/// Chooses the CPUs and pins the calling thread (the load generator), as --cpu-pin says; a refusal
/// is a warning.
pub(super) fn pinned(args: &Bench) -> Placement {
    let placement = Placement::apply(args.pinning());
    if let Some(warning) = placement.warning() {
        eprintln!("warning: {warning}");
    }
    placement
}

/// A server's threads could not be pinned: say so, and measure anyway.
pub(super) fn warn_unpinned(pinned: Result<usize, BenchError>) {
    if let Err(e) = pinned {
        eprintln!("warning: server threads left unpinned: {e}");
    }
}

/// Which servers a placement line describes.
#[derive(Clone, Copy)]
pub(super) enum Servers<'a> {
    /// windlass in this process, with this many workers (compare: the most of its contenders).
    Windlass(usize),
    /// bare capnp-rpc in this process.
    Bare,
    /// A server elsewhere, at this address.
    External(&'a str),
}

/// Where the server and the load generator run, for the line above the table.
pub(super) fn placement(placement: &Placement, servers: Servers<'_>) -> String {
    let threads = match servers {
        Servers::Windlass(workers) => {
            format!("server with 1 acceptor + {workers} worker thread(s)")
        }
        Servers::Bare => "bare capnp-rpc server on 1 thread".into(),
        Servers::External(addr) => {
            let load = match placement.split() {
                Some(split) => format!(
                    "{} cores; load generator pinned to {}",
                    placement.cores(),
                    cpu_list(&split.load)
                ),
                None => placement.to_string(),
            };
            return format!(
                "placement: {load}; the server at {addr} is placed by whoever started it \
                 (e.g. `taskset -c 0 windlass-calc serve`)"
            );
        }
    };
    format!("placement: {placement}; in this process: {threads}, load generator on 1 thread")
}

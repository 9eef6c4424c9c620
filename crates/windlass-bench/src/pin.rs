//! Where the benchmark's threads run: the server's threads on one set of CPUs, the load generator
//! on another, the same way for every contender, and a line that says so.
//!
//! On a small machine the server and the load generator compete for the cores. Left to the
//! scheduler, which thread shares a core with which changes from run to run and from contender
//! to contender (a one-thread server may have a core to itself in one run and share the load
//! generator's in the next), and that shows up as spread. Pinning makes the placement part of
//! the setup: the load generator (one thread) gets the last CPU the process may use, the server
//! every other one — on 2 cores, the server CPU 0 and the load generator CPU 1. The server set
//! does not depend on the contender's worker count, so every contender gets the same CPUs.
//!
//! Pinning is `sched_setaffinity` (through `rustix`, Linux only). The load generator pins itself;
//! a server's threads are found by name under `/proc/self/task` (or, for a server process, every
//! thread under `/proc/PID/task`) and pinned by thread id. A new thread inherits its creator's
//! CPUs, so threads that a pinned server starts later stay on the server's set. Elsewhere than on
//! Linux nothing is pinned, and [`Placement`] says so.

use std::fmt;
use std::str::FromStr;

use super::BenchError;

/// Whether to pin: `auto` (the default), `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pinning {
    /// Pin when it can be done (on Linux, with at least 2 CPUs allowed); otherwise pin nothing,
    /// quietly.
    #[default]
    Auto,
    /// Pin, and warn when it cannot be done.
    On,
    /// Pin nothing: the scheduler places every thread.
    Off,
}

/// A `--cpu-pin` value other than `auto`, `on` or `off`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown pinning {0:?}: expected auto, on or off")]
pub struct ParsePinningError(String);

impl FromStr for Pinning {
    type Err = ParsePinningError;

    /// `auto`; `on` (or `yes`, `true`); `off` (or `no`, `false`, `none`). Case is ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Pinning::Auto),
            "on" | "yes" | "true" => Ok(Pinning::On),
            "off" | "no" | "false" | "none" => Ok(Pinning::Off),
            _ => Err(ParsePinningError(s.to_string())),
        }
    }
}

/// The CPUs of the server and of the load generator: disjoint and never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuSplit {
    /// Every thread of the server: all allowed CPUs but the last.
    pub server: Vec<usize>,
    /// The load generator's thread: the last allowed CPU.
    pub load: Vec<usize>,
}

impl CpuSplit {
    /// Splits the `allowed` CPU numbers (any order): the load generator, one thread, gets the
    /// highest; the server gets the others. `None` with fewer than 2 CPUs.
    pub fn of(allowed: &[usize]) -> Option<Self> {
        let mut cpus = allowed.to_vec();
        cpus.sort_unstable();
        cpus.dedup();
        let load = cpus.pop()?;
        (!cpus.is_empty()).then(|| Self {
            server: cpus,
            load: vec![load],
        })
    }
}

/// `CPU 3`, `CPUs 0-2`, `CPUs 0,2,5-7`: a CPU list for people.
pub fn cpu_list(cpus: &[usize]) -> String {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for &cpu in cpus {
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == cpu => *end = cpu,
            _ => ranges.push((cpu, cpu)),
        }
    }
    let text: Vec<String> = ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    let noun = if cpus.len() == 1 { "CPU" } else { "CPUs" };
    format!("{noun} {}", text.join(","))
}

/// Where the server and the load generator run, chosen once per benchmark command and applied
/// to every contender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// CPUs this process may use.
    cores: usize,
    /// `None`: nothing pinned.
    split: Option<CpuSplit>,
    /// Why nothing is pinned, when nothing is.
    reason: String,
    /// Pinning was asked for and could not be done.
    warning: Option<String>,
}

impl Placement {
    /// Nothing pinned, because `reason` (shown in parentheses, e.g. `--cpu-pin off`).
    pub fn unpinned(reason: impl Into<String>) -> Self {
        Self {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            split: None,
            reason: reason.into(),
            warning: None,
        }
    }

    /// Chooses the CPUs as `pinning` asks, from those the calling thread may use, and pins the
    /// calling thread — the load generator — to its CPU. Call it once, on the thread that will
    /// drive the load, before starting servers (they start on the load generator's CPU and are
    /// moved by [`pin_threads_named`](Self::pin_threads_named) or
    /// [`pin_process`](Self::pin_process)).
    ///
    /// Never fails: when the kernel refuses (e.g. a container whose policy forbids it), nothing
    /// is pinned and [`warning`](Self::warning) says why.
    pub fn apply(pinning: Pinning) -> Self {
        if pinning == Pinning::Off {
            return Self::unpinned("--cpu-pin off");
        }
        let mut placement = Self::choose(sys::allowed_cpus());
        if placement.split.is_none() {
            if pinning == Pinning::On {
                placement.warning = Some(format!(
                    "--cpu-pin on: cannot pin ({}); nothing pinned",
                    placement.reason
                ));
            }
            return placement;
        }
        if let Err(e) = placement.pin_current_to_load() {
            let warning = format!("cannot pin threads, so nothing is pinned: {e}");
            placement.split = None;
            placement.reason = "the kernel refused".into();
            placement.warning = Some(warning);
        }
        placement
    }

    /// The split for these allowed CPUs, without pinning anything.
    fn choose(allowed: std::io::Result<Vec<usize>>) -> Self {
        if !cfg!(target_os = "linux") {
            return Self::unpinned("not Linux");
        }
        let allowed = match allowed {
            Ok(allowed) => allowed,
            Err(e) => return Self::unpinned(format!("cannot read the allowed CPUs: {e}")),
        };
        let cores = allowed.len().max(1);
        match CpuSplit::of(&allowed) {
            Some(split) => Self {
                cores,
                split: Some(split),
                reason: String::new(),
                warning: None,
            },
            None => Self {
                cores,
                ..Self::unpinned("one CPU allowed")
            },
        }
    }

    /// CPUs this process may use (or the machine's parallelism where that cannot be read).
    pub fn cores(&self) -> usize {
        self.cores
    }

    /// The CPUs of the server and of the load generator; `None` when nothing is pinned.
    pub fn split(&self) -> Option<&CpuSplit> {
        self.split.as_ref()
    }

    /// Why pinning that was asked for did not happen, for the user to see.
    pub fn warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    /// Pins the calling thread to the server's CPUs (a server thread pinning itself as it
    /// starts). Does nothing when nothing is pinned.
    ///
    /// # Errors
    /// When the kernel refuses.
    pub fn pin_current_to_server(&self) -> Result<(), BenchError> {
        match &self.split {
            Some(split) => pin_current(&split.server),
            None => Ok(()),
        }
    }

    /// Pins the calling thread to the load generator's CPU. Does nothing when nothing is pinned.
    ///
    /// # Errors
    /// When the kernel refuses.
    pub fn pin_current_to_load(&self) -> Result<(), BenchError> {
        match &self.split {
            Some(split) => pin_current(&split.load),
            None => Ok(()),
        }
    }

    /// Pins every thread of this process whose name starts with `prefix` (as
    /// `/proc/self/task/*/comm` shows it: at most 15 bytes) to the server's CPUs, and returns how
    /// many it pinned. Threads name themselves as they start: call it once the server reports
    /// ready. Does nothing (returns 0) when nothing is pinned.
    ///
    /// # Errors
    /// When no thread matches, the threads cannot be listed or the kernel refuses; a thread that
    /// exits meanwhile is skipped.
    pub fn pin_threads_named(&self, prefix: &str) -> Result<usize, BenchError> {
        match &self.split {
            Some(split) => {
                let wanted = |name: &str| name.starts_with(prefix);
                pin_tasks(
                    "/proc/self/task",
                    wanted,
                    split,
                    &format!("thread named {prefix}…"),
                )
            }
            None => Ok(0),
        }
    }

    /// Pins every thread of process `pid` (a server in its own process) to the server's CPUs,
    /// and returns how many it pinned. Does nothing (returns 0) when nothing is pinned.
    ///
    /// # Errors
    /// As [`pin_threads_named`](Self::pin_threads_named).
    pub fn pin_process(&self, pid: u32) -> Result<usize, BenchError> {
        match &self.split {
            Some(split) => {
                let tasks = format!("/proc/{pid}/task");
                pin_tasks(&tasks, |_| true, split, &format!("thread of process {pid}"))
            }
            None => Ok(0),
        }
    }
}

impl fmt::Display for Placement {
    /// `2 cores; server threads pinned to CPU 0, load generator to CPU 1`, or
    /// `2 cores, nothing pinned (--cpu-pin off)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cores = match self.cores {
            1 => "1 core".to_string(),
            n => format!("{n} cores"),
        };
        match &self.split {
            Some(split) => write!(
                f,
                "{cores}; server threads pinned to {}, load generator to {}",
                cpu_list(&split.server),
                cpu_list(&split.load)
            ),
            None => write!(f, "{cores}, nothing pinned ({})", self.reason),
        }
    }
}

/// Logs a refused pinning of `who`: the run goes on, placed by the scheduler.
pub(super) fn warn_unpinned<T>(result: Result<T, BenchError>, who: &str) {
    if let Err(e) = result {
        tracing::warn!("{who} left unpinned: {e}");
    }
}

/// Pins the calling thread to `cpus`.
fn pin_current(cpus: &[usize]) -> Result<(), BenchError> {
    sys::pin(None, cpus).map_err(|source| BenchError::Io {
        what: format!("pinning the calling thread to {}", cpu_list(cpus)),
        source,
    })
}

/// Pins the tasks listed under `tasks` whose name passes `wanted` (described as `whom`) to the
/// server's CPUs; an error if there was none.
fn pin_tasks(
    tasks: &str,
    wanted: impl Fn(&str) -> bool,
    split: &CpuSplit,
    whom: &str,
) -> Result<usize, BenchError> {
    let entries = std::fs::read_dir(tasks).map_err(|source| BenchError::Io {
        what: format!("listing the threads in {tasks}"),
        source,
    })?;
    let mut pinned = 0;
    for entry in entries.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        // A thread that exits between the listing and here has no `comm` any more: skip it.
        let Ok(name) = std::fs::read_to_string(entry.path().join("comm")) else {
            continue;
        };
        let name = name.trim_end();
        if !wanted(name) {
            continue;
        }
        match sys::pin(Some(tid), &split.server) {
            Ok(()) => pinned += 1,
            Err(e) if sys::exited(&e) => {}
            Err(source) => {
                return Err(BenchError::Io {
                    what: format!(
                        "pinning thread {tid} ({name}) to {}",
                        cpu_list(&split.server)
                    ),
                    source,
                })
            }
        }
    }
    if pinned == 0 {
        return Err(BenchError::Io {
            what: format!("pinning to {}", cpu_list(&split.server)),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, format!("no {whom}")),
        });
    }
    Ok(pinned)
}

#[cfg(target_os = "linux")]
mod sys {
    use std::io;

    use rustix::thread::{sched_getaffinity, sched_setaffinity, CpuSet, Pid};

    /// The CPUs thread `tid` (`None`: the calling thread) may run on, ascending.
    pub(super) fn affinity(tid: Option<i32>) -> io::Result<Vec<usize>> {
        let set = sched_getaffinity(tid.map(pid).transpose()?)?;
        Ok((0..CpuSet::MAX_CPU)
            .filter(|&cpu| set.is_set(cpu))
            .collect())
    }

    /// The CPUs the calling thread may run on: normally the process's (a container's cpuset or
    /// `taskset` narrow it).
    pub(super) fn allowed_cpus() -> io::Result<Vec<usize>> {
        affinity(None)
    }

    pub(super) fn pin(tid: Option<i32>, cpus: &[usize]) -> io::Result<()> {
        let mut set = CpuSet::new();
        // `CpuSet::set` panics past its size; a CPU that large cannot be allowed anyway.
        for &cpu in cpus.iter().filter(|&&cpu| cpu < CpuSet::MAX_CPU) {
            set.set(cpu);
        }
        Ok(sched_setaffinity(tid.map(pid).transpose()?, &set)?)
    }

    /// Whether `e` says the thread no longer exists (`ESRCH`).
    pub(super) fn exited(e: &io::Error) -> bool {
        e.raw_os_error() == Some(rustix::io::Errno::SRCH.raw_os_error())
    }

    fn pid(tid: i32) -> io::Result<Pid> {
        Pid::from_raw(tid).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use std::io;

    pub(super) fn allowed_cpus() -> io::Result<Vec<usize>> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub(super) fn pin(_tid: Option<i32>, _cpus: &[usize]) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub(super) fn exited(_e: &io::Error) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinning_parses() {
        assert_eq!("auto".parse(), Ok(Pinning::Auto));
        assert_eq!("ON".parse(), Ok(Pinning::On));
        assert_eq!("off".parse(), Ok(Pinning::Off));
        assert_eq!("none".parse(), Ok(Pinning::Off));
        let err = "sometimes".parse::<Pinning>().expect_err("not a pinning");
        assert!(err.to_string().contains("auto, on or off"), "{err}");
    }

    #[test]
    fn the_load_generator_gets_the_last_cpu() {
        let split = CpuSplit::of(&[0, 1]).expect("2 cpus");
        assert_eq!((split.server, split.load), (vec![0], vec![1]));
        let split = CpuSplit::of(&[5, 2, 3, 9, 2]).expect("4 cpus");
        assert_eq!((split.server, split.load), (vec![2, 3, 5], vec![9]));
        assert_eq!(CpuSplit::of(&[4]), None);
        assert_eq!(CpuSplit::of(&[]), None);
    }

    #[test]
    fn cpu_lists_read_as_ranges() {
        assert_eq!(cpu_list(&[1]), "CPU 1");
        assert_eq!(cpu_list(&[0, 1, 2]), "CPUs 0-2");
        assert_eq!(cpu_list(&[0, 2, 5, 6, 7]), "CPUs 0,2,5-7");
    }

    #[test]
    fn placements_describe_themselves() {
        let placement = Placement::choose(Ok(vec![0, 1]));
        let expected = if cfg!(target_os = "linux") {
            "2 cores; server threads pinned to CPU 0, load generator to CPU 1"
        } else {
            "nothing pinned (not Linux)"
        };
        assert!(placement.to_string().ends_with(expected), "{placement}");
        if cfg!(target_os = "linux") {
            let one = Placement::choose(Ok(vec![3]));
            assert_eq!(one.to_string(), "1 core, nothing pinned (one CPU allowed)");
        }
        let off = Placement::apply(Pinning::Off);
        assert!(off.to_string().ends_with("nothing pinned (--cpu-pin off)"));
        assert_eq!(off.warning(), None);
        assert_eq!(off.pin_threads_named("anything").expect("no-op"), 0);
    }

    /// Runs `f` on a fresh thread named `name`, so that pinning it leaves the test harness's
    /// threads alone.
    #[cfg(target_os = "linux")]
    fn on_thread<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .name(name.into())
            .spawn(f)
            .expect("spawn")
            .join()
            .expect("join")
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn pinning_the_current_thread_shows_in_its_affinity() {
        let allowed = sys::allowed_cpus().expect("sched_getaffinity");
        let Some(split) = CpuSplit::of(&allowed) else {
            return; // One CPU: nothing to split.
        };
        let placement = Placement {
            split: Some(split.clone()),
            ..Placement::unpinned("")
        };
        let (load, server) = on_thread("wlpin-test", move || {
            placement.pin_current_to_load().expect("pin to load");
            let load = sys::allowed_cpus().expect("affinity");
            placement.pin_current_to_server().expect("pin to server");
            (load, sys::allowed_cpus().expect("affinity"))
        });
        assert_eq!(load, split.load);
        assert_eq!(server, split.server);
        assert!(split
            .server
            .iter()
            .chain(&split.load)
            .all(|c| allowed.contains(c)));
    }

    /// This process's CPUs split between server and load generator, and a placement using the
    /// split; `None` on a machine with a single allowed CPU.
    #[cfg(target_os = "linux")]
    fn split_placement() -> Option<(CpuSplit, Placement)> {
        let allowed = sys::allowed_cpus().expect("sched_getaffinity");
        let split = CpuSplit::of(&allowed)?;
        let placement = Placement {
            split: Some(split.clone()),
            ..Placement::unpinned("")
        };
        Some((split, placement))
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn threads_are_pinned_by_name() {
        let Some((split, placement)) = split_placement() else {
            return;
        };
        let (ready, is_ready) = std::sync::mpsc::channel();
        let (go, gone) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("wlpin-named".into())
            .spawn(move || {
                let _ = ready.send(());
                let _ = gone.recv();
                sys::allowed_cpus().expect("affinity")
            })
            .expect("spawn");
        is_ready.recv().expect("ready");
        assert_eq!(placement.pin_threads_named("wlpin-named").expect("pin"), 1);
        let none = placement
            .pin_threads_named("wlpin-nobody")
            .expect_err("nobody");
        assert!(
            none.to_string().contains("no thread named wlpin-nobody"),
            "{none}"
        );
        go.send(()).expect("go");
        assert_eq!(thread.join().expect("join"), split.server);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_child_process_is_pinned_whole() {
        let Some((split, placement)) = split_placement() else {
            return;
        };
        let Ok(mut child) = std::process::Command::new("sleep").arg("10").spawn() else {
            return; // No `sleep` here.
        };
        let pid = child.id();
        let pinned = placement.pin_process(pid);
        let affinity = sys::affinity(i32::try_from(pid).ok());
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(pinned.expect("pin"), 1);
        assert_eq!(affinity.expect("affinity"), split.server);
    }
}

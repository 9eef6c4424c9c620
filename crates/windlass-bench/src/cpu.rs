//! CPU time of threads, read from Linux's `/proc`: what a server spends per call, separately from
//! the load generator that shares the machine with it.
//!
//! `/proc/<pid>/task/<tid>/schedstat` gives a thread's time on a CPU in nanoseconds (its first
//! field); the 100 Hz tick counts of `stat` would be too coarse for runs of a fraction of a
//! second. Threads that have exited are no longer listed, so measure threads that outlive the run.
//! Elsewhere than on Linux every reading is `None`.

use std::path::Path;
use std::time::Duration;

/// Whose CPU time to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpuProbe {
    /// Threads of this process whose name starts with the prefix, e.g. a server started with
    /// `Options::with_thread_name(prefix)`.
    ThreadsNamed(String),
    /// Every thread of another process (e.g. a server started with `windlass-calc serve`).
    Process(u32),
    /// The calling thread (the load generator, which runs on one thread).
    CurrentThread,
}

impl CpuProbe {
    /// The CPU time used so far, or `None` when `/proc` cannot tell (not Linux, process gone).
    pub fn read(&self) -> Option<Duration> {
        let nanos = match self {
            CpuProbe::ThreadsNamed(prefix) => {
                threads_nanos(Path::new("/proc/self/task"), |name| {
                    name.starts_with(prefix.as_str())
                })?
            }
            CpuProbe::Process(pid) => threads_nanos(
                &Path::new("/proc").join(pid.to_string()).join("task"),
                |_| true,
            )?,
            CpuProbe::CurrentThread => schedstat_nanos(Path::new("/proc/thread-self"))?,
        };
        Some(Duration::from_nanos(nanos))
    }
}

/// The sum over the threads under `tasks` whose name passes `wanted`; `None` if `tasks` cannot
/// be listed or no thread matched.
fn threads_nanos(tasks: &Path, wanted: impl Fn(&str) -> bool) -> Option<u64> {
    let mut total = None;
    for task in std::fs::read_dir(tasks).ok()?.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !wanted(name.trim_end()) {
            continue;
        }
        // A thread may exit between listing and reading: skip it.
        if let Some(nanos) = schedstat_nanos(&path) {
            total = Some(total.unwrap_or(0) + nanos);
        }
    }
    total
}

/// The first field of `<task>/schedstat`: nanoseconds spent on a CPU.
fn schedstat_nanos(task: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(task.join("schedstat")).ok()?;
    parse_schedstat(&text)
}

fn parse_schedstat(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// The machine's CPU time as `/proc/stat` counts it, all CPUs together: enough to tell how much
/// of it a hypervisor gave to other guests ("steal") while a benchmark ran. On a shared virtual
/// machine that is what makes one run's figures 2x another's, so `bench` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MachineTicks {
    /// Every tick: user, nice, system, idle, iowait, irq, softirq, steal.
    pub total: u64,
    /// Ticks taken by the hypervisor for other guests.
    pub steal: u64,
}

impl MachineTicks {
    /// The counters now; `None` where there is no `/proc/stat` (or its format is unknown).
    pub fn read() -> Option<Self> {
        parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// Share of the CPU time between `self` and `later` that was stolen, 0 to 1; `None` if no
    /// time passed.
    pub fn steal_share_until(&self, later: &Self) -> Option<f64> {
        let total = later.total.checked_sub(self.total)?;
        let steal = later.steal.checked_sub(self.steal)?;
        (total > 0).then(|| steal as f64 / total as f64)
    }

    /// [`MachineTicks::steal_share_until`] now.
    pub fn steal_share_since(&self) -> Option<f64> {
        self.steal_share_until(&Self::read()?)
    }
}

/// The aggregate `cpu` line of `/proc/stat`: `cpu user nice system idle iowait irq softirq steal
/// guest guest_nice` (guest time is already counted in user).
fn parse_proc_stat(text: &str) -> Option<MachineTicks> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let counted = fields.get(..8)?;
    Some(MachineTicks {
        total: counted.iter().sum(),
        steal: counted[7],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steal_is_read_from_the_aggregate_cpu_line() {
        let before =
            parse_proc_stat("cpu  100 5 20 800 10 0 5 60 7 0\ncpu0 50 2 10 400 5 0 2 30 3 0\n")
                .expect("parsed");
        assert_eq!(
            before,
            MachineTicks {
                total: 1000,
                steal: 60
            }
        );
        let after = MachineTicks {
            total: 1400,
            steal: 160,
        };
        assert_eq!(before.steal_share_until(&after), Some(0.25));
        assert_eq!(before.steal_share_until(&before), None);
        assert_eq!(parse_proc_stat("cpu  1 2 3\n"), None);
        assert_eq!(parse_proc_stat("intr 5\n"), None);
    }

    #[test]
    fn schedstat_first_field_is_nanoseconds() {
        assert_eq!(parse_schedstat("128979 3369015 2\n"), Some(128_979));
        assert_eq!(parse_schedstat(""), None);
        assert_eq!(parse_schedstat("x 1 2"), None);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn this_thread_uses_some_cpu() {
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_millis(5) {}
        assert!(CpuProbe::CurrentThread.read().expect("linux") > Duration::ZERO);
        assert!(CpuProbe::Process(std::process::id()).read().is_some());
        assert_eq!(CpuProbe::ThreadsNamed("no such thread".into()).read(), None);
    }
}

//! What the workloads measure from outside the relays: CPU time and resident memory of
//! processes (`/proc/PID/stat`, `/proc/PID/status`) and how busy the machine is
//! (`/proc/stat`). Linux only; elsewhere every reading is absent.

use std::path::Path;

/// A process's CPU time so far, user plus system, in seconds. `None` if the process is gone
/// or `/proc` is not there.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_cpu(&stat).map(|ticks| ticks as f64 / ticks_per_second())
}

/// This process's CPU time so far, in seconds.
pub fn own_cpu_seconds() -> Option<f64> {
    cpu_seconds(std::process::id())
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line, in clock ticks. The command
/// name (field 2) may hold spaces and parentheses, so fields are counted after its last ')'.
fn parse_stat_cpu(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_ascii_whitespace();
    // After the name come field 3 (state) onwards: utime is field 14, the 12th here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second of `/proc` CPU times. Linux has reported them in units of
/// USER_HZ = 100 on every architecture for decades (the ABI fixes it), so it is a constant
/// here rather than a libc call.
fn ticks_per_second() -> f64 {
    100.0
}

/// Resident memory of a process, in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_ascii_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Whether a process exists.
pub fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The machine's CPU counters at one moment (the `cpu` line of `/proc/stat`).
#[derive(Debug, Clone, Copy)]
pub struct MachineCpu {
    busy: u64,
    total: u64,
}

impl MachineCpu {
    /// Reads `/proc/stat` now.
    pub fn now() -> Option<MachineCpu> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        parse_machine(&stat)
    }

    /// Percent of all cores busy between `self` and `later`.
    pub fn busy_pct_until(&self, later: &MachineCpu) -> f64 {
        let total = later.total.saturating_sub(self.total);
        if total == 0 {
            return 0.0;
        }
        100.0 * later.busy.saturating_sub(self.busy) as f64 / total as f64
    }
}

/// Busy = everything but idle and iowait; guest time is already inside user time.
fn parse_machine(stat: &str) -> Option<MachineCpu> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    let total: u64 = values.iter().sum();
    let idle = values.get(3)? + values.get(4)?;
    Some(MachineCpu {
        busy: total - idle,
        total,
    })
}

/// CPU seconds of a set of processes at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSnapshot {
    /// Sum over the relay processes.
    pub servers: f64,
    /// Sum over the Redis server processes named.
    pub redis: f64,
    /// This load generator.
    pub load: f64,
}

/// The processes a run watches.
#[derive(Debug, Clone, Default)]
pub struct Watched {
    pub servers: Vec<u32>,
    pub redis: Vec<u32>,
}

impl Watched {
    /// CPU seconds of every watched process now (a vanished process counts 0).
    pub fn cpu(&self) -> CpuSnapshot {
        CpuSnapshot {
            servers: self
                .servers
                .iter()
                .map(|&p| cpu_seconds(p).unwrap_or(0.0))
                .sum(),
            redis: self
                .redis
                .iter()
                .map(|&p| cpu_seconds(p).unwrap_or(0.0))
                .sum(),
            load: own_cpu_seconds().unwrap_or(0.0),
        }
    }

    /// Summed resident memory of the relay processes, in bytes.
    pub fn server_rss(&self) -> u64 {
        self.servers.iter().filter_map(|&p| rss_bytes(p)).sum()
    }

    /// The first named relay process that is gone, if any.
    pub fn missing_server(&self) -> Option<u32> {
        self.servers.iter().copied().find(|&p| !alive(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_line_with_a_hostile_name() {
        let stat = "4242 (evil) name (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9";
        assert_eq!(parse_stat_cpu(stat), Some(325));
    }

    #[test]
    fn vm_rss_and_machine_lines() {
        let status = "Name:\tchitchat-relay\nVmPeak:\t  9000 kB\nVmRSS:\t   12345 kB\n";
        assert_eq!(parse_vm_rss(status), Some(12345 * 1024));
        let a = parse_machine("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3\n").unwrap();
        let b = parse_machine("cpu  200 0 200 800 100 0 0 0 0 0\n").unwrap();
        assert!((a.busy_pct_until(&b) - 200.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn own_process_is_readable() {
        assert!(own_cpu_seconds().is_some());
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
        assert!(MachineCpu::now().is_some());
        assert!(alive(std::process::id()));
    }
}

//! The hub's memory and CPU as Linux reports them in `/proc`: the process found by the port it
//! listens on, its resident set (`VmRSS`) and its user + system CPU time.

use std::{fs, time::Duration};

use anyhow::{Context, bail};

pub struct HubProcess {
    pub pid: u32,
}

impl HubProcess {
    pub fn new(pid: u32) -> Self {
        HubProcess { pid }
    }

    /// The process that holds the listening socket of `base`'s port (`http://host:port`).
    pub fn listening_on(base: &str) -> anyhow::Result<Self> {
        let authority = base
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .context("no host in the URL")?;
        let port: u16 = match authority.rsplit_once(':') {
            Some((_, port)) => port.parse().context("bad port in the URL")?,
            None => 80,
        };
        let inodes = listening_inodes(port)?;
        if inodes.is_empty() {
            bail!("nothing listens on port {port}");
        }
        for entry in fs::read_dir("/proc")?.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
                continue;
            };
            for fd in fds.flatten() {
                let Ok(target) = fs::read_link(fd.path()) else {
                    continue;
                };
                let target = target.to_string_lossy();
                if let Some(inode) = target
                    .strip_prefix("socket:[")
                    .and_then(|rest| rest.strip_suffix(']'))
                    && inodes.iter().any(|known| known == inode)
                {
                    return Ok(HubProcess { pid });
                }
            }
        }
        bail!("no visible process owns the socket listening on port {port}")
    }

    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid))
            .with_context(|| format!("the hub (pid {}) is gone", self.pid))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .context("no VmRSS in /proc/<pid>/status")
    }

    pub fn cpu(&self) -> anyhow::Result<Cpu> {
        Cpu::of(&format!("/proc/{}/stat", self.pid))
    }
}

/// Socket inodes in LISTEN state (`0A`) on `port`, IPv4 and IPv6.
fn listening_inodes(port: u16) -> anyhow::Result<Vec<String>> {
    let wanted = format!(":{port:04X}");
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() > 9 && fields[1].ends_with(&wanted) && fields[3] == "0A" {
                inodes.push(fields[9].to_owned());
            }
        }
    }
    Ok(inodes)
}

/// User + system CPU time of a process, in clock ticks.
pub struct Cpu {
    ticks: u64,
}

/// The busy ticks of `/proc/stat`'s first line (all cores).
fn machine_busy(stat: &str) -> anyhow::Result<Cpu> {
    let line = stat.lines().next().context("empty /proc/stat")?;
    let mut fields = line.split_whitespace();
    anyhow::ensure!(fields.next() == Some("cpu"), "odd /proc/stat: {line}");
    let ticks: Vec<u64> = fields
        .map(|field| field.parse().context("odd /proc/stat"))
        .collect::<anyhow::Result<_>>()?;
    // user nice system idle iowait irq softirq steal (guest time is counted in user already).
    let busy = [0, 1, 2, 5, 6, 7]
        .iter()
        .map(|&i| ticks.get(i).copied().unwrap_or(0))
        .sum();
    Ok(Cpu { ticks: busy })
}

/// `sysconf(_SC_CLK_TCK)`: 100 on every Linux this runs on.
const TICKS_PER_SECOND: f64 = 100.0;

impl Cpu {
    pub fn of_self() -> anyhow::Result<Cpu> {
        Cpu::of("/proc/self/stat")
    }

    /// The whole machine's busy time, every core and process (`/proc/stat`: user, nice,
    /// system, irq, softirq and steal; not idle or waiting for I/O): beside the hub's and the
    /// generator's own, it shows what else took the cores during a run.
    pub fn of_machine() -> anyhow::Result<Cpu> {
        let stat = fs::read_to_string("/proc/stat").context("cannot read /proc/stat")?;
        machine_busy(&stat)
    }

    fn of(path: &str) -> anyhow::Result<Cpu> {
        let stat = fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
        // The command name is in parentheses and may hold spaces: count fields after it.
        let after_name = stat.rsplit_once(')').context("odd /proc stat")?.1;
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line, 12th and 13th after the name.
        let field = |i: usize| -> anyhow::Result<u64> {
            fields
                .get(i)
                .context("short /proc stat")?
                .parse()
                .context("odd /proc stat")
        };
        Ok(Cpu {
            ticks: field(11)? + field(12)?,
        })
    }

    pub fn since(&self, earlier: &Cpu) -> Cpu {
        Cpu {
            ticks: self.ticks.saturating_sub(earlier.ticks),
        }
    }

    pub fn seconds(&self) -> f64 {
        self.ticks as f64 / TICKS_PER_SECOND
    }

    /// Average cores busy over `wall`.
    pub fn cores(&self, wall: Duration) -> f64 {
        self.seconds() / wall.as_secs_f64().max(1e-9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machines_busy_time_leaves_idle_and_io_wait_out() {
        let stat = "cpu  100 5 40 9000 30 2 3 7 11 0\ncpu0 50 2 20 4500 15 1 1 3 5 0\n";
        // user 100 + nice 5 + system 40 + irq 2 + softirq 3 + steal 7.
        assert_eq!(machine_busy(stat).expect("read").ticks, 157);
        assert!(machine_busy("intr 1 2 3\n").is_err());
        assert!(machine_busy("cpu 1 x 3\n").is_err());
    }
}

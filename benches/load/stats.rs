//! Measurement plumbing: the latency histogram, the clock the payload carries, and the
//! server's memory and CPU read from `/proc`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};

/// Buckets of 1 µs below this many microseconds (~1.05 s): percentiles are exact there,
/// because the samples themselves are whole microseconds.
const FINE_US: u64 = 1 << 20;
/// Buckets of 1 ms above `FINE_US`, up to this many milliseconds (10 min); slower
/// deliveries land in the last bucket (the exact maximum is kept on the side).
const COARSE_MS: u64 = 600_000;

/// Kernel clock ticks per second for `/proc/PID/stat` times. `sysconf(_SC_CLK_TCK)` needs
/// libc (not a dependency, and unsafe is forbidden); it is 100 on every Linux build that
/// matters here (x86-64 and arm64 define USER_HZ as 100).
pub const CLK_TCK: f64 = 100.0;

/// Latency histogram shared by all subscriber tasks: µs resolution below ~1 s, ms above,
/// with the exact maximum. Fixed size whatever the run length, unlike a Vec of samples
/// (1 topic × 10k streams × 1,000 events/s × 20 s would be 800 MB of u32).
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

/// Percentiles of a [`Histogram`], in microseconds.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Percentiles {
    pub samples: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl Histogram {
    pub fn new() -> Self {
        let len = (FINE_US + COARSE_MS + 1) as usize;
        Self {
            buckets: (0..len).map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        }
    }

    pub fn record(&self, us: u64) {
        let index = if us < FINE_US {
            us
        } else {
            FINE_US + (us / 1000).min(COARSE_MS)
        };
        // Relaxed: counters only, read after every writer has stopped.
        self.buckets[index as usize].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
        self.max_us.fetch_max(us, Relaxed);
    }

    /// Nearest-rank percentiles (the smallest value with at least p% of samples at or below it).
    pub fn percentiles(&self) -> Percentiles {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let samples: u64 = counts.iter().sum();
        if samples == 0 {
            return Percentiles::default();
        }
        let value_of = |index: usize| -> u64 {
            let index = index as u64;
            if index < FINE_US {
                index
            } else {
                (index - FINE_US) * 1000
            }
        };
        let at = |p: f64| -> u64 {
            let rank = ((p / 100.0) * samples as f64).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (index, &count) in counts.iter().enumerate() {
                seen += count;
                if seen >= rank {
                    return value_of(index);
                }
            }
            value_of(counts.len() - 1)
        };
        Percentiles {
            samples,
            mean_us: self.sum_us.load(Relaxed) as f64 / samples as f64,
            p50_us: at(50.0),
            p90_us: at(90.0),
            p99_us: at(99.0),
            p999_us: at(99.9),
            max_us: self.max_us.load(Relaxed),
        }
    }
}

/// Wall-clock time as unix nanoseconds: what the publisher embeds and the subscriber
/// subtracts. Both run on this host, so the two readings share one clock.
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Resident memory of one process, from `/proc/PID/status`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Rss {
    /// `VmRSS`: everything resident, shared memory pages this process touched included.
    pub total_kib: u64,
    /// `RssAnon`: private heap and stacks only.
    pub anon_kib: u64,
}

impl std::ops::Add for Rss {
    type Output = Rss;

    fn add(self, other: Rss) -> Rss {
        Rss {
            total_kib: self.total_kib + other.total_kib,
            anon_kib: self.anon_kib + other.anon_kib,
        }
    }
}

pub fn rss(pid: u32) -> Result<Rss> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let field = |name: &str| -> Result<u64> {
        let line = status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .with_context(|| format!("no {name} in {path}"))?;
        // "VmRSS:\t   12345 kB"
        let kib = line
            .trim_start_matches(':')
            .trim()
            .trim_end_matches("kB")
            .trim();
        kib.parse()
            .with_context(|| format!("bad {name} {kib:?} in {path}"))
    };
    Ok(Rss {
        total_kib: field("VmRSS")?,
        anon_kib: field("RssAnon")?,
    })
}

/// Summed over all the server's processes (nginx: master and workers).
pub fn rss_sum(pids: &[u32]) -> Result<Rss> {
    pids.iter()
        .try_fold(Rss::default(), |acc, &pid| Ok(acc + rss(pid)?))
}

/// CPU time of a process in clock ticks, from `/proc/PID/stat`.
struct ProcStat {
    /// utime + stime (fields 14 and 15), all threads.
    own: u64,
    /// cutime + cstime (fields 16 and 17): children waited for.
    children: u64,
}

fn proc_stat(pid: &str) -> Result<ProcStat> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name (field 2) is in parentheses and may itself hold spaces or ')':
    // count fields from the last ')', where field 3 (state) starts.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        bail!("unexpected format of {path}");
    };
    let fields: Vec<&str> = rest.split_whitespace().take(15).collect();
    let field = |n: usize| -> Result<u64> {
        let value = fields.get(n - 3).with_context(|| format!("short {path}"))?;
        value
            .parse()
            .with_context(|| format!("bad field {n} in {path}"))
    };
    Ok(ProcStat {
        own: field(14)? + field(15)?,
        children: field(16)? + field(17)?,
    })
}

/// User + system CPU ticks of one process (`self` for this one).
pub fn cpu_ticks(pid: &str) -> Result<u64> {
    Ok(proc_stat(pid)?.own)
}

/// CPU seconds used so far by all the given processes.
pub fn cpu_seconds(pids: &[u32]) -> Result<f64> {
    let mut ticks = 0;
    for pid in pids {
        ticks += cpu_ticks(&pid.to_string())?;
    }
    Ok(ticks as f64 / CLK_TCK)
}

/// CPU seconds used so far by this load tool.
pub fn own_cpu_seconds() -> f64 {
    cpu_ticks("self").map_or(0.0, |ticks| ticks as f64 / CLK_TCK)
}

/// CPU ticks of every process on the machine but some, to tell how busy the rest of
/// the box was during a run.
pub struct OtherProcesses {
    /// pid -> (utime + stime, cutime + cstime)
    ticks: HashMap<u32, (u64, u64)>,
}

impl OtherProcesses {
    /// Read `/proc/*/stat` of every process except `exclude` (and this one). Processes
    /// that vanish while being read are skipped.
    pub fn snapshot(exclude: &[u32]) -> OtherProcesses {
        let own = std::process::id();
        let mut ticks = HashMap::new();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return OtherProcesses { ticks };
        };
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if pid == own || exclude.contains(&pid) {
                continue;
            }
            if let Ok(stat) = proc_stat(&pid.to_string()) {
                ticks.insert(pid, (stat.own, stat.children));
            }
        }
        OtherProcesses { ticks }
    }

    /// CPU seconds the other processes used between `earlier` and `self`: what the ones
    /// alive at both points used, what new ones used, and, through `cutime`/`cstime`, what
    /// children reaped in between used (all of it, so a build that finished meanwhile is
    /// over-counted: this is a noise indicator, not a measurement).
    pub fn seconds_since(&self, earlier: &OtherProcesses) -> f64 {
        let ticks: u64 = self
            .ticks
            .iter()
            .map(|(pid, &(own, children))| match earlier.ticks.get(pid) {
                Some(&(own0, children0)) => {
                    own.saturating_sub(own0) + children.saturating_sub(children0)
                }
                None => own + children,
            })
            .sum();
        ticks as f64 / CLK_TCK
    }
}

/// The whole machine's CPU time so far, from the first line of `/proc/stat`, in seconds.
#[derive(Debug, Default, Clone, Copy)]
pub struct MachineCpu {
    /// Everything but idle and iowait.
    pub busy_s: f64,
    /// Softirq: on loopback, most of the TCP work of both ends (also charged to whichever
    /// process it interrupted).
    pub softirq_s: f64,
}

impl std::ops::Sub for MachineCpu {
    type Output = MachineCpu;

    fn sub(self, earlier: MachineCpu) -> MachineCpu {
        MachineCpu {
            busy_s: self.busy_s - earlier.busy_s,
            softirq_s: self.softirq_s - earlier.softirq_s,
        }
    }
}

pub fn machine_cpu() -> Result<MachineCpu> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    // cpu user nice system idle iowait irq softirq steal guest guest_nice; guest time is
    // already included in user and nice.
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .context("parsing /proc/stat")?;
    if ticks.len() < 8 {
        bail!("short cpu line in /proc/stat");
    }
    let busy: u64 = ticks.iter().sum::<u64>() - ticks[3] - ticks[4];
    Ok(MachineCpu {
        busy_s: busy as f64 / CLK_TCK,
        softirq_s: ticks[6] as f64 / CLK_TCK,
    })
}

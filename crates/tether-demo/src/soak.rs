//! The soak mode of the C10k demo (`c10k --soak SECS`): while the echo phase runs,
//! the server process (the demo itself) is sampled once a second and the samples go to a CSV
//! file; at the end, a summary says whether memory, descriptors and CPU stayed flat.
//!
//! [`SoakLog::create`] opens the CSV file (before the run, so a bad path fails at once);
//! [`SoakLog::start`] starts the sampling thread when the echo phase begins; the demo feeds it
//! the client's progress through [`SoakCounters`]; [`Sampler::finish`] stops it and returns the
//! samples, which [`summary`] turns into the report.
//!
//! Each sample reads, through [`crate::process`], for this process: resident memory
//! (`/proc/self/statm`), open descriptors (`/proc/self/fd`), threads (`/proc/self/stat`), user +
//! system CPU time (`getrusage`) as a percentage of one core over the last interval; from the
//! client: the round trips completed (its last progress report, every 250 ms) and the
//! connections open; and the client process's resident memory. Columns of the CSV, one row per
//! second:
//!
//! ```text
//! second,rss_kib,fds,threads,cpu_pct,requests_per_s,requests,open,client_rss_kib
//! ```

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use crate::process::{cpu_time, fd_count, rss_bytes, threads, CpuOf};

/// How often the server is sampled.
pub const EVERY: Duration = Duration::from_secs(1);

/// The CSV header.
const HEADER: &str =
    "second,rss_kib,fds,threads,cpu_pct,requests_per_s,requests,open,client_rss_kib";

/// What the client last reported, for the sampler (the demo stores its `PROGRESS` lines here).
#[derive(Default, Debug)]
pub struct SoakCounters {
    /// Round trips completed since the echo phase began.
    pub requests: AtomicU64,
    /// Connections open.
    pub open: AtomicU64,
}

/// One second of the soak.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Seconds since the echo phase began.
    pub second: f64,
    /// The server process's resident memory, in KiB.
    pub rss_kib: u64,
    /// The server process's open descriptors.
    pub fds: u64,
    /// The server process's threads.
    pub threads: u64,
    /// CPU time over the last interval, as a percentage of one core.
    pub cpu_pct: f64,
    /// Round trips per second over the last interval.
    pub requests_per_s: f64,
    /// Round trips since the echo phase began.
    pub requests: u64,
    /// Connections open on the server.
    pub open: u64,
    /// The client process's resident memory (0 if it could not be read).
    pub client_rss_kib: u64,
}

/// The CSV file, created before the run.
pub struct SoakLog {
    path: PathBuf,
    out: BufWriter<File>,
}

impl SoakLog {
    /// Creates (or truncates) the CSV file and writes its header.
    pub fn create(path: &Path) -> io::Result<SoakLog> {
        let mut out = BufWriter::new(File::create(path)?);
        writeln!(out, "{HEADER}")?;
        out.flush()?;
        Ok(SoakLog {
            path: path.to_path_buf(),
            out,
        })
    }

    /// Starts sampling now (the start of the echo phase of `secs` seconds): once every
    /// [`EVERY`], half a period off the phase's start and end (at 0.5 s, 1.5 s, ...), so that no
    /// sample catches the connections opening or closing; `secs` samples at most, fewer if
    /// [`Sampler::finish`] comes first. `client` is the load process's pid.
    pub fn start(self, secs: u64, counters: Arc<SoakCounters>, client: Option<u32>) -> Sampler {
        let (stop, stopped) = mpsc::channel::<()>();
        let path = self.path.clone();
        let thread = thread::Builder::new()
            .name("c10k-soak".into())
            .spawn(move || sample_loop(self, secs, &counters, client, &stopped))
            .expect("spawn the sampling thread");
        Sampler { stop, thread, path }
    }
}

/// The sampling thread, running.
pub struct Sampler {
    stop: mpsc::Sender<()>,
    thread: thread::JoinHandle<(Vec<Sample>, Option<io::Error>)>,
    path: PathBuf,
}

impl Sampler {
    /// Stops sampling; returns the samples, the CSV's path, and the error that stopped the CSV
    /// output early, if any (the samples are kept regardless).
    pub fn finish(self) -> (Vec<Sample>, PathBuf, Option<io::Error>) {
        let _ = self.stop.send(());
        let (samples, err) = self
            .thread
            .join()
            .unwrap_or_else(|_| (Vec::new(), Some(io::Error::other("the sampler panicked"))));
        (samples, self.path, err)
    }
}

/// Takes `count` samples, one every [`EVERY`] (on a fixed schedule, so they do not drift), or
/// fewer if `stopped` comes first.
fn sample_loop(
    mut log: SoakLog,
    count: u64,
    counters: &SoakCounters,
    client: Option<u32>,
    stopped: &mpsc::Receiver<()>,
) -> (Vec<Sample>, Option<io::Error>) {
    let start = Instant::now();
    let mut prev = (
        start,
        cpu_time(CpuOf::ThisProcess),
        counters.requests.load(Ordering::Relaxed),
    );
    let mut samples = Vec::new();
    let mut csv_error = None;
    for k in 1..=count {
        let due = start + EVERY * k as u32 - EVERY / 2;
        match stopped.recv_timeout(due.saturating_duration_since(Instant::now())) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            _ => break,
        }
        let now = Instant::now();
        let cpu = cpu_time(CpuOf::ThisProcess);
        let requests = counters.requests.load(Ordering::Relaxed);
        let dt = now.duration_since(prev.0).as_secs_f64().max(1e-9);
        let s = Sample {
            second: now.duration_since(start).as_secs_f64(),
            rss_kib: rss_kib("self").unwrap_or(0),
            fds: fd_count().unwrap_or(0),
            threads: threads().unwrap_or(0),
            cpu_pct: cpu.saturating_sub(prev.1).as_secs_f64() / dt * 100.0,
            requests_per_s: requests.saturating_sub(prev.2) as f64 / dt,
            requests,
            open: counters.open.load(Ordering::Relaxed),
            client_rss_kib: client
                .and_then(|pid| rss_kib(&pid.to_string()))
                .unwrap_or(0),
        };
        prev = (now, cpu, requests);
        samples.push(s);
        if csv_error.is_none() {
            if let Err(e) = write_row(&mut log.out, &s) {
                csv_error = Some(e);
            }
        }
    }
    (samples, csv_error)
}

fn write_row(out: &mut BufWriter<File>, s: &Sample) -> io::Result<()> {
    writeln!(
        out,
        "{:.3},{},{},{},{:.1},{:.0},{},{},{}",
        s.second,
        s.rss_kib,
        s.fds,
        s.threads,
        s.cpu_pct,
        s.requests_per_s,
        s.requests,
        s.open,
        s.client_rss_kib
    )?;
    // A row a second: flushing each keeps the file useful if the run is killed.
    out.flush()
}

/// The summary of a soak: start, middle and end (the median over a window of up to 60 samples
/// at each), the drift per minute (least-squares slope over every sample after the first
/// window, which holds the warm-up), the range, and the mean request rate.
pub fn summary(samples: &[Sample], path: &Path, conns: u64) -> String {
    let mut out = String::new();
    let n = samples.len();
    let _ = writeln!(
        out,
        "soak: {n} samples, one a second, of the server process during the echo phase on \
         {conns} connections; every sample in {}",
        path.display()
    );
    if n < 2 {
        let _ = writeln!(out, "  (too few samples for a summary)");
        return out;
    }
    let w = (n / 10).clamp(1, 60);
    let mid = (n / 2).saturating_sub(w / 2);
    let windows = [(0, w), (mid, mid + w), (n - w, n)];
    let settled = &samples[w.min(n - 2)..];
    let _ = writeln!(
        out,
        "  {:<14} {:>12} {:>12} {:>12} {:>16} {:>22}",
        "",
        format!("start ({w} s)"),
        "middle",
        format!("end ({w} s)"),
        "drift per minute",
        "min .. max"
    );
    type Field = fn(&Sample) -> f64;
    // Name, field, its unit in the drift column, the divisor to the unit shown, decimals shown.
    let rows: [(&str, Field, &str, f64, usize); 5] = [
        ("RSS (MiB)", |s| s.rss_kib as f64, "KiB", 1024.0, 1),
        ("descriptors", |s| s.fds as f64, "", 1.0, 0),
        ("threads", |s| s.threads as f64, "", 1.0, 0),
        ("CPU (% core)", |s| s.cpu_pct, "points", 1.0, 1),
        ("requests/s", |s| s.requests_per_s, "", 1.0, 0),
    ];
    for (name, field, drift_unit, scale, decimals) in rows {
        let at = |(a, b): (usize, usize)| {
            let mut v: Vec<f64> = samples[a..b].iter().map(field).collect();
            format!("{:.*}", decimals, median(&mut v) / scale)
        };
        let (lo, hi) = samples
            .iter()
            .map(field)
            .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let drift = slope_per_minute(settled, field);
        let _ = writeln!(
            out,
            "  {:<14} {:>12} {:>12} {:>12} {:>16} {:>22}",
            name,
            at(windows[0]),
            at(windows[1]),
            at(windows[2]),
            format!("{drift:+.1} {drift_unit}").trim_end(),
            format!("{:.*} .. {:.*}", decimals, lo / scale, decimals, hi / scale)
        );
    }
    let (first, last) = (&samples[0], &samples[n - 1]);
    let span = last.second - first.second;
    if span > 0.0 {
        let _ = writeln!(
            out,
            "  requests/s overall {:.0} ({} round trips from second {:.1} to {:.1}); the client's \
             RSS {:.1} -> {:.1} MiB",
            (last.requests - first.requests) as f64 / span,
            last.requests - first.requests,
            first.second,
            last.second,
            first.client_rss_kib as f64 / 1024.0,
            last.client_rss_kib as f64 / 1024.0
        );
    }
    out
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The least-squares slope of `field` over time, per minute.
fn slope_per_minute(samples: &[Sample], field: fn(&Sample) -> f64) -> f64 {
    let n = samples.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mx = samples.iter().map(|s| s.second).sum::<f64>() / n;
    let my = samples.iter().map(field).sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for s in samples {
        let dx = s.second - mx;
        sxy += dx * (field(s) - my);
        sxx += dx * dx;
    }
    if sxx == 0.0 {
        0.0
    } else {
        sxy / sxx * 60.0
    }
}

/// Resident memory of process `pid` (`self` for this one), in KiB; `None` if it cannot be read.
fn rss_kib(pid: &str) -> Option<u64> {
    rss_bytes(pid).ok().map(|b| b / 1024)
}

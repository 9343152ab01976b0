//! The detector sampler: once a second, its consumer lag and counters from `/metrics`, and
//! its CPU time and resident memory from `/proc/<pid>`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::live::files::{write_line, Sample};
use crate::live::{elapsed_us, RunStatus};

/// How long one metrics request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(800);
/// The largest metrics page read.
const MAX_PAGE: u64 = 16 << 20;
/// Clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// What to sample and where to write.
pub(crate) struct SampleOptions {
    /// `host:port` and path of the metrics page.
    pub metrics: Option<(String, String)>,
    /// The audit topic, whose partitions' lag is summed.
    pub topic: String,
    /// The detector's process id.
    pub pid: Option<u32>,
    /// The run's time zero.
    pub start: Instant,
    /// `samples.jsonl`.
    pub path: PathBuf,
}

/// Splits `http://host:port/path` (scheme and path optional) into `host:port` and the path.
pub(crate) fn metrics_address(url: &str) -> (String, String) {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    match rest.split_once('/') {
        Some((host, path)) if !path.is_empty() => (host.to_string(), format!("/{path}")),
        Some((host, _)) => (host.to_string(), "/metrics".to_string()),
        None => (rest.to_string(), "/metrics".to_string()),
    }
}

/// Samples once a second until `stop` turns true.
pub(crate) async fn sample(
    options: SampleOptions,
    status: Arc<RunStatus>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut out = BufWriter::new(File::create(&options.path)?);
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.wait_for(|stop| *stop) => break,
        }
        let mut sample = take(&options).await;
        sample.acked_total = Some(status.acked.load(Ordering::Relaxed));
        if let Some(lag) = sample.lag {
            status.lag.store(lag, Ordering::Relaxed);
        }
        write_line(&mut out, &sample)?;
        out.flush()?;
    }
    out.flush()
}

async fn take(options: &SampleOptions) -> Sample {
    let t_us = elapsed_us(options.start);
    let page = match &options.metrics {
        Some((address, path)) => fetch(address, path).await,
        None => None,
    };
    let figures = page.as_deref().map(|page| parse_metrics(page, &options.topic));
    let process = options.pid.map(read_process);
    Sample {
        t_us,
        acked_total: None,
        lag: figures.and_then(|f| f.lag),
        events_total: figures.and_then(|f| f.events_total),
        alerts_total: figures.and_then(|f| f.alerts_total),
        cpu_seconds: process.and_then(|p| p.cpu_seconds),
        rss_bytes: process.and_then(|p| p.rss_bytes),
        detector_running: process.map(|p| p.running),
    }
}

/// `GET path` over HTTP/1.1; the body when the answer is 200.
async fn fetch(address: &str, path: &str) -> Option<String> {
    let exchange = async {
        let mut stream = TcpStream::connect(address).await.ok()?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        stream.take(MAX_PAGE).read_to_end(&mut response).await.ok()?;
        Some(response)
    };
    let response = tokio::time::timeout(REQUEST_TIMEOUT, exchange).await.ok()??;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status_ok = head.lines().next().is_some_and(|line| line.split(' ').nth(1) == Some("200"));
    status_ok.then(|| body.to_string())
}

/// The figures read from a metrics page.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct MetricFigures {
    /// `mspwatch_partition_lag_messages` of the topic, summed; absent when no partition is
    /// listed.
    pub lag: Option<u64>,
    /// `mspwatch_events_total`.
    pub events_total: Option<u64>,
    /// `mspwatch_alerts_total`.
    pub alerts_total: Option<u64>,
}

/// Reads the lag of `topic`'s partitions and the event and alert counters from Prometheus
/// text. Lines it does not understand are skipped.
pub(crate) fn parse_metrics(page: &str, topic: &str) -> MetricFigures {
    let topic_label = format!("topic=\"{topic}\"");
    let mut figures = MetricFigures::default();
    for line in page.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let Ok(value) = value.parse::<f64>() else { continue };
        if !(value.is_finite() && value >= 0.0) {
            continue;
        }
        let value = value as u64;
        let (name, labels) = series.split_once('{').unwrap_or((series, ""));
        match name {
            "mspwatch_partition_lag_messages" if labels.contains(&topic_label) => {
                figures.lag = Some(figures.lag.unwrap_or(0).saturating_add(value));
            }
            "mspwatch_events_total" => figures.events_total = Some(value),
            "mspwatch_alerts_total" => figures.alerts_total = Some(value),
            _ => {}
        }
    }
    figures
}

/// What `/proc` says of a process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ProcessFigures {
    /// User and system CPU time, seconds.
    pub cpu_seconds: Option<f64>,
    /// Resident memory, bytes.
    pub rss_bytes: Option<u64>,
    /// Whether it runs (exists and is not a zombie).
    pub running: bool,
}

fn read_process(pid: u32) -> ProcessFigures {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok();
    process_figures(stat.as_deref(), status.as_deref())
}

/// CPU time from `/proc/<pid>/stat` and resident memory from `/proc/<pid>/status`.
pub(crate) fn process_figures(stat: Option<&str>, status: Option<&str>) -> ProcessFigures {
    // The command name may hold spaces and parentheses; the fields follow the last `) `.
    let fields: Vec<&str> = stat
        .and_then(|stat| stat.rsplit_once(") "))
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let state = fields.first().copied();
    let ticks = |index: usize| fields.get(index).and_then(|field| field.parse::<u64>().ok());
    let cpu_seconds = match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => Some((user + system) as f64 / TICKS_PER_SECOND),
        _ => None,
    };
    let rss_bytes = status.and_then(|status| {
        let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        kib.checked_mul(1024)
    });
    let running = state.is_some_and(|state| state != "Z" && state != "X");
    ProcessFigures { cpu_seconds, rss_bytes, running }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_summed_over_the_topics_partitions_only() {
        let page = "# HELP mspwatch_events Events decoded and evaluated\n\
            mspwatch_events_total 1200\n\
            mspwatch_alerts_total 3\n\
            mspwatch_partition_lag_messages{topic=\"audit\",partition=\"0\"} 40\n\
            mspwatch_partition_lag_messages{topic=\"audit\",partition=\"1\"} 2\n\
            mspwatch_partition_lag_messages{topic=\"other\",partition=\"0\"} 1000\n\
            garbage line\n";
        let figures = parse_metrics(page, "audit");
        assert_eq!(figures.lag, Some(42));
        assert_eq!(figures.events_total, Some(1200));
        assert_eq!(figures.alerts_total, Some(3));
        assert_eq!(parse_metrics(page, "missing").lag, None);
    }

    #[test]
    fn cpu_and_memory_come_from_stat_and_status() {
        let stat = "4242 (mspwatch (run)) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 \
                    9 0 100 800000000 3000 18446744073709551615";
        let status = "Name:\tmspwatch\nVmPeak:\t 900000 kB\nVmRSS:\t   51200 kB\nThreads:\t9\n";
        let figures = process_figures(Some(stat), Some(status));
        assert_eq!(figures.cpu_seconds, Some(3.0));
        assert_eq!(figures.rss_bytes, Some(51_200 * 1024));
        assert!(figures.running);

        let zombie = "4242 (mspwatch) Z 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0";
        assert!(!process_figures(Some(zombie), None).running);
        assert!(!process_figures(None, None).running);
    }

    #[test]
    fn metrics_addresses_accept_a_url_or_a_bare_address() {
        assert_eq!(
            metrics_address("http://127.0.0.1:9464/metrics"),
            ("127.0.0.1:9464".into(), "/metrics".into())
        );
        assert_eq!(metrics_address("127.0.0.1:9464"), ("127.0.0.1:9464".into(), "/metrics".into()));
        assert_eq!(metrics_address("http://h:1/x/y"), ("h:1".into(), "/x/y".into()));
    }
}

//! Times a running `mspwatch run` through its `/metrics` endpoint: how long it takes to take in
//! a given number of records, counted as events, skipped records and rejects.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::cpu::process_cpu;
use crate::parse::per_second;

/// How often the endpoint is read.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// The counters whose sum is the number of records taken in.
const RECORD_COUNTERS: [&str; 3] =
    ["mspwatch_events_total", "mspwatch_records_skipped_total", "mspwatch_rejects_total"];

/// What the watch saw.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchReport {
    /// Records taken in when the watch ended.
    pub records: u64,
    /// From the first poll that saw a record to the first that saw `count`.
    pub from_first: Duration,
    /// From the start of the watch to the first poll that saw `count`.
    pub from_start: Duration,
    /// CPU time the watched process used between the first poll that saw a record and the one
    /// that saw `count`, when its process id was given.
    pub cpu: Option<Duration>,
}

impl std::fmt::Display for WatchReport {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "watch: {} records in {:.3} s from the first record ({:.3} s from start), {:.0} msgs/s",
            self.records,
            self.from_first.as_secs_f64(),
            self.from_start.as_secs_f64(),
            per_second(self.records, self.from_first)
        )?;
        write_cpu(formatter, self.cpu, self.records)
    }
}

/// Writes `, cpu S s (U µs/record)` when the CPU time is known.
pub fn write_cpu(
    formatter: &mut std::fmt::Formatter<'_>,
    cpu: Option<Duration>,
    records: u64,
) -> std::fmt::Result {
    let Some(cpu) = cpu else { return Ok(()) };
    let micros = cpu.as_secs_f64() * 1e6 / records.max(1) as f64;
    write!(formatter, ", cpu {:.2} s ({micros:.2} µs/record)", cpu.as_secs_f64())
}

/// Polls `GET /metrics` at `address` until at least `count` records were taken in; with `pid`,
/// also measures the CPU time that process used meanwhile.
pub fn watch(
    address: SocketAddr,
    count: u64,
    pid: Option<u32>,
    limit: Duration,
) -> Result<WatchReport> {
    let started = Instant::now();
    let mut first = None;
    let mut cpu_at_first = None;
    loop {
        let polled = Instant::now();
        let records = match fetch_metrics(address) {
            Ok(text) => records_taken_in(&text),
            // An endpoint that is not up yet is waited for a few seconds.
            Err(_) if started.elapsed() < Duration::from_secs(5) => 0,
            Err(error) => return Err(error),
        };
        let cpu_now = pid.and_then(|pid| process_cpu(Some(pid)));
        if records > 0 && first.is_none() {
            first = Some(polled);
            cpu_at_first = cpu_now;
        }
        if records >= count {
            let from_first = first.map_or(Duration::ZERO, |first| polled.duration_since(first));
            let cpu = cpu_now.zip(cpu_at_first).map(|(now, then)| now.saturating_sub(then));
            return Ok(WatchReport { records, from_first, from_start: polled - started, cpu });
        }
        if started.elapsed() > limit {
            bail!("only {records} of {count} records within {limit:?}");
        }
        std::thread::sleep(POLL_EVERY.saturating_sub(polled.elapsed()));
    }
}

/// `GET /metrics` over a fresh connection.
fn fetch_metrics(address: SocketAddr) -> Result<String> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))
        .with_context(|| format!("cannot connect to {address}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response).context("cannot read the metrics")?;
    Ok(response)
}

/// The sum of the record counters in a Prometheus text exposition (every label set of each).
pub fn records_taken_in(text: &str) -> u64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let name_end = line.find(['{', ' ']).unwrap_or(line.len());
            let name = line.get(..name_end)?;
            if !RECORD_COUNTERS.contains(&name) {
                return None;
            }
            let value: f64 = line.rsplit(' ').next()?.parse().ok()?;
            (value.is_finite() && value >= 0.0).then_some(value as u64)
        })
        .fold(0u64, u64::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_skipped_records_and_rejects_of_every_reason_are_added_up() {
        let text = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n\
                    # HELP mspwatch_events Events decoded and evaluated\n\
                    # TYPE mspwatch_events counter\n\
                    mspwatch_events_total 1200\n\
                    mspwatch_records_skipped_total 3\n\
                    mspwatch_rejects_total{reason=\"invalid_json\"} 5\n\
                    mspwatch_rejects_total{reason=\"missing_field\"} 2\n\
                    mspwatch_alerts_total 40\n\
                    mspwatch_events_totally_unrelated 9\n\
                    # EOF\n";
        assert_eq!(records_taken_in(text), 1210);
    }

    #[test]
    fn a_page_without_the_counters_counts_nothing() {
        assert_eq!(records_taken_in(""), 0);
        assert_eq!(records_taken_in("mspwatch_events_total not-a-number\n"), 0);
    }
}

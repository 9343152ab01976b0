//! Latency bookkeeping: each measured item's due time and arrival time, in microseconds since
//! the run's start, kept in an HdrHistogram; items that never arrive are counted as missing.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;

/// The largest latency the histogram holds exactly; longer ones are clamped to it.
const MAX_MICROS: u64 = 600_000_000;

/// Latencies of one run, by item number.
#[derive(Debug)]
pub struct LatencyBook {
    histogram: Histogram<u64>,
    /// Due time of each item sent and not yet received.
    outstanding: HashMap<u64, Duration>,
    /// Items received twice, or received without having been sent.
    unexpected: u64,
}

impl Default for LatencyBook {
    fn default() -> Self {
        LatencyBook::new()
    }
}

impl LatencyBook {
    /// An empty book.
    pub fn new() -> LatencyBook {
        LatencyBook { histogram: new_histogram(), outstanding: HashMap::new(), unexpected: 0 }
    }

    /// Notes that item `item` was due (scheduled to be sent) at `due`.
    pub fn sent(&mut self, item: u64, due: Duration) {
        self.outstanding.insert(item, due);
    }

    /// Notes that item `item` arrived at `arrived`; returns its latency, or `None` for an item
    /// not sent or already received (counted as unexpected).
    pub fn received(&mut self, item: u64, arrived: Duration) -> Option<Duration> {
        let Some(due) = self.outstanding.remove(&item) else {
            self.unexpected = self.unexpected.saturating_add(1);
            return None;
        };
        let latency = arrived.saturating_sub(due);
        self.record(latency);
        Some(latency)
    }

    /// Records one latency directly.
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).clamp(1, MAX_MICROS);
        self.histogram.saturating_record(micros);
    }

    /// The summary so far: items still outstanding count as missing.
    pub fn summary(&self) -> LatencySummary {
        let at = |quantile: f64| Duration::from_micros(self.histogram.value_at_quantile(quantile));
        LatencySummary {
            received: self.histogram.len(),
            missing: self.outstanding.len() as u64,
            unexpected: self.unexpected,
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max: Duration::from_micros(self.histogram.max()),
        }
    }
}

fn new_histogram() -> Histogram<u64> {
    // Three significant digits from 1 µs to ten minutes: constant bounds, valid for the library.
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("constant histogram bounds are valid")
}

/// Percentiles of a run's latencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencySummary {
    /// Items whose latency was recorded.
    pub received: u64,
    /// Items sent and never received.
    pub missing: u64,
    /// Items received twice or never sent.
    pub unexpected: u64,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// Largest.
    pub max: Duration,
}

impl fmt::Display for LatencySummary {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
        write!(
            formatter,
            "{} received, {} missing, {} unexpected; latency ms p50 {:.2} p90 {:.2} p99 {:.2} \
             p99.9 {:.2} max {:.2}",
            self.received,
            self.missing,
            self.unexpected,
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.p999),
            ms(self.max)
        )
    }
}

/// When each item of an open-loop run is due: item `n` at `start + n / rate`, so a sender that
/// falls behind cannot hide its own delay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// Due time of item 0, since the run's start.
    pub start: Duration,
    /// Items per second.
    pub rate: f64,
}

impl Schedule {
    /// Due time of item `item`; rates that are not positive and finite send everything at once.
    pub fn due(&self, item: u64) -> Duration {
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return self.start;
        }
        let offset = Duration::try_from_secs_f64(item as f64 / self.rate).unwrap_or(Duration::MAX);
        self.start.saturating_add(offset)
    }
}

/// A ping message: the run it belongs to, its item number and when it was due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ping {
    /// Tells this run's messages from older ones on the same topic.
    pub run: u64,
    /// The item number.
    pub item: u64,
    /// When it was due, in microseconds since the run's start.
    pub due_micros: u64,
}

impl Ping {
    /// The payload: `ping <run> <item> <due_micros>`, padded with spaces to `size` bytes.
    pub fn encode(&self, size: usize) -> Vec<u8> {
        let mut payload =
            format!("ping {} {} {}", self.run, self.item, self.due_micros).into_bytes();
        if payload.len() < size {
            payload.resize(size, b' ');
        }
        payload
    }

    /// The ping in `payload`, `None` when it is not one.
    pub fn decode(payload: &[u8]) -> Option<Ping> {
        let text = std::str::from_utf8(payload).ok()?;
        let mut words = text.split_ascii_whitespace();
        if words.next()? != "ping" {
            return None;
        }
        let run = words.next()?.parse().ok()?;
        let item = words.next()?.parse().ok()?;
        let due_micros = words.next()?.parse().ok()?;
        Some(Ping { run, item, due_micros })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn latency_counts_from_the_due_time_and_missing_items_are_reported() {
        let mut book = LatencyBook::new();
        for item in 0..4 {
            book.sent(item, ms(item * 10));
        }
        assert_eq!(book.received(0, ms(3)), Some(ms(3)));
        assert_eq!(book.received(1, ms(17)), Some(ms(7)));
        assert_eq!(book.received(2, ms(120)), Some(ms(100)));
        let summary = book.summary();
        assert_eq!((summary.received, summary.missing, summary.unexpected), (3, 1, 0));
        let close = |duration: Duration, millis: u64| duration.abs_diff(ms(millis)) < ms(1);
        assert!(close(summary.p50, 7), "{summary}");
        assert!(close(summary.max, 100), "{summary}");
    }

    #[test]
    fn an_item_received_twice_or_never_sent_is_unexpected() {
        let mut book = LatencyBook::new();
        book.sent(1, ms(0));
        assert!(book.received(1, ms(1)).is_some());
        assert_eq!(book.received(1, ms(2)), None);
        assert_eq!(book.received(9, ms(2)), None);
        assert_eq!(book.summary().unexpected, 2);
        assert_eq!(book.summary().received, 1);
    }

    #[test]
    fn an_arrival_before_the_due_time_counts_as_no_latency() {
        let mut book = LatencyBook::new();
        book.sent(0, ms(50));
        assert_eq!(book.received(0, ms(40)), Some(Duration::ZERO));
    }

    #[test]
    fn latencies_beyond_the_histogram_are_clamped_not_lost() {
        let mut book = LatencyBook::new();
        book.record(Duration::from_secs(10_000));
        let summary = book.summary();
        assert_eq!(summary.received, 1);
        assert!(summary.max >= Duration::from_secs(599), "{summary}");
    }

    #[test]
    fn an_open_loop_schedule_spaces_items_by_the_rate() {
        let schedule = Schedule { start: ms(100), rate: 200.0 };
        assert_eq!(schedule.due(0), ms(100));
        assert_eq!(schedule.due(200), ms(1100));
        assert_eq!(Schedule { start: ms(5), rate: 0.0 }.due(7), ms(5));
    }

    #[test]
    fn a_ping_survives_its_payload_and_other_payloads_are_not_pings() {
        let ping = Ping { run: 42, item: 7, due_micros: 123_456 };
        let payload = ping.encode(64);
        assert_eq!(payload.len(), 64);
        assert_eq!(Ping::decode(&payload), Some(ping));
        assert_eq!(Ping::decode(&ping.encode(0)), Some(ping));
        assert_eq!(Ping::decode(b"{\"event_id\":\"x\"}"), None);
        assert_eq!(Ping::decode(b"ping 1 2"), None);
        assert_eq!(Ping::decode(&[0xff, 0xfe]), None);
    }
}

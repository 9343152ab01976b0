//! Ordering replay input by event time.
//!
//! Replay may be given many files whose events overlap in time: one folder per account, say,
//! each covering the same weeks. Read one after another, most events of the second file would
//! lie far behind the first file's latest event, and a cross-tenant attack spread over both
//! would never be seen as one. So replay first reads every file once, noting the earliest and
//! latest event time in it and how far out of order its own events are. It then reads the
//! files in order of their earliest event, and holds events long enough to evaluate all of
//! them in event-time order. Standard input cannot be read twice, so a replay that includes it
//! keeps the order given and the allowed lateness.

use std::io;

use indicatif::ProgressBar;
use mspwatch_event::decode::{decode_record, for_each_line_record, for_each_record, Decoded};

use crate::input::{self, Limits, RecordSink, Refusal, Source};

/// The order to read sources in, and how long the engine must hold events.
#[derive(Debug)]
pub struct Plan {
    /// The sources, earliest first.
    pub sources: Vec<Source>,
    /// How far behind the latest event an event may come, in this order; at least the
    /// allowed lateness, at most the reorder limit.
    pub hold_ms: i64,
    /// The hold the input needs to be evaluated wholly in event-time order.
    pub needed_ms: i64,
}

/// Event times seen in one source.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    earliest_ms: Option<i64>,
    latest_ms: Option<i64>,
    /// The most any event lies behind an earlier event of the same source.
    disorder_ms: i64,
}

impl Span {
    fn add(&mut self, time_ms: i64) {
        if let Some(latest) = self.latest_ms {
            self.disorder_ms = self.disorder_ms.max(latest.saturating_sub(time_ms));
        }
        self.earliest_ms = Some(self.earliest_ms.map_or(time_ms, |earliest| earliest.min(time_ms)));
        self.latest_ms = Some(self.latest_ms.map_or(time_ms, |latest| latest.max(time_ms)));
    }
}

impl RecordSink for Span {
    fn line(&mut self, _source: &str, line_no: u64, bytes: &[u8]) -> io::Result<()> {
        for_each_line_record(bytes, line_no, &mut |item| {
            if let Ok(Ok(Decoded::Event(event))) = item.map(|record| decode_record(record.bytes)) {
                self.add(event.time_ms);
            }
        });
        Ok(())
    }

    fn document(&mut self, _source: &str, bytes: &[u8]) -> io::Result<()> {
        // One record at a time: a document of many tiny records costs no more than its bytes.
        for_each_record(bytes, &mut |item| {
            if let Ok(Ok(Decoded::Event(event))) = item.map(|record| decode_record(record.bytes)) {
                self.add(event.time_ms);
            }
        });
        Ok(())
    }

    fn refuse(&mut self, _source: &str, _refusal: Refusal<'_>) -> io::Result<()> {
        Ok(())
    }
}

/// Reads every file source once and orders the sources by their earliest event. Sources that
/// cannot be read here keep their place for the real pass, which reports them.
pub fn plan(sources: Vec<Source>, limits: Limits, lateness_ms: i64, max_hold_ms: i64) -> Plan {
    let lateness_ms = lateness_ms.max(0);
    if sources.len() < 2 && sources.iter().all(|source| *source == Source::Stdin) {
        return Plan { sources, hold_ms: lateness_ms, needed_ms: 0 };
    }
    if sources.contains(&Source::Stdin) {
        return Plan { sources, hold_ms: lateness_ms, needed_ms: 0 };
    }
    let hidden = ProgressBar::hidden();
    let mut spans: Vec<(Source, Span)> = sources
        .into_iter()
        .map(|source| {
            let mut span = Span::default();
            if let Err(error) = input::read_source(&source, limits, &hidden, &mut span) {
                tracing::debug!(source = %source, ?error, "not ordered: the replay reports it");
            }
            (source, span)
        })
        .collect();
    // Sources without events sort last; the sort is stable, so ties keep the given order.
    spans.sort_by_key(|(_, span)| span.earliest_ms.unwrap_or(i64::MAX));

    let mut needed_ms = 0i64;
    let mut latest_so_far: Option<i64> = None;
    for (_, span) in &spans {
        needed_ms = needed_ms.max(span.disorder_ms);
        if let (Some(latest), Some(earliest)) = (latest_so_far, span.earliest_ms) {
            needed_ms = needed_ms.max(latest.saturating_sub(earliest));
        }
        if let Some(latest) = span.latest_ms {
            latest_so_far = Some(latest_so_far.map_or(latest, |known| known.max(latest)));
        }
    }
    let hold_ms = needed_ms.clamp(lateness_ms, max_hold_ms.max(lateness_ms));
    let sources = spans.into_iter().map(|(source, _)| source).collect();
    Plan { sources, hold_ms, needed_ms }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_measures_how_far_back_its_events_go() {
        let mut span = Span::default();
        for time_ms in [100, 300, 150, 400, 390] {
            span.add(time_ms);
        }
        assert_eq!(
            (span.earliest_ms, span.latest_ms, span.disorder_ms),
            (Some(100), Some(400), 150)
        );
    }
}

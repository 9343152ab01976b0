//! The report's arithmetic: which scenario an alert belongs to, the latency of each alert
//! version, time to detect, recall and precision. Pure functions over the run files.

use std::collections::{BTreeMap, HashMap, HashSet};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::live::files::{ReceivedAlert, Sample, WatchedRecord};
use crate::scenario::GroundTruth;

/// World time around a scenario within which an alert on its credential still counts as
/// its alert when the evidence names none of its records: the longest rule window (2 h).
pub const CREDENTIAL_SLACK_MS: i64 = 2 * 3_600_000;

/// What the run knows of one watched event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KnownEvent {
    /// The scenario it belongs to, if any.
    pub scenario: Option<usize>,
    /// When its first delivery was scheduled, µs.
    pub scheduled_us: u64,
    /// Its world time, ms.
    pub event_time_ms: i64,
}

/// Watched events by event id; a repeated delivery keeps the first schedule.
#[derive(Debug, Clone, Default)]
pub struct RecordIndex {
    events: HashMap<String, KnownEvent>,
}

impl RecordIndex {
    /// Indexes the watched records.
    pub fn new(records: &[WatchedRecord]) -> RecordIndex {
        let mut events: HashMap<String, KnownEvent> = HashMap::with_capacity(records.len());
        for record in records {
            let known = KnownEvent {
                scenario: record.scenario,
                scheduled_us: record.scheduled_us,
                event_time_ms: record.event_time_ms,
            };
            events
                .entry(record.event_id.clone())
                .and_modify(|old| old.scheduled_us = old.scheduled_us.min(known.scheduled_us))
                .or_insert(known);
        }
        RecordIndex { events }
    }

    /// The event with this id, if it was watched.
    pub fn get(&self, event_id: &str) -> Option<&KnownEvent> {
        self.events.get(event_id)
    }
}

/// A scenario's credential and world-time span, from its ground truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruthWindow {
    /// The MSP.
    pub msp_id: String,
    /// The credential.
    pub actor_id: String,
    /// First event, ms.
    pub start_ms: i64,
    /// Last event, ms.
    pub end_ms: i64,
}

impl TruthWindow {
    /// The window of a ground-truth line; `None` when its times do not parse.
    pub fn from_truth(truth: &GroundTruth) -> Option<TruthWindow> {
        Some(TruthWindow {
            msp_id: truth.msp_id.clone(),
            actor_id: truth.actor_id.clone(),
            start_ms: parse_time(&truth.start)?,
            end_ms: parse_time(&truth.end)?,
        })
    }
}

/// An RFC 3339 time in ms since the epoch.
pub fn parse_time(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text).ok().map(|time| time.timestamp_millis())
}

/// How an alert was tied to a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// Its evidence names records of the scenario.
    Evidence,
    /// It names the scenario's credential and MSP, around the scenario's time.
    Credential,
}

/// What an alert says about who did what, when.
#[derive(Debug, Clone, Copy)]
pub struct AlertFacts<'a> {
    /// The credential.
    pub actor_id: &'a str,
    /// The MSP, when attributed.
    pub msp_id: Option<&'a str>,
    /// First evidence, world ms.
    pub first_seen_ms: Option<i64>,
    /// Latest evidence, world ms.
    pub last_seen_ms: Option<i64>,
}

/// The scenario an alert belongs to: the one most of its evidence comes from; else the one
/// whose credential and MSP it names, within [`CREDENTIAL_SLACK_MS`] of the scenario's span
/// (the nearest when several); else none.
pub fn match_alert<'a>(
    evidence: impl IntoIterator<Item = &'a str>,
    facts: AlertFacts<'_>,
    index: &RecordIndex,
    truths: &[Option<TruthWindow>],
) -> Option<(usize, MatchedBy)> {
    let mut votes: BTreeMap<usize, usize> = BTreeMap::new();
    for event_id in evidence {
        if let Some(scenario) = index.get(event_id).and_then(|known| known.scenario) {
            *votes.entry(scenario).or_default() += 1;
        }
    }
    // The most votes wins; among equals, the first scenario.
    let best =
        votes.iter().fold(None, |best: Option<(usize, usize)>, (&scenario, &count)| match best {
            Some((_, most)) if most >= count => best,
            _ => Some((scenario, count)),
        });
    if let Some((scenario, _)) = best {
        return Some((scenario, MatchedBy::Evidence));
    }

    let (first, last) = match (facts.first_seen_ms, facts.last_seen_ms) {
        (Some(first), Some(last)) => (first.min(last), first.max(last)),
        (Some(time), None) | (None, Some(time)) => (time, time),
        (None, None) => return None,
    };
    truths
        .iter()
        .enumerate()
        .filter_map(|(position, truth)| Some((position, truth.as_ref()?)))
        .filter(|(_, truth)| truth.actor_id == facts.actor_id)
        .filter(|(_, truth)| facts.msp_id.is_none_or(|msp| msp == truth.msp_id))
        .filter_map(|(position, truth)| {
            let low = truth.start_ms.saturating_sub(CREDENTIAL_SLACK_MS);
            let high = truth.end_ms.saturating_add(CREDENTIAL_SLACK_MS);
            let distance = if last < truth.start_ms {
                truth.start_ms - last
            } else if first > truth.end_ms {
                first - truth.end_ms
            } else {
                0
            };
            (first <= high && last >= low).then_some((distance, position))
        })
        .min()
        .map(|(_, position)| (position, MatchedBy::Credential))
}

/// Every version of one alert, in the order received.
#[derive(Debug, Clone)]
pub struct AlertHistory<'a> {
    /// The versions.
    pub versions: Vec<&'a ReceivedAlert>,
}

impl AlertHistory<'_> {
    /// Every evidence id of every version, each once, in order of appearance.
    pub fn evidence(&self) -> Vec<&str> {
        let mut seen = HashSet::new();
        self.versions
            .iter()
            .flat_map(|version| version.alert.evidence.iter())
            .map(String::as_str)
            .filter(|id| seen.insert(*id))
            .collect()
    }

    /// The latest version received.
    pub fn latest(&self) -> Option<&ReceivedAlert> {
        self.versions.last().copied()
    }

    /// The first version received.
    pub fn first(&self) -> Option<&ReceivedAlert> {
        self.versions.first().copied()
    }

    /// What the latest version says of who and when.
    pub fn facts(&self) -> Option<AlertFacts<'_>> {
        let latest = &self.latest()?.alert;
        let first_seen_ms =
            self.versions.iter().filter_map(|version| parse_time(&version.alert.first_seen)).min();
        Some(AlertFacts {
            actor_id: &latest.actor.id,
            msp_id: latest.msp_id.as_deref(),
            first_seen_ms,
            last_seen_ms: parse_time(&latest.last_seen),
        })
    }
}

/// Groups alert versions by alert id, in order of first receipt.
pub fn group_alerts(alerts: &[ReceivedAlert]) -> Vec<AlertHistory<'_>> {
    let mut order: Vec<&str> = Vec::new();
    let mut by_id: HashMap<&str, Vec<&ReceivedAlert>> = HashMap::new();
    for received in alerts {
        let id = received.alert.id.as_str();
        by_id
            .entry(id)
            .or_insert_with(|| {
                order.push(id);
                Vec::new()
            })
            .push(received);
    }
    order
        .into_iter()
        .filter_map(|id| by_id.remove(id))
        .map(|versions| AlertHistory { versions })
        .collect()
}

/// The latency of one alert version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencySample {
    /// The alert.
    pub alert_id: String,
    /// The version.
    pub version: u32,
    /// Receipt minus the latest schedule among the records the version added to the
    /// evidence, µs.
    pub latency_us: u64,
}

/// One latency sample per version whose new evidence is all known: the version's receipt
/// minus the latest scheduled send among the records it added to the evidence (the record
/// that completed it). Returns the samples and the number of versions without one.
pub fn latency_samples(
    history: &AlertHistory<'_>,
    index: &RecordIndex,
) -> (Vec<LatencySample>, u64) {
    let mut samples = Vec::new();
    let mut unsampled = 0;
    let mut seen: HashSet<&str> = HashSet::new();
    for received in &history.versions {
        let fresh: Vec<&str> = received
            .alert
            .evidence
            .iter()
            .map(String::as_str)
            .filter(|id| !seen.contains(id))
            .collect();
        let known: Option<Vec<u64>> =
            fresh.iter().map(|id| index.get(id).map(|known| known.scheduled_us)).collect();
        match known.and_then(|schedules| schedules.into_iter().max()) {
            Some(completed) => samples.push(LatencySample {
                alert_id: received.alert.id.clone(),
                version: received.alert.version,
                latency_us: received.received_us.saturating_sub(completed),
            }),
            None => unsampled += 1,
        }
        seen.extend(fresh);
    }
    (samples, unsampled)
}

/// The backlog at each sample: records the brokers acknowledged to the load tester minus
/// events the detector evaluated since the first sample (which is taken before the first
/// send). `None` where a figure is missing.
pub fn backlogs(samples: &[Sample]) -> Vec<Option<u64>> {
    let base = samples.iter().find_map(|sample| sample.events_total);
    samples
        .iter()
        .map(|sample| {
            let evaluated = sample.events_total?.checked_sub(base?)?;
            Some(sample.acked_total?.saturating_sub(evaluated))
        })
        .collect()
}

/// Latency percentiles, ms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Samples recorded.
    pub samples: u64,
    /// Smallest.
    pub min_ms: f64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

/// A histogram for latencies in µs, from 1 µs to an hour, at 3 significant digits.
pub fn latency_histogram() -> Result<Histogram<u64>, hdrhistogram::CreationError> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3)
}

/// The percentiles of a histogram of µs values, in ms; `None` when it is empty.
pub fn percentiles(histogram: &Histogram<u64>) -> Option<Percentiles> {
    if histogram.is_empty() {
        return None;
    }
    let ms = |us: u64| us as f64 / 1_000.0;
    Some(Percentiles {
        samples: histogram.len(),
        min_ms: ms(histogram.min()),
        mean_ms: histogram.mean() / 1_000.0,
        p50_ms: ms(histogram.value_at_quantile(0.50)),
        p90_ms: ms(histogram.value_at_quantile(0.90)),
        p99_ms: ms(histogram.value_at_quantile(0.99)),
        p999_ms: ms(histogram.value_at_quantile(0.999)),
        max_ms: ms(histogram.max()),
    })
}

/// Recall for one kind of scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindRecall {
    /// Scenario name.
    pub scenario: String,
    /// Whether it is an attack.
    pub malicious: bool,
    /// Instances injected.
    pub injected: u64,
    /// Instances whose every record was sent.
    pub complete: u64,
    /// Complete instances with at least one alert.
    pub detected: u64,
    /// `detected / complete` for attacks; none for benign look-alikes or when none completed.
    pub recall: Option<f64>,
    /// Distinct alerts tied to its instances: true positives for an attack, false positives
    /// for a look-alike.
    pub alerts: u64,
}

/// What recall needs of one injected scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceResult<'a> {
    /// Scenario name.
    pub scenario: &'a str,
    /// Whether it is an attack.
    pub malicious: bool,
    /// Whether every record was sent.
    pub complete: bool,
    /// Distinct alerts tied to it.
    pub alerts: u64,
}

/// Recall per kind of scenario, in order of first appearance.
pub fn recall_by_kind(instances: &[InstanceResult<'_>]) -> Vec<KindRecall> {
    let mut rows: Vec<KindRecall> = Vec::new();
    for instance in instances {
        let position = match rows.iter().position(|row| row.scenario == instance.scenario) {
            Some(position) => position,
            None => {
                rows.push(KindRecall {
                    scenario: instance.scenario.to_string(),
                    malicious: instance.malicious,
                    injected: 0,
                    complete: 0,
                    detected: 0,
                    recall: None,
                    alerts: 0,
                });
                rows.len() - 1
            }
        };
        let Some(row) = rows.get_mut(position) else { continue };
        row.injected += 1;
        row.alerts += instance.alerts;
        if instance.complete {
            row.complete += 1;
            row.detected += u64::from(instance.alerts > 0);
        }
    }
    for row in &mut rows {
        if row.malicious && row.complete > 0 {
            row.recall = Some(row.detected as f64 / row.complete as f64);
        }
    }
    rows
}

/// Precision of one rule, or of every rule together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulePrecision {
    /// The rule, or `all`.
    pub rule_id: String,
    /// Distinct alerts.
    pub alerts: u64,
    /// Alerts tied to an attack.
    pub true_positive: u64,
    /// Alerts tied to a benign look-alike.
    pub false_positive_benign: u64,
    /// Alerts tied to no scenario.
    pub false_positive_unmatched: u64,
    /// `true_positive / alerts`, when there are alerts.
    pub precision: Option<f64>,
}

/// How one alert was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Tied to an attack.
    TruePositive,
    /// Tied to a benign look-alike.
    Benign,
    /// Tied to no scenario.
    Unmatched,
}

/// Precision per rule (sorted by rule id), then for all rules together.
pub fn precision_by_rule<'a>(
    judged: impl IntoIterator<Item = (&'a str, Verdict)>,
) -> Vec<RulePrecision> {
    let mut rules: BTreeMap<&str, [u64; 3]> = BTreeMap::new();
    let mut all = [0_u64; 3];
    for (rule, verdict) in judged {
        let slot = match verdict {
            Verdict::TruePositive => 0,
            Verdict::Benign => 1,
            Verdict::Unmatched => 2,
        };
        if let Some(count) = rules.entry(rule).or_default().get_mut(slot) {
            *count += 1;
        }
        if let Some(count) = all.get_mut(slot) {
            *count += 1;
        }
    }
    let row = |rule_id: &str, [tp, benign, unmatched]: [u64; 3]| {
        let alerts = tp + benign + unmatched;
        RulePrecision {
            rule_id: rule_id.to_string(),
            alerts,
            true_positive: tp,
            false_positive_benign: benign,
            false_positive_unmatched: unmatched,
            precision: (alerts > 0).then(|| tp as f64 / alerts as f64),
        }
    };
    let mut rows: Vec<RulePrecision> =
        rules.into_iter().map(|(rule, counts)| row(rule, counts)).collect();
    rows.push(row("all", all));
    rows
}

/// An alert version for tests: `seen` is (first_seen, last_seen).
#[cfg(test)]
pub(crate) fn test_alert(
    id: &str,
    version: u32,
    actor: &str,
    evidence: &[&str],
    seen: (&str, &str),
) -> mspwatch_alert::Alert {
    use mspwatch_alert::{Alert, AlertActor, Severity};
    Alert {
        id: id.to_string(),
        version,
        rule_id: "cross-tenant-backup-deletion".to_string(),
        title: "t".to_string(),
        severity: Severity::Critical,
        score: 90.0,
        msp_id: Some("msp-a".to_string()),
        supplier_tier: None,
        actor: AlertActor {
            id: actor.to_string(),
            name: None,
            kind: mspwatch_event::ActorType::User,
        },
        tenants: vec![],
        first_seen: seen.0.to_string(),
        last_seen: seen.1.to_string(),
        event_count: evidence.len() as u64,
        evidence: evidence.iter().map(|id| id.to_string()).collect(),
        timeline: vec![],
        mitre: vec![],
        summary: String::new(),
        baseline: None,
        notify_by: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mspwatch_alert::Alert;

    fn watched(id: &str, scenario: Option<usize>, scheduled_us: u64) -> WatchedRecord {
        WatchedRecord {
            event_id: id.to_string(),
            scenario,
            action: "backup.delete".to_string(),
            event_time_ms: 0,
            scheduled_us,
            sent_us: scheduled_us + 10,
            duplicate: false,
        }
    }

    fn alert(id: &str, version: u32, actor: &str, evidence: &[&str], seen: (&str, &str)) -> Alert {
        test_alert(id, version, actor, evidence, seen)
    }

    fn received(received_us: u64, alert: Alert) -> ReceivedAlert {
        ReceivedAlert { received_us, alert }
    }

    fn truth(actor: &str, start: &str, end: &str) -> Option<TruthWindow> {
        Some(TruthWindow {
            msp_id: "msp-a".to_string(),
            actor_id: actor.to_string(),
            start_ms: parse_time(start).unwrap(),
            end_ms: parse_time(end).unwrap(),
        })
    }

    const T: (&str, &str) = ("2026-11-03T10:00:00Z", "2026-11-03T10:05:00Z");

    #[test]
    fn the_backlog_counts_acknowledged_records_not_yet_evaluated_since_the_first_sample() {
        let sample = |acked: Option<u64>, events: Option<u64>| Sample {
            t_us: 0,
            acked_total: acked,
            lag: None,
            events_total: events,
            alerts_total: None,
            cpu_seconds: None,
            rss_bytes: None,
            detector_running: None,
        };
        let samples = [
            sample(Some(0), Some(5_000)),
            sample(Some(1_000), Some(5_400)),
            sample(None, Some(6_000)),
            sample(Some(3_000), None),
            sample(Some(3_000), Some(8_000)),
        ];
        assert_eq!(backlogs(&samples), [Some(0), Some(600), None, None, Some(0)]);
    }

    #[test]
    fn percentiles_of_a_known_histogram_are_its_order_statistics() {
        let mut histogram = latency_histogram().unwrap();
        for ms in 1..=1_000_u64 {
            histogram.record(ms * 1_000).unwrap();
        }
        let p = percentiles(&histogram).unwrap();
        assert_eq!(p.samples, 1_000);
        // Three significant digits: each figure within 0.1% of the exact order statistic.
        for (got, want) in [(p.p50_ms, 500.0), (p.p90_ms, 900.0), (p.p99_ms, 990.0)] {
            assert!((got - want).abs() <= want * 0.001, "{got} vs {want}");
        }
        assert!((p.p999_ms - 999.0).abs() <= 1.0, "{}", p.p999_ms);
        assert!((p.max_ms - 1_000.0).abs() <= 1.0, "{}", p.max_ms);
        assert!((p.min_ms - 1.0).abs() < 0.01);
        assert!((p.mean_ms - 500.5).abs() < 0.5, "{}", p.mean_ms);
        assert!(percentiles(&latency_histogram().unwrap()).is_none());
    }

    #[test]
    fn a_skewed_histogram_puts_the_tail_only_in_the_high_percentiles() {
        let mut histogram = latency_histogram().unwrap();
        for _ in 0..995 {
            histogram.record(20_000).unwrap();
        }
        for _ in 0..5 {
            histogram.record(2_000_000).unwrap();
        }
        let p = percentiles(&histogram).unwrap();
        assert!((p.p99_ms - 20.0).abs() < 0.1, "{}", p.p99_ms);
        assert!((p.p999_ms - 2_000.0).abs() < 2.0, "{}", p.p999_ms);
    }

    #[test]
    fn evidence_ties_an_alert_to_the_scenario_most_of_it_comes_from() {
        let index = RecordIndex::new(&[
            watched("a1", Some(0), 10),
            watched("b1", Some(1), 20),
            watched("b2", Some(1), 30),
            watched("n1", None, 40),
        ]);
        let truths = [truth("x", T.0, T.1), truth("y", T.0, T.1)];
        let facts =
            AlertFacts { actor_id: "z", msp_id: None, first_seen_ms: None, last_seen_ms: None };
        let matched = match_alert(["a1", "b1", "b2", "n1"], facts, &index, &truths);
        assert_eq!(matched, Some((1, MatchedBy::Evidence)));
        assert_eq!(match_alert(["n1", "unknown"], facts, &index, &truths), None);
    }

    #[test]
    fn without_evidence_the_credential_ties_an_alert_near_its_scenario_only() {
        let index = RecordIndex::default();
        let truths = [
            truth("mallory", "2026-11-03T10:00:00Z", "2026-11-03T10:09:00Z"),
            truth("mallory", "2026-11-04T10:00:00Z", "2026-11-04T10:09:00Z"),
        ];
        let at = |first: &str, last: &str, msp: Option<&'static str>| AlertFacts {
            actor_id: "mallory",
            msp_id: msp,
            first_seen_ms: parse_time(first),
            last_seen_ms: parse_time(last),
        };
        let near_second = at("2026-11-04T11:30:00Z", "2026-11-04T11:40:00Z", Some("msp-a"));
        assert_eq!(match_alert([], near_second, &index, &truths), Some((1, MatchedBy::Credential)));
        let far = at("2026-11-03T14:00:00Z", "2026-11-03T14:10:00Z", Some("msp-a"));
        assert_eq!(match_alert([], far, &index, &truths), None);
        let other_msp = at("2026-11-03T10:01:00Z", "2026-11-03T10:02:00Z", Some("msp-b"));
        assert_eq!(match_alert([], other_msp, &index, &truths), None);
        let someone_else = AlertFacts { actor_id: "alice", ..near_second };
        assert_eq!(match_alert([], someone_else, &index, &truths), None);
    }

    #[test]
    fn each_version_is_timed_from_the_last_scheduled_record_it_added() {
        let index = RecordIndex::new(&[
            watched("e1", Some(0), 1_000),
            watched("e2", Some(0), 5_000),
            watched("e3", Some(0), 3_000),
            watched("e4", Some(0), 9_000),
            // A repeated delivery keeps the first schedule.
            watched("e4", Some(0), 12_000),
        ]);
        let alerts = [
            received(8_000, alert("al", 1, "m", &["e1", "e2", "e3"], T)),
            received(20_000, alert("al", 2, "m", &["e1", "e2", "e3", "e4"], T)),
            received(30_000, alert("al", 3, "m", &["e1", "e2", "e3", "e4", "normal"], T)),
            received(31_000, alert("al", 4, "m", &["e1", "e2", "e3", "e4", "normal"], T)),
        ];
        let groups = group_alerts(&alerts);
        assert_eq!(groups.len(), 1);
        let (samples, unsampled) = latency_samples(&groups[0], &index);
        let latencies: Vec<(u32, u64)> =
            samples.iter().map(|sample| (sample.version, sample.latency_us)).collect();
        assert_eq!(latencies, [(1, 3_000), (2, 11_000)]);
        // Version 3 added an unknown record; version 4 added nothing.
        assert_eq!(unsampled, 2);
    }

    #[test]
    fn versions_group_by_alert_in_order_of_first_receipt() {
        let alerts = [
            received(1, alert("b", 1, "m", &[], T)),
            received(2, alert("a", 1, "m", &[], T)),
            received(3, alert("b", 2, "m", &["x"], T)),
        ];
        let groups = group_alerts(&alerts);
        let ids: Vec<(&str, usize)> = groups
            .iter()
            .map(|group| (group.first().unwrap().alert.id.as_str(), group.versions.len()))
            .collect();
        assert_eq!(ids, [("b", 2), ("a", 1)]);
        assert_eq!(groups[0].evidence(), ["x"]);
    }

    #[test]
    fn recall_counts_only_complete_attacks_and_benign_alerts_are_not_recall() {
        let instance = |scenario, malicious, complete, alerts| InstanceResult {
            scenario,
            malicious,
            complete,
            alerts,
        };
        let rows = recall_by_kind(&[
            instance("fast-delete", true, true, 2),
            instance("fast-delete", true, true, 0),
            instance("fast-delete", true, false, 0),
            instance("retention-cleanup", false, true, 1),
            instance("probing", true, false, 1),
        ]);
        let fast = &rows[0];
        assert_eq!((fast.injected, fast.complete, fast.detected, fast.alerts), (3, 2, 1, 2));
        assert_eq!(fast.recall, Some(0.5));
        assert_eq!(rows[1].scenario, "retention-cleanup");
        assert_eq!((rows[1].alerts, rows[1].recall), (1, None));
        assert_eq!((rows[2].complete, rows[2].recall), (0, None));
    }

    #[test]
    fn precision_counts_benign_and_unmatched_alerts_against_their_rule() {
        let rows = precision_by_rule([
            ("deletion", Verdict::TruePositive),
            ("deletion", Verdict::TruePositive),
            ("deletion", Verdict::Benign),
            ("export", Verdict::Unmatched),
        ]);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].rule_id, "deletion");
        assert_eq!(rows[0].precision, Some(2.0 / 3.0));
        assert_eq!(rows[1].precision, Some(0.0));
        assert_eq!(rows[1].false_positive_unmatched, 1);
        let all = &rows[2];
        assert_eq!((all.alerts, all.true_positive, all.false_positive_benign), (4, 2, 1));
        assert_eq!(all.precision, Some(0.5));
        assert_eq!(precision_by_rule([]).last().unwrap().precision, None);
    }
}

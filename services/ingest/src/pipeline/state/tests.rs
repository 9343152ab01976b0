//! Tests for message processing, offset holding and the stall watchdog, without a broker.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use mspwatch_alert::Alert;
use mspwatch_engine::EngineStats;
use mspwatch_event::Event;

use super::*;

/// Counts events; raises nothing.
struct Counter(u64);

impl Detector for Counter {
    fn ingest(&mut self, _event: Event, _alerts: &mut Vec<Alert>) {
        self.0 += 1;
    }

    /// Pretends every event evicted one credential and left 100 bytes of state.
    fn counters(&self) -> EngineStats {
        let evictions = mspwatch_engine::Evictions { credentials: self.0, ..Default::default() };
        EngineStats {
            events_in: self.0,
            evicted: evictions.total(),
            evictions,
            state_bytes: self.0 * 100,
            ..EngineStats::default()
        }
    }
}

fn shared(stall_timeout: Duration) -> Shared<Counter> {
    Shared {
        state: Mutex::new(State::default()),
        retries: Mutex::new(Vec::new()),
        metrics: IngestMetrics::default(),
        settings: Settings {
            alerts_topic: "alerts".into(),
            dead_letter_topic: "dlq".into(),
            dead_letter_max_bytes: 1024,
            drain_timeout: Duration::from_secs(1),
            stall_timeout,
            unreachable_timeout: Duration::from_secs(15),
        },
        on_alert_durable: None,
        reachability: crate::pipeline::health::Reachability::new(Duration::from_secs(15)),
    }
}

fn assign(shared: &Shared<Counter>, id: &PartitionId) {
    let mut state = shared.lock();
    let generation = state.next_generation;
    state.next_generation += 1;
    state.partitions.insert(id.clone(), PartitionState::new(generation, Counter(0)));
}

fn record(event_id: &str, msp_id: &str) -> Vec<u8> {
    format!(
        r#"{{"event_id":"{event_id}","time":"2026-11-02T09:00:00Z","msp_id":"{msp_id}","tenant_id":"tn-1","actor":{{"id":"c","type":"user"}},"action":"backup.run","outcome":"success"}}"#
    )
    .into_bytes()
}

#[test]
fn rejected_record_is_a_dead_letter_that_holds_back_its_offset() {
    let shared = shared(Duration::from_secs(60));
    let id = PartitionId::new("audit", 0);
    assign(&shared, &id);
    let mut state = shared.lock();
    let good = record("e1", "msp-a");
    assert!(state.process_message(&shared, &id, 0, None, Some(&good)).unwrap().writes.is_empty());
    let processed = state.process_message(&shared, &id, 1, Some(b"msp-a"), Some(b"{oops"));
    let writes = processed.unwrap().writes;
    assert_eq!(writes.len(), 1);
    assert_eq!(writes.first().map(|write| write.topic.as_str()), Some("dlq"));
    state.process_message(&shared, &id, 2, None, Some(&record("e2", "msp-a")));

    let offsets = &state.partitions.get(&id).unwrap().offsets;
    assert_eq!(offsets.committable(), Some(1), "the dead letter is not acknowledged yet");
    let generation = state.partitions.get(&id).unwrap().generation;
    assert!(state.acknowledge(&id, generation, 1));
    assert_eq!(state.partitions.get(&id).unwrap().offsets.committable(), Some(3));
    assert_eq!(state.snapshot(&shared.metrics).rejects_total(), 1);
    assert_eq!(shared.metrics.events.get(), 2);
}

#[test]
fn acknowledgement_from_an_earlier_assignment_is_ignored() {
    let shared = shared(Duration::from_secs(60));
    let id = PartitionId::new("audit", 0);
    assign(&shared, &id);
    let mut state = shared.lock();
    state.process_message(&shared, &id, 0, None, Some(b"not json"));
    let generation = state.partitions.get(&id).unwrap().generation;
    assert!(!state.acknowledge(&id, generation + 1, 0));
    assert!(!state.is_current(&id, generation + 1));
    assert_eq!(state.partitions.get(&id).unwrap().offsets.committable(), Some(0));
}

#[test]
fn message_for_an_unassigned_partition_is_not_processed() {
    let shared = shared(Duration::from_secs(60));
    let mut state = shared.lock();
    let id = PartitionId::new("audit", 7);
    assert!(state.process_message(&shared, &id, 0, None, Some(&record("e", "m"))).is_none());
    assert_eq!(shared.metrics.events.get(), 0);
}

#[test]
fn partition_with_lag_and_no_progress_is_reported_stalled_until_it_moves() {
    let shared = shared(Duration::from_millis(50));
    let id = PartitionId::new("audit", 0);
    assign(&shared, &id);
    let mut state = shared.lock();
    state.process_message(&shared, &id, 0, None, Some(&record("e1", "msp-a")));
    let partition = state.partitions.get_mut(&id).unwrap();
    partition.high_watermark = Some(10);
    partition.last_progress = Instant::now() - Duration::from_millis(200);

    state.watch(&shared.metrics, Duration::from_millis(50));
    let stats = state.snapshot(&shared.metrics);
    let partition_stats = stats.partitions.first().unwrap();
    assert!(partition_stats.stalled);
    assert_eq!(partition_stats.lag, Some(9));
    assert_eq!(shared.metrics.partition_stalls.get(), 1);

    state.watch(&shared.metrics, Duration::from_millis(50));
    assert_eq!(shared.metrics.partition_stalls.get(), 1, "one stall is counted once");

    state.process_message(&shared, &id, 1, None, Some(&record("e2", "msp-a")));
    state.watch(&shared.metrics, Duration::from_millis(50));
    assert!(!state.snapshot(&shared.metrics).partitions.first().unwrap().stalled);
}

#[test]
fn idle_partition_without_lag_is_never_stalled() {
    let shared = shared(Duration::from_millis(10));
    let id = PartitionId::new("audit", 0);
    assign(&shared, &id);
    let mut state = shared.lock();
    state.process_message(&shared, &id, 4, None, Some(&record("e1", "msp-a")));
    let partition = state.partitions.get_mut(&id).unwrap();
    partition.high_watermark = Some(5);
    partition.last_progress = Instant::now() - Duration::from_secs(5);
    state.watch(&shared.metrics, Duration::from_millis(10));
    assert!(!state.snapshot(&shared.metrics).partitions.first().unwrap().stalled);
    assert_eq!(shared.metrics.partition_stalls.get(), 0);
}

#[test]
fn one_msp_on_two_partitions_is_counted_for_each_event_away_from_home() {
    let shared = shared(Duration::from_secs(60));
    let (home, away) = (PartitionId::new("audit", 0), PartitionId::new("audit", 1));
    assign(&shared, &home);
    assign(&shared, &away);
    let mut state = shared.lock();
    state.process_message(&shared, &home, 0, None, Some(&record("e1", "msp-a")));
    state.process_message(&shared, &away, 0, None, Some(&record("e2", "msp-a")));
    state.process_message(&shared, &away, 1, None, Some(&record("e3", "msp-a")));
    state.process_message(&shared, &away, 2, None, Some(&record("e4", "msp-b")));
    assert_eq!(shared.metrics.msp_partition_splits.get(), 2);
}

#[test]
fn evictions_are_counted_by_kind_and_state_bytes_summed_over_partitions() {
    let shared = shared(Duration::from_secs(60));
    let (first, second) = (PartitionId::new("audit", 0), PartitionId::new("audit", 1));
    assign(&shared, &first);
    assign(&shared, &second);
    let mut state = shared.lock();
    for offset in 0..3 {
        state.process_message(
            &shared,
            &first,
            offset,
            None,
            Some(&record(&format!("a{offset}"), "m")),
        );
    }
    state.process_message(&shared, &second, 0, None, Some(&record("b0", "m")));
    state.watch(&shared.metrics, Duration::from_secs(60));
    let credentials = KindLabels { kind: "credentials" };
    assert_eq!(shared.metrics.evictions_by_kind.get_or_create(&credentials).get(), 4);
    assert_eq!(shared.metrics.evictions.get(), 4);
    assert_eq!(shared.metrics.state_bytes.get(), 400);

    state.process_message(&shared, &second, 1, None, Some(&record("b1", "m")));
    state.watch(&shared.metrics, Duration::from_secs(60));
    state.watch(&shared.metrics, Duration::from_secs(60));
    assert_eq!(shared.metrics.evictions_by_kind.get_or_create(&credentials).get(), 5, "once");
    assert_eq!(shared.metrics.state_bytes.get(), 500);
    let tenants = KindLabels { kind: "tenants" };
    assert_eq!(shared.metrics.evictions_by_kind.get_or_create(&tenants).get(), 0);
}

#[test]
fn a_message_of_many_bad_records_writes_a_bounded_number_of_dead_letters_and_keeps_the_good() {
    use rdkafka::message::Headers;

    let shared = shared(Duration::from_secs(60));
    let id = PartitionId::new("audit", 0);
    assign(&shared, &id);
    let mut state = shared.lock();
    let bad = 5_000;
    let mut payload = b"[".to_vec();
    payload.extend_from_slice(&record("good-1", "msp-a"));
    for _ in 0..bad {
        payload.extend_from_slice(b",1");
    }
    payload.push(b',');
    payload.extend_from_slice(&record("good-2", "msp-a"));
    payload.push(b']');

    let writes = state.process_message(&shared, &id, 0, Some(b"msp-a"), Some(&payload)).unwrap();
    let writes = writes.writes;
    assert_eq!(
        writes.len(),
        MAX_DEAD_LETTERS_PER_MESSAGE + 1,
        "one per reject up to the cap, then one"
    );
    assert_eq!(
        shared.metrics.events.get(),
        2,
        "the good records around the bad ones are evaluated"
    );
    assert_eq!(state.snapshot(&shared.metrics).rejects_total(), bad, "every reject is counted");
    let last_reason = writes.last().and_then(|write| write.headers.as_ref()).and_then(|headers| {
        headers
            .iter()
            .find(|header| header.key == crate::writes::HEADER_REASON)?
            .value
            .map(<[u8]>::to_vec)
    });
    assert_eq!(last_reason.as_deref(), Some(&b"rejects_set_aside"[..]));
}

#[test]
fn an_instance_without_partitions_reports_it_once_after_a_while() {
    let shared = shared(Duration::from_secs(60));
    let mut state = shared.lock();
    state.watch(&shared.metrics, Duration::from_secs(60));
    let (since, reported) = state.unassigned.unwrap();
    assert!(!reported, "not at once");
    state.unassigned = Some((since - UNASSIGNED_WARNING, false));
    state.watch(&shared.metrics, Duration::from_secs(60));
    assert!(state.unassigned.is_some_and(|(_, reported)| reported));
    drop(state);
    assign(&shared, &PartitionId::new("audit", 0));
    let mut state = shared.lock();
    state.watch(&shared.metrics, Duration::from_secs(60));
    assert!(state.unassigned.is_none(), "an assignment resets it");
}

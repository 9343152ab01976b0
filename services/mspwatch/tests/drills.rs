//! Fault drills: the real `mspwatch run` against a real broker on 127.0.0.1 while the detector is
//! killed, the broker restarts or goes away, and instances join and leave the group. Each drill
//! splits an attack around the fault and checks that exactly one alert reaches subscribers and
//! that every produced event was counted; it prints its figures for RELIABILITY.md.
//!
//! Without the broker binary the drills print SKIPPED and pass, unless
//! `MSPWATCH_REQUIRE_BROKER=1`. `--nocapture` shows the figures; `MSPWATCH_TEST_LOGS=1` echoes
//! the detectors' logs.

#![allow(clippy::print_stderr, reason = "the drills print their figures")]
#![allow(clippy::unwrap_used, reason = "a drill fails by panicking")]

#[path = "live/support.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mspwatch_deliver::pb;
use support::{
    drill_broker, now_text, record, routine, Detector, Live, Subscriber, DELETION_RULE, GLOBAL,
    NORTHWIND_MSP, PATIENCE,
};

/// `[kafka]` settings of every drill: frequent commits, and an outage reported after 5 s.
const KAFKA: &str = "commit_interval = \"500ms\"\nunreachable_timeout = \"5s\"";
/// gRPC health statuses.
const SERVING: i32 = 1;
const NOT_SERVING: i32 = 2;
/// How long a drill waits for recovery from a broker fault.
const RECOVERY: Duration = Duration::from_secs(60);

/// What a drill produced, to compare with what the detector counted.
#[derive(Default)]
struct Produced {
    events: i64,
}

impl Produced {
    /// Produces `count` routine events on each partition, for an MSP of that partition's own.
    async fn routine(&mut self, live: &Live, tag: &str, count: usize) {
        for index in 0..count {
            for partition in 0..2 {
                let msp = format!("msp-routine-{partition}");
                let id = format!("{tag}-{partition}-{index}");
                let record = routine(&id, &msp, "cred-routine", "tn-home", &now_text());
                live.produce_to(partition, &msp, &record).await;
                self.events += 1;
            }
        }
    }

    /// Produces deletion `index` of `actor`'s attack on northwind, in tenant `index`.
    async fn delete(&mut self, live: &Live, actor: &str, index: usize) {
        let id = format!("{actor}-delete-{index}");
        let tenant = format!("tn-{actor}-{index}");
        live.produce(NORTHWIND_MSP, &record(&id, NORTHWIND_MSP, actor, &tenant, &now_text())).await;
        self.events += 1;
    }

    /// Produces deletion `third` of each actor's attack, the first actor's to partition 0 and
    /// the second's to partition 1.
    async fn delete_on_each_partition(&mut self, live: &Live, actors: [&str; 2], third: usize) {
        for (partition, actor) in (0..).zip(actors) {
            let id = format!("{actor}-delete-{third}");
            let tenant = format!("tn-{actor}-{third}");
            let record = record(&id, NORTHWIND_MSP, actor, &tenant, &now_text());
            live.produce_to(partition, NORTHWIND_MSP, &record).await;
            self.events += 1;
        }
    }
}

fn everything() -> pb::AlertFilter {
    pb::AlertFilter::default()
}

/// The configuration of a detector that checkpoints every `interval`.
fn with_checkpoints(live: &Live, interval: &str) -> PathBuf {
    let detector = format!(
        "checkpoint_dir = \"{}\"\ncheckpoint_interval = \"{interval}\"",
        live.checkpoint_dir().display()
    );
    live.write_config_with_detector(KAFKA, &detector)
}

/// Starts a detector with `config` and waits until it owns every audit partition; returns it
/// and how long that took.
fn start(live: &Live, config: &Path) -> (Detector, Duration) {
    let started = Instant::now();
    let detector = live.spawn_detector(config);
    detector.wait_until_ready();
    (detector, started.elapsed())
}

/// The newest checkpoint's offset of each partition, read from the files' headers (magic,
/// version, group, topic, partition, then the next offset).
fn checkpoint_offsets(live: &Live) -> BTreeMap<String, i64> {
    let directory = live.checkpoint_dir().join(live.group());
    let mut offsets = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(&directory) else { return offsets };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".ckpt") {
            continue;
        }
        let bytes = std::fs::read(entry.path()).unwrap();
        let mut at = 12;
        for _ in 0..2 {
            let length = u16::from_le_bytes([bytes[at], bytes[at + 1]]);
            at += 2 + usize::from(length);
        }
        at += 4;
        let offset = i64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        offsets.insert(name, offset);
    }
    offsets
}

/// Waits until the newest checkpoints cover `total` events in all.
fn wait_checkpointed(live: &Live, total: i64) -> Duration {
    let started = Instant::now();
    loop {
        let offsets = checkpoint_offsets(live);
        if offsets.values().sum::<i64>() == total {
            return started.elapsed();
        }
        assert!(started.elapsed() < PATIENCE, "checkpoints {offsets:?} never covered {total}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The alert versions of `actor` in the alerts topic, as (id, version).
fn written_versions(live: &Live, actor: &str) -> Vec<(String, u32)> {
    live.alert_records(1)
        .iter()
        .filter_map(|message| {
            let payload = rdkafka::Message::payload(message)?;
            let alert: serde_json::Value = serde_json::from_slice(payload).ok()?;
            if alert["actor"]["id"] != actor {
                return None;
            }
            let version = u32::try_from(alert["version"].as_u64()?).ok()?;
            Some((alert["id"].as_str()?.to_owned(), version))
        })
        .collect()
}

/// Checks that `actor`'s attack raised one alert, delivered once per version, and that the
/// alerts topic holds no other alert id for it; returns the id.
fn assert_one_alert(live: &Live, subscriber: &Subscriber, actor: &str) -> String {
    let delivered: Vec<(String, u32)> = subscriber
        .seen
        .iter()
        .filter(|seen| seen.actor == actor)
        .map(|seen| (seen.id.clone(), seen.version))
        .collect();
    let once: BTreeSet<&(String, u32)> = delivered.iter().collect();
    assert_eq!(
        once.len(),
        delivered.len(),
        "a version reached the subscriber twice: {delivered:?}"
    );
    let ids: BTreeSet<String> = delivered.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(ids.len(), 1, "one alert for {actor}: {delivered:?}");
    let written: BTreeSet<String> =
        written_versions(live, actor).into_iter().map(|(id, _)| id).collect();
    assert_eq!(written, ids, "the alerts topic holds the same single alert");
    ids.into_iter().next().unwrap()
}

/// Checks that the detector's engines counted every produced event exactly once; returns
/// (events counted, duplicates dropped).
async fn assert_nothing_lost(detector: &Detector, produced: &Produced) -> (u64, u64) {
    let counters = detector.counters().await;
    let events_in = counters.get("events_in").copied().unwrap_or(0);
    let duplicates = counters.get("duplicates").copied().unwrap_or(0);
    let counted = i64::try_from(events_in - duplicates).unwrap();
    assert_eq!(counted, produced.events, "every produced event counted once: {counters:?}");
    (events_in, duplicates)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_attack_then_restart_raises_one_alert_and_loses_nothing() {
    let Some(live) = Live::start("drill-kill") else { return };
    let actor = "cred-kill";
    let mut produced = Produced::default();

    // First detector: checkpoints every second. Routine work and two of three deletions.
    let (mut first, _) = start(&live, &with_checkpoints(&live, "1s"));
    produced.routine(&live, "before", 10).await;
    produced.delete(&live, actor, 0).await;
    produced.delete(&live, actor, 1).await;
    live.wait_committed(produced.events, PATIENCE);
    let checkpointed = wait_checkpointed(&live, produced.events);
    let covered = produced.events;
    first.kill();

    // Second detector: restores, reads more routine work and commits it, but writes no
    // checkpoint before it is killed too, so the checkpoints stay behind the commits.
    let (mut second, _) = start(&live, &with_checkpoints(&live, "1h"));
    second.wait_count("partition state restored from checkpoint", 2, PATIENCE);
    produced.routine(&live, "between", 10).await;
    live.wait_committed(produced.events, PATIENCE);
    assert_eq!(checkpoint_offsets(&live).values().sum::<i64>(), covered, "no newer checkpoint");
    second.kill();

    // Third detector: restores the same checkpoints, reads the routine work again, and sees
    // the third deletion.
    let (third, ready) = start(&live, &with_checkpoints(&live, "1s"));
    let restored = third.wait_log_count("partition state restored from checkpoint", 2, PATIENCE);
    let mut subscriber = Subscriber::open(third.grpc, GLOBAL, everything(), None).await.unwrap();
    let attack_end = Instant::now();
    produced.delete(&live, actor, 2).await;
    subscriber.wait_alert(DELETION_RULE, actor, PATIENCE).await;
    let alert_after = attack_end.elapsed();
    produced.routine(&live, "after", 5).await;
    subscriber.drain(Duration::from_secs(2)).await;

    let id = assert_one_alert(&live, &subscriber, actor);
    live.wait_committed(produced.events, PATIENCE);
    let (events_in, duplicates) = assert_nothing_lost(&third, &produced).await;
    let reread = third.metric("mspwatch_checkpoint_reread_messages_total").unwrap_or(0.0);
    assert!(reread >= 10.0, "the routine work after the checkpoint was read again: {reread}");
    eprintln!(
        "drill kill-9: {} events produced, engines counted {events_in} ({duplicates} duplicates); \
         1 alert expected, 1 delivered ({id}); checkpoint written {checkpointed:?} after the \
         commit; restart to partitions assigned {ready:?}; restore {} ms; {reread} messages \
         read again; alert {alert_after:?} after the last deletion",
        produced.events, restored["restore_ms"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_checkpoints_an_attack_split_by_a_kill_is_missed() {
    let Some(live) = Live::start("drill-control") else { return };
    let actor = "cred-control";
    let mut produced = Produced::default();
    let config = live.write_config(KAFKA);
    let (mut first, _) = start(&live, &config);
    produced.delete(&live, actor, 0).await;
    produced.delete(&live, actor, 1).await;
    live.wait_committed(produced.events, PATIENCE);
    first.kill();

    let (second, _) = start(&live, &config);
    let mut subscriber = Subscriber::open(second.grpc, GLOBAL, everything(), None).await.unwrap();
    produced.delete(&live, actor, 2).await;
    live.wait_committed(produced.events, PATIENCE);
    subscriber.drain(Duration::from_secs(3)).await;
    assert!(
        subscriber.seen.iter().all(|seen| seen.actor != actor),
        "an engine that starts empty cannot see the first two deletions: {:?}",
        subscriber.seen
    );
    eprintln!("drill control: without checkpoints the split attack raised no alert (expected)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_with_persistent_storage_loses_nothing() {
    let storage = tempfile::tempdir().unwrap();
    let Some(mut broker) = drill_broker(storage.path()) else { return };
    let live = Live::start_on("drill-broker-restart", &broker);
    let actor = "cred-restart";
    let mut produced = Produced::default();
    let (detector, _) = start(&live, &with_checkpoints(&live, "1s"));
    let mut subscriber = Subscriber::open(detector.grpc, GLOBAL, everything(), None).await.unwrap();
    produced.routine(&live, "before", 10).await;
    produced.delete(&live, actor, 0).await;
    produced.delete(&live, actor, 1).await;
    live.wait_committed(produced.events, PATIENCE);

    let restarting = Instant::now();
    broker.restart().unwrap();
    let broker_back = restarting.elapsed();
    let back = Instant::now();
    produced.delete(&live, actor, 2).await;
    subscriber.wait_alert(DELETION_RULE, actor, RECOVERY).await;
    let alert_after = back.elapsed();
    produced.routine(&live, "after", 10).await;
    let caught_up = live.wait_committed(produced.events, RECOVERY) + back.elapsed();
    subscriber.drain(Duration::from_secs(2)).await;

    let id = assert_one_alert(&live, &subscriber, actor);
    let (events_in, duplicates) = assert_nothing_lost(&detector, &produced).await;
    assert_eq!(detector.health().await, Some(SERVING));
    eprintln!(
        "drill broker restart: {} events produced, engines counted {events_in} ({duplicates} \
         duplicates); 1 alert expected, 1 delivered ({id}); broker down and up in \
         {broker_back:?}; alert {alert_after:?} after the restart; all committed \
         {caught_up:?} after it",
        produced.events
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_away_for_thirty_seconds_is_reported_unhealthy_then_caught_up() {
    const OUTAGE: Duration = Duration::from_secs(30);
    let storage = tempfile::tempdir().unwrap();
    let Some(mut broker) = drill_broker(storage.path()) else { return };
    let live = Live::start_on("drill-outage", &broker);
    let actor = "cred-outage";
    let mut produced = Produced::default();
    // The default session timeout, longer than the outage: the group need not re-form.
    let config = with_checkpoints(&live, "1s");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("session_timeout = \"6s\"", "session_timeout = \"45s\""))
        .unwrap();
    let (detector, _) = start(&live, &config);
    assert_eq!(detector.health().await, Some(SERVING));
    let mut subscriber = Subscriber::open(detector.grpc, GLOBAL, everything(), None).await.unwrap();
    produced.routine(&live, "before", 10).await;
    produced.delete(&live, actor, 0).await;
    produced.delete(&live, actor, 1).await;
    live.wait_committed(produced.events, PATIENCE);

    broker.kill();
    let killed = Instant::now();
    let unhealthy_after = detector.wait_health(NOT_SERVING, Duration::from_secs(20)).await;
    assert_eq!(detector.metric("mspwatch_kafka_reachable"), Some(0.0));
    tokio::time::sleep(OUTAGE.saturating_sub(killed.elapsed())).await;
    assert!(detector.is_running(), "the detector rides the outage out");
    assert_eq!(detector.health().await, Some(NOT_SERVING), "unhealthy for the whole outage");

    broker.restart().unwrap();
    let back = Instant::now();
    let healthy_after = detector.wait_health(SERVING, RECOVERY).await;
    produced.delete(&live, actor, 2).await;
    subscriber.wait_alert(DELETION_RULE, actor, RECOVERY).await;
    let alert_after = back.elapsed();
    produced.routine(&live, "after", 10).await;
    let caught_up = live.wait_committed(produced.events, RECOVERY) + back.elapsed();
    subscriber.drain(Duration::from_secs(2)).await;

    let id = assert_one_alert(&live, &subscriber, actor);
    let (events_in, duplicates) = assert_nothing_lost(&detector, &produced).await;
    assert_eq!(detector.metric("mspwatch_kafka_reachable"), Some(1.0));
    assert_eq!(detector.metric("mspwatch_kafka_outages_total"), Some(1.0));
    eprintln!(
        "drill broker outage: {} events produced, engines counted {events_in} ({duplicates} \
         duplicates); 1 alert expected, 1 delivered ({id}); broker away {:?}; NOT_SERVING \
         {unhealthy_after:?} after the broker went; SERVING {healthy_after:?} after it came \
         back; alert {alert_after:?} after it came back (the deletion produced once healthy); \
         all committed {caught_up:?} after it came back",
        produced.events,
        back.duration_since(killed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_state_moves_with_its_checkpoint_when_instances_join_and_leave() {
    let Some(live) = Live::start("drill-group") else { return };
    let actors = ["cred-group-0", "cred-group-1"];
    let mut produced = Produced::default();
    let config = with_checkpoints(&live, "1s");

    // One instance owns both partitions and sees a third of each attack.
    let (mut first, _) = start(&live, &config);
    produced.routine(&live, "alone", 10).await;
    produced.delete_on_each_partition(&live, actors, 0).await;
    live.wait_committed(produced.events, PATIENCE);

    // A second instance joins: the partitions are shared out; the one that moves takes its
    // checkpoint along.
    let joining = Instant::now();
    let second = live.spawn_detector(&config);
    second.wait_count("partition assigned", 1, PATIENCE);
    let joined = joining.elapsed();
    let owned = |detector: &Detector| {
        detector.count_log("partition assigned") - detector.count_log("partition released")
    };
    let deadline = Instant::now() + PATIENCE;
    while owned(&first) + owned(&second) != 2 || owned(&first) == 0 {
        assert!(Instant::now() < deadline, "partitions never shared out");
        std::thread::sleep(Duration::from_millis(50));
    }
    produced.routine(&live, "together", 10).await;
    produced.delete_on_each_partition(&live, actors, 1).await;
    live.wait_committed(produced.events, PATIENCE);

    // The first instance leaves: the second takes every partition, with its checkpoint.
    let leaving = Instant::now();
    first.signal("TERM");
    assert!(first.wait_exit(PATIENCE).success());
    let deadline = Instant::now() + PATIENCE;
    while owned(&second) != 2 {
        assert!(Instant::now() < deadline, "the remaining instance never took every partition");
        std::thread::sleep(Duration::from_millis(50));
    }
    let took_over = leaving.elapsed();
    let mut subscriber = Subscriber::open(second.grpc, GLOBAL, everything(), None).await.unwrap();
    let attack_end = Instant::now();
    produced.routine(&live, "after", 10).await;
    produced.delete_on_each_partition(&live, actors, 2).await;
    for actor in actors {
        subscriber.wait_alert(DELETION_RULE, actor, PATIENCE).await;
    }
    let alerts_after = attack_end.elapsed();
    subscriber.drain(Duration::from_secs(2)).await;

    let ids: Vec<String> =
        actors.iter().map(|actor| assert_one_alert(&live, &subscriber, actor)).collect();
    live.wait_committed(produced.events, PATIENCE);
    let restores = second.count_log("partition state restored from checkpoint");
    assert!(restores >= 2, "both partitions came to the second instance by checkpoint");
    let (events_in, duplicates) = assert_nothing_lost(&second, &produced).await;
    eprintln!(
        "drill group: {} events produced, engines counted {events_in} ({duplicates} \
         duplicates); 2 alerts expected, 2 delivered ({ids:?}); joining instance owned a \
         partition after {joined:?}; after the first left, the second owned both in \
         {took_over:?}; {restores} partition restores on the second; alerts {alerts_after:?} \
         after the last deletions",
        produced.events
    );
}

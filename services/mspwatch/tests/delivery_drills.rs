//! Fault drills for alert delivery, with the real binary, a real Kafka-protocol broker and real
//! gRPC clients on 127.0.0.1: subscribers cut off mid-stream (by the network or by a detector
//! restart) resume from their cursor and miss nothing, and an alert storm with a stalled
//! subscriber leaves the other subscribers on time and the detector's memory bounded.
//!
//! Each drill prints its figures on standard error (`--nocapture` shows them). The storm lasts
//! `MSPWATCH_DRILL_SECONDS` seconds (10 by default, at most 600) at `MSPWATCH_DRILL_RATE`
//! alerts per second (10,000 by default). Its latency bound (p99 under two seconds) is asserted
//! in optimized builds (`cargo test --release`) only: a debug build on two busy cores lags more.
//! Without the broker binary the drills print SKIPPED and pass, unless
//! `MSPWATCH_REQUIRE_BROKER=1`.
#![allow(clippy::unwrap_used, reason = "a drill fails by panicking")]
#![allow(clippy::print_stderr, reason = "the drills print their figures")]

#[path = "live/support.rs"]
mod support;

use std::collections::{BTreeSet, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{SecondsFormat, Utc};
use mspwatch_alert::{Alert, AlertActor, Severity, TimelineEntry};
use mspwatch_deliver::pb;
use mspwatch_deliver::pb::alert_service_client::AlertServiceClient;
use mspwatch_deliver::pb::subscribe_response::Event;
use mspwatch_deliver::{cursor_of, AlertLog};
use mspwatch_event::ActorType;
use mspwatch_ingest::writes::alert_write;
use mspwatch_ingest::PartitionId;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle};
use tonic::transport::Endpoint;
use tonic::Code;

use support::{
    authorized, process_memory, record, Live, Memory, Subscriber, GLOBAL, GLOBEX_MSP, NORTHWIND,
    NORTHWIND_MSP, PATIENCE,
};

// --- Drill: subscribers cut off mid-stream -------------------------------------------------------

/// Attack campaigns produced while the connections are cut.
const CAMPAIGNS: usize = 28;
/// Tenants each campaign deletes backups in: the third raises version 1, each later one a version.
const CAMPAIGN_TENANTS: usize = 5;
/// Pause between two audit records: the traffic lasts about 14 seconds.
const RECORD_GAP: Duration = Duration::from_millis(100);
/// Time between two faults.
const CUT_EVERY: Duration = Duration::from_millis(1500);
/// Network cuts before the detector restart.
const CUTS_BEFORE_RESTART: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_cut_off_mid_stream_resume_from_their_cursor_and_miss_nothing() {
    let Some(live) = Live::start("cutoff") else { return };
    let config = live.write_config_with("commit_interval = \"500ms\"", "");
    let mut detector = live.spawn_detector(&config);
    detector.wait_until_ready();
    let proxy = Proxy::start(detector.grpc).await;
    let (stop, stopped) = watch::channel(false);
    let global = Follower::spawn(proxy.address, GLOBAL, pb::AlertFilter::default(), &stopped);
    let northwind_only =
        pb::AlertFilter { msp_ids: vec![NORTHWIND_MSP.to_owned()], ..pb::AlertFilter::default() };
    let northwind = Follower::spawn(proxy.address, NORTHWIND, northwind_only, &stopped);
    global.wait_subscribed(1).await;
    northwind.wait_subscribed(1).await;

    let traffic_started = Instant::now();
    let traffic = tokio::spawn(produce_campaigns(live.brokers(), live.audit_topic()));
    let mut cuts = Vec::new();
    for _ in 0..CUTS_BEFORE_RESTART {
        tokio::time::sleep(CUT_EVERY).await;
        cuts.push(Cut::network(&proxy));
    }

    // The server side: the detector is killed as `kill -9` does and started again.
    tokio::time::sleep(CUT_EVERY).await;
    let killed_at = Instant::now();
    let alerts_before_kill = global.received().versions.len();
    detector.kill();
    let detector = live.spawn_detector(&config);
    proxy.set_upstream(detector.grpc);
    detector.wait_until_ready();
    let restart_ready = killed_at.elapsed();
    cuts.push(Cut { at: killed_at, kind: "detector kill -9 and restart" });

    tokio::time::sleep(CUT_EVERY).await;
    cuts.push(Cut::network(&proxy));
    let produced = traffic.await.unwrap();
    let traffic_took = traffic_started.elapsed();

    // Every audit record evaluated and its alerts written, then every version delivered.
    let deadline = Instant::now() + PATIENCE;
    while live.committed_total() < produced as i64 {
        assert!(
            Instant::now() < deadline,
            "the detector did not catch up:\n{}",
            detector.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let on_topic = topic_alerts(&live, global.received().distinct().len());
    let written: BTreeSet<(String, u32)> = on_topic.iter().map(|(key, _)| key.clone()).collect();
    let written_northwind: BTreeSet<(String, u32)> = on_topic
        .iter()
        .filter(|(_, msp_id)| msp_id.as_deref() == Some(NORTHWIND_MSP))
        .map(|(key, _)| key.clone())
        .collect();
    global.wait_for(&written).await;
    northwind.wait_for(&written_northwind).await;
    let _ = stop.send(true);

    let global = global.finish().await;
    let northwind = northwind.finish().await;
    eprintln!(
        "cut-off drill: {produced} audit records in {traffic_took:.1?}, {} alert versions \
         expected from {CAMPAIGNS} campaigns, {} on the topic ({} distinct, {} written twice by \
         the restarted detector), {} for northwind",
        CAMPAIGNS * (CAMPAIGN_TENANTS - 2),
        on_topic.len(),
        written.len(),
        on_topic.len() - written.len(),
        written_northwind.len(),
    );
    eprintln!(
        "cut-off drill: detector killed after {alerts_before_kill} alert versions delivered; the \
         new one was ready {restart_ready:.1?} after the kill"
    );
    for (name, followed, expected) in
        [("global", &global, &written), ("northwind", &northwind, &written_northwind)]
    {
        let recoveries = followed.recoveries(&cuts);
        let first_after_kill = followed.first_alert_after(killed_at);
        eprintln!(
            "cut-off drill: {name} subscriber received {} alert versions over {} subscriptions \
             ({} failed attempts), {} duplicates, {} missing; resubscribed after each cut in: \
             {}; first alert version {first_after_kill:.1?} after the kill",
            followed.versions.len(),
            followed.subscribed.len(),
            followed.failed_attempts,
            followed.versions.len() - followed.distinct().len(),
            expected.difference(&followed.distinct()).count(),
            recoveries
                .iter()
                .map(|(cut, took)| format!("{} {took:.2?}", cut.kind))
                .collect::<Vec<_>>()
                .join(", "),
        );
        assert_eq!(&followed.distinct(), expected, "{name}: exactly the versions on the topic");
        assert_eq!(followed.versions.len(), expected.len(), "{name}: no version twice");
        assert_eq!(recoveries.len(), cuts.len(), "{name}: resubscribed after every cut");
        assert!(
            followed.segments_with_alerts() >= 3,
            "{name}: alerts flowed between the cuts: {:?}",
            followed.alerts_per_subscription
        );
    }
}

/// One fault injected: when, and what.
#[derive(Debug, Clone, Copy)]
struct Cut {
    at: Instant,
    kind: &'static str,
}

impl Cut {
    /// Cuts every connection through the proxy.
    fn network(proxy: &Proxy) -> Cut {
        let at = Instant::now();
        let connections = proxy.cut();
        assert!(connections > 0, "a cut closes the subscribers' connections");
        Cut { at, kind: "network cut" }
    }
}

/// Produces the campaigns' audit records one after another, with a pause between records;
/// returns how many were produced.
async fn produce_campaigns(brokers: String, topic: String) -> usize {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("message.timeout.ms", "10000")
        .set("linger.ms", "0")
        .create()
        .unwrap();
    let mut produced = 0;
    for campaign in 0..CAMPAIGNS {
        let msp_id = if campaign % 3 == 2 { GLOBEX_MSP } else { NORTHWIND_MSP };
        let credential = format!("cred-cut-{campaign}");
        for tenant in 0..CAMPAIGN_TENANTS {
            let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
            let event_id = format!("cut-{campaign}-{tenant}");
            let tenant_id = format!("tn-cut-{campaign}-{tenant}");
            let payload = record(&event_id, msp_id, &credential, &tenant_id, &now);
            let delivery = producer
                .send(FutureRecord::to(&topic).key(msp_id).payload(&payload), PATIENCE)
                .await;
            delivery.map_err(|(error, _)| error).unwrap();
            produced += 1;
            tokio::time::sleep(RECORD_GAP).await;
        }
    }
    produced
}

/// Every alert record of the alerts topic as ((id, version), msp_id), waiting for at least
/// `count`; a version written twice appears twice.
fn topic_alerts(live: &Live, count: usize) -> Vec<((String, u32), Option<String>)> {
    live.alert_records(count)
        .iter()
        .filter_map(|message| {
            let alert: Alert = serde_json::from_slice(message.payload()?).ok()?;
            Some(((alert.id, alert.version), alert.msp_id))
        })
        .collect()
}

/// A TCP proxy on 127.0.0.1 between gRPC clients and the detector, whose connections can all be
/// cut at once and whose upstream can move (a restarted detector listens on another port).
struct Proxy {
    address: SocketAddr,
    upstream: Arc<Mutex<SocketAddr>>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
    accepting: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let upstream = Arc::new(Mutex::new(upstream));
        let connections: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let accepting =
            tokio::spawn(accept(listener, Arc::clone(&upstream), Arc::clone(&connections)));
        Proxy { address, upstream, connections, accepting }
    }

    fn set_upstream(&self, upstream: SocketAddr) {
        *self.upstream.lock().unwrap_or_else(PoisonError::into_inner) = upstream;
    }

    /// Closes every open connection, both ways; returns how many were open.
    fn cut(&self) -> usize {
        let mut connections = self.connections.lock().unwrap_or_else(PoisonError::into_inner);
        let open = connections.iter().filter(|connection| !connection.is_finished()).count();
        for connection in connections.drain(..) {
            connection.abort();
        }
        open
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accepting.abort();
        self.cut();
    }
}

async fn accept(
    listener: TcpListener,
    upstream: Arc<Mutex<SocketAddr>>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
) {
    while let Ok((mut client, _)) = listener.accept().await {
        let target = *upstream.lock().unwrap_or_else(PoisonError::into_inner);
        let relay = tokio::spawn(async move {
            // A refused upstream (the detector is down) closes the client's connection.
            if let Ok(mut server) = TcpStream::connect(target).await {
                let _ = server.set_nodelay(true);
                let _ = client.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            }
        });
        let mut connections = connections.lock().unwrap_or_else(PoisonError::into_inner);
        connections.retain(|connection| !connection.is_finished());
        connections.push(relay.abort_handle());
    }
}

/// What a resuming subscriber received.
#[derive(Debug, Default, Clone)]
struct Followed {
    /// Every alert version received, in order.
    versions: Vec<(String, u32)>,
    /// When each subscription delivered its first message.
    subscribed: Vec<Instant>,
    /// Alert versions received by each subscription.
    alerts_per_subscription: Vec<usize>,
    /// When each alert version was received.
    received_at: Vec<Instant>,
    /// Connection or subscription attempts that failed.
    failed_attempts: usize,
}

impl Followed {
    fn distinct(&self) -> BTreeSet<(String, u32)> {
        self.versions.iter().cloned().collect()
    }

    fn segments_with_alerts(&self) -> usize {
        self.alerts_per_subscription.iter().filter(|count| **count > 0).count()
    }

    /// How long after `at` the first alert version arrived.
    fn first_alert_after(&self, at: Instant) -> Option<Duration> {
        let first = self.received_at.iter().find(|received| **received > at)?;
        Some(first.duration_since(at))
    }

    /// For each cut, how long until the next subscription delivered its first message.
    fn recoveries(&self, cuts: &[Cut]) -> Vec<(Cut, Duration)> {
        cuts.iter()
            .filter_map(|cut| {
                let back = self.subscribed.iter().find(|subscribed| **subscribed > cut.at)?;
                Some((*cut, back.duration_since(cut.at)))
            })
            .collect()
    }
}

/// A subscriber that does what docs/grpc.md tells clients to: on any end of its stream, it
/// subscribes again, on a new connection, from the cursor of the last message it received.
struct Follower {
    followed: Arc<Mutex<Followed>>,
    task: JoinHandle<()>,
}

impl Follower {
    fn spawn(
        address: SocketAddr,
        token: &'static str,
        filter: pb::AlertFilter,
        stop: &watch::Receiver<bool>,
    ) -> Follower {
        let followed: Arc<Mutex<Followed>> = Arc::default();
        let task =
            tokio::spawn(follow(address, token, filter, Arc::clone(&followed), stop.clone()));
        Follower { followed, task }
    }

    fn received(&self) -> Followed {
        self.followed.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    async fn wait_subscribed(&self, count: usize) {
        let deadline = Instant::now() + PATIENCE;
        while self.received().subscribed.len() < count {
            assert!(Instant::now() < deadline, "no subscription");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until every version of `expected` has arrived.
    async fn wait_for(&self, expected: &BTreeSet<(String, u32)>) {
        let deadline = Instant::now() + PATIENCE;
        while !expected.is_subset(&self.received().distinct()) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // A version that should not have come has time to arrive too.
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }

    async fn finish(self) -> Followed {
        let received = Arc::clone(&self.followed);
        self.task.await.unwrap();
        let followed = received.lock().unwrap_or_else(PoisonError::into_inner);
        followed.clone()
    }
}

async fn follow(
    address: SocketAddr,
    token: &str,
    filter: pb::AlertFilter,
    followed: Arc<Mutex<Followed>>,
    mut stop: watch::Receiver<bool>,
) {
    // `c1.` is everything the log holds: nothing produced after the first subscription is missed.
    let mut cursor = "c1.".to_owned();
    let mut backoff = Duration::from_millis(50);
    let record = |change: &dyn Fn(&mut Followed)| {
        change(&mut followed.lock().unwrap_or_else(PoisonError::into_inner));
    };
    loop {
        let request = pb::SubscribeRequest { filter: Some(filter.clone()), cursor: cursor.clone() };
        let attempt = async {
            let channel = Endpoint::from_shared(format!("http://{address}"))
                .unwrap()
                .connect_timeout(Duration::from_secs(2))
                .connect()
                .await
                .ok()?;
            let mut client = AlertServiceClient::new(channel);
            client.subscribe(authorized(request, Some(token))).await.ok()
        };
        let stream = tokio::select! {
            stream = attempt => stream,
            _ = stop.wait_for(|stop| *stop) => return,
        };
        let Some(stream) = stream else {
            record(&|followed| followed.failed_attempts += 1);
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(1));
            continue;
        };
        let mut stream = stream.into_inner();
        let mut first = true;
        loop {
            let message = tokio::select! {
                message = stream.message() => message,
                _ = stop.wait_for(|stop| *stop) => return,
            };
            let Ok(Some(message)) = message else { break };
            cursor = message.cursor;
            if first {
                first = false;
                backoff = Duration::from_millis(50);
                record(&|followed| {
                    followed.subscribed.push(Instant::now());
                    followed.alerts_per_subscription.push(0);
                });
            }
            if let Some(Event::Alert(alert)) = message.event {
                record(&|followed| {
                    followed.versions.push((alert.id.clone(), alert.version));
                    followed.received_at.push(Instant::now());
                    if let Some(count) = followed.alerts_per_subscription.last_mut() {
                        *count += 1;
                    }
                });
            }
        }
    }
}

// --- Drill: an alert storm with a stalled subscriber ---------------------------------------------

/// Alerts per second during the storm, unless `MSPWATCH_DRILL_RATE` says otherwise.
const STORM_RATE: u64 = 10_000;
/// The storm's length in seconds, unless `MSPWATCH_DRILL_SECONDS` says otherwise.
const STORM_SECONDS: u64 = 10;
/// Alerts are produced in batches, one batch per tick.
const STORM_TICK: Duration = Duration::from_millis(10);
/// Alert versions the detector's log keeps (`grpc.log_capacity`, the default, written out since
/// the memory bound is derived from it).
const LOG_CAPACITY: u64 = 100_000;
/// Alerts buffered per subscriber (`grpc.subscriber_buffer`, the default).
const SUBSCRIBER_BUFFER: u64 = 1024;
/// How long the stalled subscriber may read nothing before it is ended (`grpc.stall_timeout`,
/// shorter than the default 30 s so that it is ended during the storm).
const STALL_TIMEOUT: &str = "5s";
/// Subscriptions open during the storm: two that read, one that never does.
const STORM_SUBSCRIBERS: u64 = 3;
/// Head-room over what alerts cost in a fresh heap: the detector's heap also holds the holes
/// that evicted and delivered alerts leave behind.
const HEAP_MARGIN: f64 = 1.5;
/// Per connection: the HTTP/2 send buffer (400 KiB), the flow-control windows and the encoder's
/// buffer.
const CONNECTION_KIB: u64 = 2 * 1024;
/// The alerts reader's prefetched records (16 MiB) and one fetch of both partitions.
const READER_PREFETCH_KIB: u64 = 16 * 1024 + 2 * 1024;
/// The bound on a fast subscriber's p99 latency, asserted in optimized builds.
const STORM_LATENCY_BOUND: Duration = Duration::from_secs(2);
/// Whether this is an optimized build, whose latency is asserted; a debug build, several times
/// slower, reports its latency.
const OPTIMIZED: bool = !cfg!(debug_assertions);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_storm_leaves_other_subscribers_on_time_and_memory_bounded() {
    let (rate, seconds) = (
        drill_setting("MSPWATCH_DRILL_RATE", STORM_RATE, 100_000),
        drill_setting("MSPWATCH_DRILL_SECONDS", STORM_SECONDS, 600),
    );
    let total = usize::try_from(rate * seconds).unwrap();
    let Some(live) = Live::start("storm") else { return };
    let records = StormRecords::new(&live.alerts_topic());
    // Measured while this drill holds the broker, so no other drill allocates meanwhile.
    let costs = AlertCosts::measure(&records);
    let grpc = format!(
        "log_capacity = {LOG_CAPACITY}\nsubscriber_buffer = {SUBSCRIBER_BUFFER}\n\
         stall_timeout = \"{STALL_TIMEOUT}\""
    );
    let config = live.write_config_with("commit_interval = \"500ms\"", &grpc);
    let detector = live.spawn_detector(&config);
    detector.wait_until_ready();

    let mut stalled =
        Subscriber::open(detector.grpc, GLOBAL, pb::AlertFilter::default(), None).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(seconds) + PATIENCE * 2;
    let mut fast = Vec::new();
    for _ in 0..2 {
        let (subscribed, is_subscribed) = tokio::sync::oneshot::channel();
        fast.push(tokio::spawn(receive_storm(detector.grpc, total, deadline, subscribed)));
        is_subscribed.await.unwrap();
    }
    let idle = detector.memory().unwrap();
    let pid = detector.pid().unwrap();
    let cpu_before = (cpu_seconds(pid), cpu_seconds(std::process::id()));
    let sampler = MemorySampler::start(pid);

    let started = Instant::now();
    let produced = produce_storm(&live, &records, total, rate).await;
    let produce_took = started.elapsed();
    let mut receivers = Vec::new();
    for receiver in fast {
        receivers.push(receiver.await.unwrap());
    }
    let delivered_in = started.elapsed();
    let samples = sampler.stop().await;
    let after = detector.memory().unwrap();
    let cpu = (cpu_seconds(pid) - cpu_before.0, cpu_seconds(std::process::id()) - cpu_before.1);

    let log_kib = (LOG_CAPACITY * costs.log_entry) as f64 * HEAP_MARGIN / 1024.0;
    let buffers = STORM_SUBSCRIBERS * SUBSCRIBER_BUFFER * costs.buffered;
    let buffers_kib = buffers as f64 * HEAP_MARGIN / 1024.0;
    let bound_kib = idle.rss_kib
        + log_kib as u64
        + buffers_kib as u64
        + STORM_SUBSCRIBERS * CONNECTION_KIB
        + READER_PREFETCH_KIB;
    let build = if OPTIMIZED { "optimized" } else { "debug" };
    eprintln!(
        "storm drill ({build} build): {produced} alerts of {} B produced onto the alerts topic \
         in {produce_took:.1?} ({:.0}/s); both fast subscribers done {delivered_in:.1?} after \
         the first",
        costs.json,
        produced as f64 / produce_took.as_secs_f64()
    );
    for (index, storm) in receivers.iter().enumerate() {
        eprintln!(
            "storm drill: fast subscriber {index}: {} of {total} alerts, {} duplicates, ended \
             {} times ({:?}); latency from produce to receipt p50 {:.1?}, p99 {:.1?}, max \
             {:.1?}",
            storm.received,
            storm.duplicates,
            storm.ends.len(),
            storm.ends.iter().map(|code| format!("{code:?}")).collect::<BTreeSet<_>>(),
            storm.percentile(0.50),
            storm.percentile(0.99),
            storm.percentile(1.0),
        );
    }
    eprintln!(
        "storm drill: detector resident memory {} MiB idle, peak {} MiB (VmHWM, {} samples \
         every 100 ms), {} MiB after; bound {} MiB = idle + {LOG_CAPACITY} log entries x {} B \
         x {HEAP_MARGIN} + {STORM_SUBSCRIBERS} x {SUBSCRIBER_BUFFER} buffered x {} B x \
         {HEAP_MARGIN} + {STORM_SUBSCRIBERS} connections x {} MiB + {} MiB reader prefetch; CPU \
         during the storm: detector {:.1} s, drill (producer and subscribers) {:.1} s",
        idle.rss_kib / 1024,
        after.peak_kib / 1024,
        samples.len(),
        after.rss_kib / 1024,
        bound_kib / 1024,
        costs.log_entry,
        costs.buffered,
        CONNECTION_KIB / 1024,
        READER_PREFETCH_KIB / 1024,
        cpu.0,
        cpu.1,
    );
    assert_eq!(produced, total, "every alert of the storm is on the topic");
    for storm in &receivers {
        assert_eq!(storm.received, total, "a fast subscriber received every alert");
        assert_eq!(storm.duplicates, 0, "and none twice");
        assert!(storm.ends.is_empty(), "a fast subscriber was ended: {:?}", storm.ends);
        if OPTIMIZED {
            let p99 = storm.percentile(0.99);
            assert!(p99 < STORM_LATENCY_BOUND, "p99 latency {p99:?} over {STORM_LATENCY_BOUND:?}");
        }
    }
    assert!(
        after.peak_kib < bound_kib,
        "peak {} KiB over the bound {bound_kib} KiB",
        after.peak_kib
    );

    // The stalled subscriber was ended with its cursor; from it, it receives the rest.
    let ended = receive_until_ended(&mut stalled).await;
    assert_eq!(ended.code(), Code::ResourceExhausted, "{ended:?}");
    assert_eq!(cursor_of(&ended).as_deref(), Some(stalled.cursor.as_str()));
    let before_end = stalled.seen.len();
    let resumed_at = Instant::now();
    let mut cursor = stalled.cursor.clone();
    let open = |cursor: String| async move {
        Subscriber::open(detector.grpc, GLOBAL, pb::AlertFilter::default(), Some(&cursor)).await
    };
    let mut resumed = match open(cursor.clone()).await {
        Ok(resumed) => resumed,
        // A storm longer than the log holds evicted the oldest alerts: resume from the oldest.
        Err(status) if status.code() == Code::OutOfRange && total as u64 > LOG_CAPACITY => {
            cursor = cursor_of(&status).unwrap();
            open(cursor.clone()).await.unwrap()
        }
        Err(status) => panic!("the stalled subscriber cannot resume: {status:?}"),
    };
    let retained = usize::try_from(LOG_CAPACITY).unwrap().min(total - before_end);
    let replay_deadline = Instant::now() + PATIENCE + Duration::from_secs(seconds * 2);
    while resumed.seen.len() < retained && Instant::now() < replay_deadline {
        if resumed.next(PATIENCE).await.unwrap().is_none() {
            break;
        }
    }
    let mut distinct: HashSet<&str> = stalled.seen.iter().map(|seen| seen.id.as_str()).collect();
    distinct.extend(resumed.seen.iter().map(|seen| seen.id.as_str()));
    eprintln!(
        "storm drill: stalled subscriber ended with {:?} after {before_end} alerts; resumed from \
         its cursor and received the other {} in {:.1?}; {} distinct of {total} ({} evicted \
         before it came back)",
        ended.code(),
        resumed.seen.len(),
        resumed_at.elapsed(),
        distinct.len(),
        total - before_end - retained,
    );
    assert_eq!(distinct.len(), before_end + retained, "the stalled subscriber missed nothing");
    assert_eq!(before_end + resumed.seen.len(), distinct.len(), "and received nothing twice");
    let slow_ends = receivers.iter().map(|storm| storm.ends.len()).sum::<usize>() + 1;
    detector.wait_metric(&format!("mspwatch_grpc_subscribers_ended_slow_total {slow_ends}"));
}

/// A drill setting from the environment: `default` when unset or unreadable, within
/// `1..=most`.
fn drill_setting(name: &str, default: u64, most: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .map_or(default, |value| value.clamp(1, most))
}

/// Receives until the subscription ends; returns the status that ended it.
async fn receive_until_ended(subscriber: &mut Subscriber) -> tonic::Status {
    loop {
        match subscriber.next(PATIENCE).await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the stalled subscription was not ended"),
            Err(status) => return status,
        }
    }
}

/// Microseconds since the epoch.
fn now_us() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
}

/// Digits of a storm alert's number in its id.
const INDEX_DIGITS: usize = 7;
/// Digits of the production time, in microseconds since the epoch, at the end of its summary.
const TIME_DIGITS: usize = 16;

/// Storm alert records as the detector writes them (JSON of an alert, keyed by its id), made
/// from one record by writing each alert's number and production time into it.
struct StormRecords {
    template: Vec<u8>,
    index_at: usize,
    time_at: usize,
}

impl StormRecords {
    fn new(topic: &str) -> StormRecords {
        let source = PartitionId::new("storm.audit", 0);
        let write = alert_write(topic, &storm_alert(), (source, 0, 0)).unwrap();
        let template = write.payload;
        let find = |needle: &[u8]| template.windows(needle.len()).position(|at| at == needle);
        let index_at = find(b"al-storm-0000000").unwrap() + "al-storm-".len();
        let time_at = find(b"produced 0000000000000000").unwrap() + "produced ".len();
        StormRecords { template, index_at, time_at }
    }

    /// The key and payload of alert `index`, produced at `produced_us`.
    fn record(&self, index: usize, produced_us: u64) -> (String, Vec<u8>) {
        let mut payload = self.template.clone();
        let digits = format!("{index:0INDEX_DIGITS$}");
        payload[self.index_at..self.index_at + INDEX_DIGITS].copy_from_slice(digits.as_bytes());
        let time = format!("{produced_us:0TIME_DIGITS$}");
        payload[self.time_at..self.time_at + TIME_DIGITS].copy_from_slice(time.as_bytes());
        (format!("al-storm-{digits}"), payload)
    }
}

/// The storm's alert, shaped like a cross-tenant deletion alert, with zeros where each alert's
/// number and production time go.
fn storm_alert() -> Alert {
    let tenants = ["tn-storm-acme", "tn-storm-globex", "tn-storm-initech"].map(str::to_owned);
    let evidence = ["ev-storm-1", "ev-storm-2", "ev-storm-3"].map(str::to_owned);
    let time = "2026-11-05T03:10:02.000Z".to_owned();
    Alert {
        id: format!("al-storm-{}", "0".repeat(INDEX_DIGITS)),
        version: 1,
        rule_id: "cross-tenant-backup-deletion".to_owned(),
        title: "Backup deletion across tenants".to_owned(),
        severity: Severity::Critical,
        score: 88.0,
        msp_id: Some(NORTHWIND_MSP.to_owned()),
        supplier_tier: None,
        actor: AlertActor { id: "cred-storm".to_owned(), name: None, kind: ActorType::ApiKey },
        timeline: tenants
            .iter()
            .zip(&evidence)
            .map(|(tenant, event)| TimelineEntry {
                time: time.clone(),
                event_id: event.clone(),
                action: "backup.delete".to_owned(),
                outcome: "success".to_owned(),
                tenants: vec![tenant.clone()],
            })
            .collect(),
        summary: format!(
            "cred-storm deleted backups in 3 tenants of {NORTHWIND_MSP} within 30m: {}; \
             produced {}",
            tenants.join(", "),
            "0".repeat(TIME_DIGITS)
        ),
        tenants: tenants.to_vec(),
        first_seen: time.clone(),
        last_seen: time.clone(),
        event_count: 3,
        evidence: evidence.to_vec(),
        mitre: vec!["T1490".to_owned(), "T1485".to_owned()],
        baseline: None,
        notify_by: "2026-11-08T03:10:02.000Z".to_owned(),
    }
}

/// Produces `total` storm alerts onto the alerts topic at `rate` per second; returns how many
/// the broker acknowledged.
async fn produce_storm(live: &Live, records: &StormRecords, total: usize, rate: u64) -> usize {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", live.brokers())
        .set("message.timeout.ms", "60000")
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .unwrap();
    let topic = live.alerts_topic();
    let mut deliveries = Vec::with_capacity(total);
    let started = tokio::time::Instant::now();
    let mut ticks = tokio::time::interval(STORM_TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut index = 0;
    while index < total {
        ticks.tick().await;
        // As many as the rate allows by now, so a late tick catches up.
        let due = u128::from(rate) * started.elapsed().as_millis() / 1000;
        let due = usize::try_from(due).unwrap_or(total).clamp(index + 1, total);
        while index < due {
            let (key, payload) = records.record(index, now_us());
            let mut record = FutureRecord::to(&topic).key(&key).payload(&payload);
            loop {
                match producer.send_result(record) {
                    Ok(delivery) => {
                        deliveries.push(delivery);
                        break;
                    }
                    Err((_, again)) => {
                        record = again;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            }
            index += 1;
        }
    }
    let mut acknowledged = 0;
    for delivery in deliveries {
        if matches!(delivery.await, Ok(Ok(_))) {
            acknowledged += 1;
        }
    }
    acknowledged
}

/// What one fast subscriber received of the storm.
#[derive(Debug)]
struct Storm {
    received: usize,
    duplicates: usize,
    /// Produce-to-receipt latency of each alert, sorted once done.
    latencies: Vec<Duration>,
    /// How each subscription that ended before the storm was received ended.
    ends: Vec<Code>,
}

impl Storm {
    fn percentile(&self, fraction: f64) -> Duration {
        let last = self.latencies.len().saturating_sub(1);
        let index = ((last as f64) * fraction).round() as usize;
        self.latencies.get(index).copied().unwrap_or_default()
    }
}

/// Subscribes from now, says so on `subscribed`, and reads every storm alert as it comes; like
/// any client, resumes from its last cursor when the server ends its subscription.
async fn receive_storm(
    address: SocketAddr,
    total: usize,
    deadline: Instant,
    subscribed: tokio::sync::oneshot::Sender<()>,
) -> Storm {
    let mut subscribed = Some(subscribed);
    let mut seen = vec![false; total];
    let mut storm = Storm {
        received: 0,
        duplicates: 0,
        latencies: Vec::with_capacity(total),
        ends: Vec::new(),
    };
    let mut cursor = String::new();
    while storm.received < total && Instant::now() < deadline {
        let mut client = support::alert_client(address).await;
        let request = pb::SubscribeRequest { filter: None, cursor: cursor.clone() };
        let mut stream = match client.subscribe(authorized(request, Some(GLOBAL))).await {
            Ok(response) => response.into_inner(),
            Err(status) => {
                storm.ends.push(status.code());
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        while storm.received < total {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = match tokio::time::timeout(left, stream.message()).await {
                Ok(Ok(Some(message))) => message,
                Ok(Err(status)) => {
                    storm.ends.push(status.code());
                    break;
                }
                Ok(Ok(None)) | Err(_) => break,
            };
            cursor = message.cursor;
            if let Some(subscribed) = subscribed.take() {
                let _ = subscribed.send(());
            }
            let Some(Event::Alert(alert)) = message.event else { continue };
            let received_us = now_us();
            let index = alert.id.strip_prefix("al-storm-").and_then(|index| index.parse().ok());
            let produced_us = alert.summary.rsplit(' ').next().and_then(|us| us.parse().ok());
            let (Some(index), Some(produced_us)) = (index, produced_us) else { continue };
            match seen.get_mut::<usize>(index) {
                Some(true) => storm.duplicates += 1,
                Some(flag) => {
                    *flag = true;
                    storm.received += 1;
                }
                None => {}
            }
            let latency = received_us.saturating_sub(produced_us);
            storm.latencies.push(Duration::from_micros(latency));
        }
    }
    storm.latencies.sort_unstable();
    storm
}

/// User and system CPU time of process `pid`, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(") ").next().unwrap_or_default().split(' ').collect();
    let ticks = |index: usize| fields.get(index).and_then(|field| field.parse::<f64>().ok());
    // After the command name: the state is field 0, utime field 11 and stime field 12, in ticks
    // of 1/100 s.
    (ticks(11).unwrap_or(0.0) + ticks(12).unwrap_or(0.0)) / 100.0
}

/// Samples a process's resident memory every 100 ms.
struct MemorySampler {
    stop: watch::Sender<bool>,
    task: JoinHandle<Vec<Memory>>,
}

impl MemorySampler {
    fn start(pid: u32) -> MemorySampler {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut ticks = tokio::time::interval(Duration::from_millis(100));
            loop {
                tokio::select! {
                    _ = ticks.tick() => samples.extend(process_memory(pid)),
                    _ = stopped.wait_for(|stop| *stop) => return samples,
                }
            }
        });
        MemorySampler { stop, task }
    }

    async fn stop(self) -> Vec<Memory> {
        let _ = self.stop.send(true);
        self.task.await.unwrap()
    }
}

// --- What one alert costs, measured ---------------------------------------------------------------

/// The detector's allocator, so that what an alert costs here is what it costs there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Alerts built to measure what one costs.
const MEASURED: usize = 40_000;

/// What one storm alert costs, in bytes.
#[derive(Debug, Clone, Copy)]
struct AlertCosts {
    /// Its record on the alerts topic.
    json: u64,
    /// Resident memory of its entry in the alert log: parsed from its record as the reader
    /// does, with its latest-version record.
    log_entry: u64,
    /// Resident memory of the message waiting for it in a subscriber's buffer.
    buffered: u64,
}

impl AlertCosts {
    /// Measures, by this process's resident memory, what `MEASURED` alerts cost in a log and
    /// in subscriber buffers.
    fn measure(records: &StormRecords) -> AlertCosts {
        let payloads: Vec<Vec<u8>> =
            (0..MEASURED).map(|index| records.record(index, now_us()).1).collect();
        let alerts: Vec<Alert> =
            payloads.iter().map(|payload| serde_json::from_slice(payload).unwrap()).collect();
        let empty = own_rss_kib();
        let log = AlertLog::new(MEASURED);
        for (offset, payload) in (0i64..).zip(&payloads) {
            log.append(0, offset, serde_json::from_slice(payload).unwrap()).unwrap();
        }
        let with_log = own_rss_kib();
        let buffered: Vec<pb::SubscribeResponse> = alerts
            .iter()
            .map(|alert| pb::SubscribeResponse {
                cursor: "c1.cDA6MTIzNDU2LHAxOjEyMzQ1Ng".to_owned(),
                event: Some(Event::Alert(mspwatch_deliver::convert::alert_to_proto(alert))),
            })
            .collect();
        let with_buffered = own_rss_kib();
        drop((log, buffered));
        let per_alert = |kib: u64| kib * 1024 / MEASURED as u64;
        AlertCosts {
            json: payloads.first().map_or(0, |payload| payload.len() as u64),
            log_entry: per_alert(with_log.saturating_sub(empty)),
            buffered: per_alert(with_buffered.saturating_sub(with_log)),
        }
    }
}

/// This process's resident memory, in KiB.
fn own_rss_kib() -> u64 {
    process_memory(std::process::id()).map_or(0, |memory| memory.rss_kib)
}

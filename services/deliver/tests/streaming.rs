//! Subscriptions over a real gRPC connection: fan-out, resuming from cursors, slow subscribers,
//! out-of-range cursors and shutdown.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    alerts_until_heartbeat, authed, northwind_alert, quick_config, read_alerts, subscribe, Running,
    GLOBAL, PATIENCE,
};
use mspwatch_deliver::pb::alert_service_client::AlertServiceClient;
use mspwatch_deliver::pb::{self, AlertFilter, SubscribeResponse};
use mspwatch_deliver::{cursor_of, AlertLog, Cursor, GrpcConfig};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status, Streaming};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_subscribers_each_receive_a_fed_alert_within_two_seconds() {
    let server = Running::start(GrpcConfig::default(), 1000).await;
    let mut first_client = server.alerts_client().await;
    let mut second_client = server.alerts_client().await;
    let (mut first, _) =
        subscribe(&mut first_client, GLOBAL, AlertFilter::default(), "").await.unwrap();
    let (mut second, _) =
        subscribe(&mut second_client, GLOBAL, AlertFilter::default(), "").await.unwrap();

    let fed_at = Instant::now();
    server.log.push(northwind_alert("al-1"));
    let (first_got, second_got) = tokio::join!(
        read_alerts(&mut first, 1, Duration::from_secs(2)),
        read_alerts(&mut second, 1, Duration::from_secs(2)),
    );
    assert!(fed_at.elapsed() < Duration::from_secs(2));
    assert_eq!(first_got.first().map(|(id, _)| id.as_str()), Some("al-1"));
    assert_eq!(second_got.first().map(|(id, _)| id.as_str()), Some("al-1"));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_subscriber_gets_exactly_the_alerts_it_missed() {
    let server = Running::start(quick_config(), 1000).await;
    server.log.push(northwind_alert("before-subscribing"));
    let mut client = server.alerts_client().await;
    let (mut stream, _) = subscribe(&mut client, GLOBAL, AlertFilter::default(), "").await.unwrap();
    server.log.push(northwind_alert("seen-1"));
    server.log.push(northwind_alert("seen-2"));
    let seen = read_alerts(&mut stream, 2, PATIENCE).await;
    let ids: Vec<&str> = seen.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["seen-1", "seen-2"]);
    let resume_from = seen.last().map(|(_, cursor)| cursor.clone()).unwrap();
    drop(stream);
    drop(client);

    for id in ["missed-1", "missed-2", "missed-3"] {
        server.log.push(northwind_alert(id));
    }
    let mut client = server.alerts_client().await;
    let (mut resumed, _) =
        subscribe(&mut client, GLOBAL, AlertFilter::default(), &resume_from).await.unwrap();
    assert_eq!(alerts_until_heartbeat(&mut resumed).await, ["missed-1", "missed-2", "missed-3"]);
    server.log.push(northwind_alert("live-1"));
    assert_eq!(alerts_until_heartbeat(&mut resumed).await, ["live-1"]);
    server.stop().await.unwrap();
}

/// A client whose small flow-control windows make the network buffer little, so that a
/// subscription it stops reading fills its server-side buffer quickly.
async fn small_window_client(server: &Running) -> AlertServiceClient<Channel> {
    let channel = Endpoint::from_shared(server.endpoint())
        .expect("endpoint")
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .connect()
        .await
        .expect("connects");
    AlertServiceClient::new(channel)
}

/// An alert big enough that a few thousand fill the network buffers.
fn bulky_alert(index: usize) -> mspwatch_alert::Alert {
    let mut alert = northwind_alert(&format!("al-{index:05}"));
    alert.summary = "x".repeat(800);
    alert
}

/// Reads a stream to its end; returns the alert ids, the last message's cursor and the status.
async fn drain(stream: &mut Streaming<SubscribeResponse>) -> (Vec<String>, String, Status) {
    let mut ids = Vec::new();
    let mut last_cursor = String::new();
    loop {
        match tokio::time::timeout(PATIENCE, stream.message()).await.expect("stream moves") {
            Ok(Some(message)) => {
                if let Some(pb::subscribe_response::Event::Alert(alert)) = message.event {
                    ids.push(alert.id);
                }
                last_cursor = message.cursor;
            }
            Ok(None) => panic!("stream ended without a status"),
            Err(status) => return (ids, last_cursor, status),
        }
    }
}

async fn wait_for_slow_ends(server: &Running, count: u64) {
    let deadline = Instant::now() + PATIENCE;
    while server.log.stats().subscribers_ended_slow < count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.log.stats().subscribers_ended_slow, count);
}

/// Checks that a stream ended by falling behind carries the cursor of its last message, and
/// that resuming from it yields exactly the alerts not yet received.
async fn resume_after_slow_end(
    server: &Running,
    stream: &mut Streaming<SubscribeResponse>,
    expected: &[String],
) {
    let (mut received, last_cursor, status) = drain(stream).await;
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(received.len() < expected.len());
    let resume_from = cursor_of(&status).expect("the status carries a cursor");
    assert_eq!(resume_from, last_cursor, "the cursor is that of the last delivered message");
    assert!(status.message().contains(&resume_from));

    let mut client = server.alerts_client().await;
    let (mut resumed, _) = subscribe(&mut client, GLOBAL, AlertFilter::default(), &resume_from)
        .await
        .expect("resumes");
    let rest = read_alerts(&mut resumed, expected.len() - received.len(), PATIENCE).await;
    received.extend(rest.into_iter().map(|(id, _)| id));
    assert_eq!(received, expected, "every alert exactly once, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_live_subscriber_ends_with_its_cursor_while_others_keep_up() {
    const ALERTS: usize = 4000;
    let config = GrpcConfig { subscriber_buffer: 200, stall_secs: 1, ..GrpcConfig::default() };
    let server = Running::start(config, 100_000).await;
    let mut stalled_client = small_window_client(&server).await;
    let (mut stalled, _) =
        subscribe(&mut stalled_client, GLOBAL, AlertFilter::default(), "").await.unwrap();
    let mut prompt_client = server.alerts_client().await;
    let (mut prompt, _) =
        subscribe(&mut prompt_client, GLOBAL, AlertFilter::default(), "").await.unwrap();
    let prompt_reader = tokio::spawn(async move {
        let got = read_alerts(&mut prompt, ALERTS, PATIENCE).await;
        (got.len(), Instant::now())
    });

    // Alerts arrive in bursts of 40, 4000 per second; pushing never waits for subscribers.
    let mut slowest_burst = Duration::ZERO;
    for burst in 0..ALERTS / 40 {
        let started = Instant::now();
        for index in burst * 40..(burst + 1) * 40 {
            server.log.push(bulky_alert(index));
        }
        slowest_burst = slowest_burst.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let fed_at = Instant::now();
    assert!(slowest_burst < Duration::from_millis(100), "a burst took {slowest_burst:?}");

    let (prompt_count, prompt_done_at) = prompt_reader.await.unwrap();
    assert_eq!(prompt_count, ALERTS, "the prompt subscriber received everything");
    assert!(prompt_done_at.saturating_duration_since(fed_at) < Duration::from_secs(2));
    wait_for_slow_ends(&server, 1).await;

    let expected: Vec<String> = (0..ALERTS).map(|index| format!("al-{index:05}")).collect();
    resume_after_slow_end(&server, &mut stalled, &expected).await;
    assert_eq!(server.log.stats().subscribers_ended_slow, 1, "the replay was never cut short");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_larger_than_the_buffer_and_pausing_readers_end_no_subscriber() {
    const ALERTS: usize = 3000;
    let config = GrpcConfig { subscriber_buffer: 16, stall_secs: 1, ..GrpcConfig::default() };
    let server = Running::start(config, 100_000).await;
    let mut prompt_client = server.alerts_client().await;
    let (mut prompt, _) =
        subscribe(&mut prompt_client, GLOBAL, AlertFilter::default(), "").await.unwrap();
    let mut pausing_client = server.alerts_client().await;
    let (mut pausing, _) =
        subscribe(&mut pausing_client, GLOBAL, AlertFilter::default(), "").await.unwrap();
    let prompt_reader =
        tokio::spawn(async move { read_alerts(&mut prompt, ALERTS, PATIENCE).await });
    // Reads in slices of 500 with a pause between: slower than the burst, never stalled.
    let pausing_reader = tokio::spawn(async move {
        let mut got = Vec::new();
        while got.len() < ALERTS {
            let slice = read_alerts(&mut pausing, 500.min(ALERTS - got.len()), PATIENCE).await;
            if slice.is_empty() {
                break;
            }
            got.extend(slice);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        got
    });

    // One burst of 3000 alerts, nearly 200 times the buffer.
    for index in 0..ALERTS {
        server.log.push(bulky_alert(index));
    }
    let expected: Vec<String> = (0..ALERTS).map(|index| format!("al-{index:05}")).collect();
    for reader in [prompt_reader, pausing_reader] {
        let got: Vec<String> = reader.await.unwrap().into_iter().map(|(id, _)| id).collect();
        assert_eq!(got, expected, "every alert once, in order, with no end");
    }
    assert_eq!(server.log.stats().subscribers_ended_slow, 0);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_while_replaying_ends_after_the_stall_timeout() {
    const ALERTS: usize = 4000;
    let config = GrpcConfig { subscriber_buffer: 16, stall_secs: 1, ..GrpcConfig::default() };
    let server = Running::start(config, 100_000).await;
    for index in 0..ALERTS {
        server.log.push(bulky_alert(index));
    }
    let mut stalled_client = small_window_client(&server).await;
    let start = mspwatch_deliver::Cursor::default().encode();
    let (mut stalled, _) =
        subscribe(&mut stalled_client, GLOBAL, AlertFilter::default(), &start).await.unwrap();
    wait_for_slow_ends(&server, 1).await;

    let expected: Vec<String> = (0..ALERTS).map(|index| format!("al-{index:05}")).collect();
    resume_after_slow_end(&server, &mut stalled, &expected).await;
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_before_the_oldest_alert_is_out_of_range_and_names_the_oldest() {
    let server = Running::start(GrpcConfig::default(), 3).await;
    let mut client = server.alerts_client().await;
    let (_stream, start) =
        subscribe(&mut client, GLOBAL, AlertFilter::default(), "").await.unwrap();
    for index in 0..5 {
        server.log.push(northwind_alert(&format!("al-{index}")));
    }
    let error = subscribe(&mut client, GLOBAL, AlertFilter::default(), &start).await.unwrap_err();
    assert_eq!(error.code(), Code::OutOfRange);
    let oldest = cursor_of(&error).expect("oldest cursor");
    assert_eq!(oldest, server.log.oldest_cursor().encode());

    let (mut from_oldest, _) =
        subscribe(&mut client, GLOBAL, AlertFilter::default(), &oldest).await.unwrap();
    assert_eq!(alerts_until_heartbeat(&mut from_oldest).await, ["al-2", "al-3", "al-4"]);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_from_now_before_the_topic_is_read_starts_at_its_end_not_its_start() {
    let log = Arc::new(AlertLog::new(100));
    log.await_partitions();
    let server = Running::start_with_log(quick_config(), Arc::clone(&log)).await;
    let mut client = server.alerts_client().await;
    let subscribing =
        tokio::spawn(
            async move { subscribe(&mut client, GLOBAL, AlertFilter::default(), "").await },
        );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!subscribing.is_finished(), "\"now\" waits until the topic's end is known");

    // The reader finds two partitions holding history, and reads it in.
    log.start_partitions(&[(0, 0, 2), (1, 0, 1)]);
    log.append(0, 0, northwind_alert("old-1")).unwrap();
    let (mut stream, start) = subscribing.await.unwrap().unwrap();
    let mut end = Cursor::default();
    end.set(0, 2);
    end.set(1, 1);
    assert_eq!(start, end.encode(), "the subscription starts at the end of the topic");
    log.append(1, 0, northwind_alert("old-2")).unwrap();
    log.append(0, 1, northwind_alert("old-3")).unwrap();
    log.append(1, 1, northwind_alert("new-1")).unwrap();
    assert_eq!(alerts_until_heartbeat(&mut stream).await, ["new-1"], "no history as live alerts");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_cursors_are_invalid_arguments() {
    let server = Running::start(GrpcConfig::default(), 10).await;
    let mut client = server.alerts_client().await;
    for cursor in ["nonsense", "c1.!!!", "c1.cDAtMQ"] {
        let error =
            subscribe(&mut client, GLOBAL, AlertFilter::default(), cursor).await.unwrap_err();
        assert_eq!(error.code(), Code::InvalidArgument, "{cursor}");
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_cursor_replays_everything_held() {
    let server = Running::start(quick_config(), 10).await;
    server.log.push(northwind_alert("first"));
    server.log.push(northwind_alert("second"));
    let mut client = server.alerts_client().await;
    let start = mspwatch_deliver::Cursor::default().encode();
    let (mut stream, _) =
        subscribe(&mut client, GLOBAL, AlertFilter::default(), &start).await.unwrap();
    assert_eq!(alerts_until_heartbeat(&mut stream).await, ["first", "second"]);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_carry_a_cursor_past_filtered_alerts() {
    let server = Running::start(quick_config(), 100).await;
    let mut client = server.alerts_client().await;
    let filter = AlertFilter { rule_ids: vec!["other-rule".to_owned()], ..AlertFilter::default() };
    let (mut stream, start) = subscribe(&mut client, GLOBAL, filter, "").await.unwrap();
    server.log.push(northwind_alert("not-matching"));
    assert!(alerts_until_heartbeat(&mut stream).await.is_empty());
    let message = stream.message().await.unwrap().unwrap();
    assert_ne!(message.cursor, start, "the heartbeat cursor moved past the filtered alert");
    assert_eq!(message.cursor, server.log.end_cursor().encode());
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_streams_with_their_cursor_within_the_grace_period() {
    let config = GrpcConfig { shutdown_grace_secs: 2, ..GrpcConfig::default() };
    let server = Running::start(config, 100).await;
    let mut client = server.alerts_client().await;
    let (mut stream, _) = subscribe(&mut client, GLOBAL, AlertFilter::default(), "").await.unwrap();
    server.log.push(northwind_alert("al-1"));
    let got = read_alerts(&mut stream, 1, PATIENCE).await;
    let started = Instant::now();
    let log = std::sync::Arc::clone(&server.log);
    server.stop().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    let status = loop {
        match stream.message().await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("stream ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(cursor_of(&status), got.first().map(|(_, cursor)| cursor.clone()));
    assert_eq!(log.stats().subscribers, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_beyond_the_limit_are_refused() {
    let config = GrpcConfig { max_subscribers: 1, ..GrpcConfig::default() };
    let server = Running::start(config, 10).await;
    let mut client = server.alerts_client().await;
    let (_first, _) = subscribe(&mut client, GLOBAL, AlertFilter::default(), "").await.unwrap();
    let error = subscribe(&mut client, GLOBAL, AlertFilter::default(), "").await.unwrap_err();
    assert_eq!(error.code(), Code::ResourceExhausted);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_and_get_serve_the_latest_version() {
    let server = Running::start(GrpcConfig::default(), 100).await;
    let mut first = northwind_alert("al-1");
    server.log.push(first.clone());
    first.version = 2;
    server.log.push(first);
    for index in 2..=5 {
        server.log.push(northwind_alert(&format!("al-{index}")));
    }
    let mut client = server.alerts_client().await;
    let alert =
        client.get_alert(authed(pb::GetAlertRequest { id: "al-1".to_owned() }, GLOBAL)).await;
    assert_eq!(alert.unwrap().into_inner().version, 2);
    let missing =
        client.get_alert(authed(pb::GetAlertRequest { id: "nope".to_owned() }, GLOBAL)).await;
    assert_eq!(missing.unwrap_err().code(), Code::NotFound);

    let mut seen = BTreeSet::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let request =
            pb::ListAlertsRequest { page_size: 2, page_token: token, ..Default::default() };
        let page = client.list_alerts(authed(request, GLOBAL)).await.unwrap().into_inner();
        pages += 1;
        for alert in page.alerts {
            assert!(seen.insert(alert.id.clone()), "{} listed twice", alert.id);
            if alert.id == "al-1" {
                assert_eq!(alert.version, 2);
            }
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen.len(), 5);
    assert_eq!(pages, 3);
    server.stop().await.unwrap();
}

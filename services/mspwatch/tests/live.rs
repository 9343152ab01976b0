//! End-to-end tests of `mspwatch run`: the real binary, a real Kafka-protocol broker on
//! 127.0.0.1 and real gRPC clients, with every wait bounded.
//!
//! Without the broker binary the tests print SKIPPED and pass, unless
//! `MSPWATCH_REQUIRE_BROKER=1`. `MSPWATCH_TEST_LOGS=1` echoes the detector's logs.

#[path = "live/support.rs"]
mod support;

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use mspwatch_deliver::pb;
use tonic::Code;

use support::{
    admin_client, alert_client, attack, attack_at, authorized, header, record, run_binary, Live,
    Subscriber, DELETION_RULE, GLOBAL, GLOBEX_MSP, NORTHWIND, NORTHWIND_MSP, PATIENCE,
};

/// The bound the issue sets on alert latency, from the last attack event to a subscriber.
const LATENCY_BOUND: Duration = Duration::from_secs(2);

fn everything() -> pb::AlertFilter {
    pb::AlertFilter::default()
}

fn msps(ids: &[&str]) -> pb::AlertFilter {
    pb::AlertFilter { msp_ids: ids.iter().map(|id| (*id).to_owned()).collect(), ..everything() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_alerts_reach_two_subscribers_within_two_seconds() {
    let Some(live) = Live::start("latency") else { return };
    let detector = live.detector();
    let started = detector.wait_log("mspwatch started", PATIENCE);
    assert_eq!(started["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(started["audit_topics"], live.audit_topic().as_str());
    assert_eq!(started["group"], live.group().as_str());
    assert!(started["rules"].as_u64().is_some_and(|rules| rules > 0), "{started}");
    assert_eq!(detector.count_log("mspwatch started"), 1);
    let mut health =
        tonic_health::pb::health_client::HealthClient::new(support::channel(detector.grpc).await);
    for service in ["", "mspwatch.v1.AlertService", "mspwatch.v1.AdminService"] {
        let request = tonic_health::pb::HealthCheckRequest { service: service.to_owned() };
        let answer = health.check(request).await.unwrap().into_inner();
        assert_eq!(answer.status, 1, "{service} is SERVING, and health needs no token");
    }

    let mut soc = Subscriber::open(detector.grpc, GLOBAL, everything(), None).await.unwrap();
    let mut northwind =
        Subscriber::open(detector.grpc, NORTHWIND, msps(&[NORTHWIND_MSP]), None).await.unwrap();
    let records = attack("lat", NORTHWIND_MSP, "cred-latency");
    let (first, last) = records.split_at(2);
    live.produce_all(NORTHWIND_MSP, first).await;
    let produced = Instant::now();
    live.produce_all(NORTHWIND_MSP, last).await;
    let acknowledged = produced.elapsed();

    let (soc_at, northwind_at) = tokio::join!(
        soc.wait_alert(DELETION_RULE, "cred-latency", PATIENCE),
        northwind.wait_alert(DELETION_RULE, "cred-latency", PATIENCE),
    );
    let latencies = [soc_at - produced, northwind_at - produced];
    println!(
        "alert latency from producing the last attack event: global subscriber {:?}, \
         northwind subscriber {:?} (the produce itself took {acknowledged:?})",
        latencies[0], latencies[1]
    );
    for latency in latencies {
        assert!(latency < LATENCY_BOUND, "latency {latency:?} is over {LATENCY_BOUND:?}");
    }
    assert_eq!(soc.versions().first(), northwind.versions().first(), "the same alert version");

    let metrics = detector.wait_metric("mspwatch_grpc_subscribers 2");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    detector.wait_metric("mspwatch_events_total 3");
    detector.wait_metric("mspwatch_alerts_total 1");
    detector.wait_metric("mspwatch_alert_log_entries 1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_subscriber_gets_exactly_the_alerts_it_missed() {
    let Some(live) = Live::start("resume") else { return };
    let detector = live.detector();
    let mut reference = Subscriber::open(detector.grpc, GLOBAL, everything(), None).await.unwrap();
    let mut leaving = Subscriber::open(detector.grpc, GLOBAL, everything(), None).await.unwrap();

    live.produce_all(NORTHWIND_MSP, &attack("r1", NORTHWIND_MSP, "cred-before")).await;
    leaving.wait_alert(DELETION_RULE, "cred-before", PATIENCE).await;
    let cursor = leaving.cursor.clone();
    let before: BTreeSet<(String, u32)> = leaving.versions().into_iter().collect();
    drop(leaving);

    // While it is away: new alerts of two MSPs, and a fourth tenant that updates the first one.
    live.produce_all(NORTHWIND_MSP, &attack("r2", NORTHWIND_MSP, "cred-while-away")).await;
    live.produce_all(GLOBEX_MSP, &attack("r3", GLOBEX_MSP, "cred-globex")).await;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let fourth = record("r1-3", NORTHWIND_MSP, "cred-before", "tn-r1-3", &now);
    live.produce(NORTHWIND_MSP, &fourth).await;
    reference.wait_alert(DELETION_RULE, "cred-while-away", PATIENCE).await;
    reference.wait_alert(DELETION_RULE, "cred-globex", PATIENCE).await;
    reference.drain(Duration::from_secs(2)).await;

    let mut resumed =
        Subscriber::open(detector.grpc, GLOBAL, everything(), Some(&cursor)).await.unwrap();
    resumed.drain(Duration::from_secs(2)).await;
    let missed: Vec<(String, u32)> =
        reference.versions().into_iter().filter(|version| !before.contains(version)).collect();
    assert!(missed.len() >= 3, "alerts raised while away: {missed:?}");
    let mut got = resumed.versions();
    assert_eq!(got.len(), got.iter().collect::<HashSet<_>>().len(), "no repeats: {got:?}");
    let mut expected = missed.clone();
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "exactly what was missed");
    assert!(
        resumed.seen.iter().any(|seen| seen.actor == "cred-before" && seen.version == 2),
        "the update of an alert seen before is missed too: {:?}",
        resumed.seen
    );

    // The command-line subscriber resumes from the same cursor and prints the same versions.
    let token_file = live.dir.path().join("token");
    std::fs::write(&token_file, format!("{GLOBAL}\n")).unwrap();
    let endpoint = format!("http://{}", detector.grpc);
    let count = expected.len().to_string();
    let args = [
        "alerts",
        "tail",
        "--endpoint",
        endpoint.as_str(),
        "--token-file",
        token_file.to_str().unwrap(),
        "--cursor",
        cursor.as_str(),
        "--max-alerts",
        count.as_str(),
    ];
    let output = run_binary(&args, &[], PATIENCE).await;
    assert!(output.status.success(), "{output:?}");
    let mut printed: Vec<(String, u32)> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let alert: serde_json::Value = serde_json::from_str(line).unwrap();
            let version = u32::try_from(alert["version"].as_u64().unwrap()).unwrap();
            (alert["id"].as_str().unwrap().to_owned(), version)
        })
        .collect();
    printed.sort();
    assert_eq!(printed, expected, "tail prints exactly the missed alerts");
    assert!(String::from_utf8_lossy(&output.stderr).contains("resume with --cursor c1."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_detector_loses_no_alert_and_delivers_no_version_twice() {
    let Some(live) = Live::start("restart") else { return };
    // Commits are rare, so that a detector killed with -9 leaves processed events uncommitted
    // and its successor writes their alerts again.
    let slow_commits = "commit_interval = \"60s\"";
    let mut first = live.detector_with(slow_commits);
    let mut subscriber = Subscriber::open(first.grpc, GLOBAL, everything(), None).await.unwrap();
    live.produce_all(NORTHWIND_MSP, &attack("s1", NORTHWIND_MSP, "cred-one")).await;
    subscriber.wait_alert(DELETION_RULE, "cred-one", PATIENCE).await;

    let stopping = Instant::now();
    first.signal("TERM");
    let status = first.wait_exit(Duration::from_secs(20));
    println!("SIGTERM to exit: {:?}", stopping.elapsed());
    assert!(status.success(), "a signalled stop exits 0: {status:?}");
    assert_eq!(first.count_log("mspwatch stopped"), 1);
    let closed = subscriber.next(Duration::from_secs(5)).await;
    assert!(
        matches!(&closed, Err(status) if status.code() == Code::Unavailable),
        "streams end with UNAVAILABLE: {closed:?}"
    );
    assert_eq!(live.committed_total(), 3, "the drain committed everything");
    let mut delivered = subscriber.versions();

    // Traffic while no detector runs, then a second detector that is killed with -9.
    live.produce_all(NORTHWIND_MSP, &attack("s2", NORTHWIND_MSP, "cred-two")).await;
    let mut second = live.detector_with(slow_commits);
    let cursor = subscriber.cursor.clone();
    let mut subscriber =
        Subscriber::open(second.grpc, GLOBAL, everything(), Some(&cursor)).await.unwrap();
    subscriber.wait_alert(DELETION_RULE, "cred-two", PATIENCE).await;
    second.kill();
    delivered.extend(subscriber.versions());

    live.produce_all(GLOBEX_MSP, &attack("s3", GLOBEX_MSP, "cred-three")).await;
    let third = live.detector_with(slow_commits);
    let cursor = subscriber.cursor.clone();
    let mut subscriber =
        Subscriber::open(third.grpc, GLOBAL, everything(), Some(&cursor)).await.unwrap();
    subscriber.wait_alert(DELETION_RULE, "cred-three", PATIENCE).await;
    subscriber.drain(Duration::from_secs(2)).await;
    delivered.extend(subscriber.versions());

    // The third detector wrote the second attack's alert again, and nobody saw it twice.
    let written: Vec<(String, u32)> = live
        .alert_records(4)
        .iter()
        .filter_map(|message| {
            let payload = rdkafka::Message::payload(message)?;
            let alert: serde_json::Value = serde_json::from_slice(payload).ok()?;
            let version = u32::try_from(alert["version"].as_u64()?).ok()?;
            Some((alert["id"].as_str()?.to_owned(), version))
        })
        .collect();
    let distinct: BTreeSet<(String, u32)> = written.iter().cloned().collect();
    assert!(written.len() > distinct.len(), "a version was written twice: {written:?}");
    let delivered_once: BTreeSet<(String, u32)> = delivered.iter().cloned().collect();
    assert_eq!(delivered_once.len(), delivered.len(), "no (id, version) twice: {delivered:?}");
    assert_eq!(delivered_once, distinct, "every alert version written was delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_records_go_to_the_dead_letter_topic_and_detection_continues() {
    let Some(live) = Live::start("dead") else { return };
    let detector = live.detector();
    let mut subscriber = Subscriber::open(detector.grpc, GLOBAL, everything(), None).await.unwrap();

    live.produce(NORTHWIND_MSP, "{\"event_id\": \"broken\", \"time\": ").await;
    live.produce(NORTHWIND_MSP, "\u{1}\u{2} not json at all").await;
    live.produce_all(NORTHWIND_MSP, &attack("d1", NORTHWIND_MSP, "cred-after-junk")).await;
    subscriber.wait_alert(DELETION_RULE, "cred-after-junk", PATIENCE).await;

    let letters = live.dead_letters(2);
    assert_eq!(letters.len(), 2, "one dead letter per malformed record");
    let offsets: BTreeSet<String> =
        letters.iter().filter_map(|letter| header(letter, "mspwatch-source-offset")).collect();
    assert_eq!(offsets.len(), 2, "each names its source offset");
    for letter in &letters {
        let audit = live.audit_topic();
        assert_eq!(header(letter, "mspwatch-source-topic").as_deref(), Some(audit.as_str()));
        assert!(
            header(letter, "mspwatch-source-partition").is_some_and(|p| p.parse::<i32>().is_ok())
        );
        assert!(header(letter, "mspwatch-reason").is_some_and(|reason| !reason.is_empty()));
        assert!(header(letter, "mspwatch-detail").is_some());
        assert_eq!(rdkafka::Message::key(letter), Some(NORTHWIND_MSP.as_bytes()));
    }

    let mut admin = admin_client(detector.grpc).await;
    let stats = admin.get_stats(authorized(pb::GetStatsRequest {}, Some(GLOBAL))).await;
    let stats = stats.unwrap().into_inner();
    assert_eq!(stats.counters.get("rejects"), Some(&2), "{:?}", stats.counters);
    assert_eq!(stats.counters.get("dead_letters"), Some(&2), "{:?}", stats.counters);
    assert_eq!(stats.counters.get("events_consumed"), Some(&3), "{:?}", stats.counters);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_a_valid_token_or_outside_its_msps_are_refused() {
    let Some(live) = Live::start("access") else { return };
    let detector = live.detector();
    let mut soc = Subscriber::open(detector.grpc, GLOBAL, everything(), None).await.unwrap();
    live.produce_all(GLOBEX_MSP, &attack("a1", GLOBEX_MSP, "cred-globex")).await;
    live.produce_all(NORTHWIND_MSP, &attack("a2", NORTHWIND_MSP, "cred-northwind")).await;
    soc.wait_alert(DELETION_RULE, "cred-globex", PATIENCE).await;
    soc.wait_alert(DELETION_RULE, "cred-northwind", PATIENCE).await;
    let globex_alert = soc.ids_of("cred-globex").into_iter().next().unwrap();

    let mut alerts = alert_client(detector.grpc).await;
    let mut admin = admin_client(detector.grpc).await;
    let subscribe = |filter: pb::AlertFilter| pb::SubscribeRequest {
        filter: Some(filter),
        cursor: String::new(),
    };
    for token in [None, Some("not-a-token"), Some("")] {
        let refused = alerts.subscribe(authorized(subscribe(everything()), token)).await;
        assert_eq!(refused.err().map(|status| status.code()), Some(Code::Unauthenticated));
        let refused = alerts.list_alerts(authorized(pb::ListAlertsRequest::default(), token)).await;
        assert_eq!(refused.err().map(|status| status.code()), Some(Code::Unauthenticated));
        let refused = admin.get_stats(authorized(pb::GetStatsRequest {}, token)).await;
        assert_eq!(refused.err().map(|status| status.code()), Some(Code::Unauthenticated));
    }

    let outside =
        alerts.subscribe(authorized(subscribe(msps(&[GLOBEX_MSP])), Some(NORTHWIND))).await;
    assert_eq!(outside.err().map(|status| status.code()), Some(Code::PermissionDenied));
    let request = pb::GetAlertRequest { id: globex_alert.clone() };
    let outside = alerts.get_alert(authorized(request, Some(NORTHWIND))).await;
    assert_eq!(outside.err().map(|status| status.code()), Some(Code::PermissionDenied));
    let request = pb::GetAlertRequest { id: globex_alert };
    assert!(alerts.get_alert(authorized(request, Some(GLOBAL))).await.is_ok());
    let globex_baseline = pb::GetBaselineRequest {
        subject: Some(pb::get_baseline_request::Subject::MspId(GLOBEX_MSP.to_owned())),
    };
    let outside = admin.get_baseline(authorized(globex_baseline, Some(NORTHWIND))).await;
    assert_eq!(outside.err().map(|status| status.code()), Some(Code::PermissionDenied));
    let credential = pb::GetBaselineRequest {
        subject: Some(pb::get_baseline_request::Subject::CredentialId("cred-globex".to_owned())),
    };
    let outside = admin.get_baseline(authorized(credential, Some(NORTHWIND))).await;
    assert_eq!(outside.err().map(|status| status.code()), Some(Code::PermissionDenied));
    let reload = admin.reload_rules(authorized(pb::ReloadRulesRequest {}, Some(NORTHWIND))).await;
    assert_eq!(reload.err().map(|status| status.code()), Some(Code::PermissionDenied));

    // Within its scope the same token sees its own MSP's alerts, counts and baselines only.
    let listed =
        alerts.list_alerts(authorized(pb::ListAlertsRequest::default(), Some(NORTHWIND))).await;
    let listed = listed.unwrap().into_inner().alerts;
    assert!(!listed.is_empty());
    assert!(
        listed.iter().all(|alert| alert.msp_id.as_deref() == Some(NORTHWIND_MSP)),
        "{listed:?}"
    );
    let stats = admin.get_stats(authorized(pb::GetStatsRequest {}, Some(NORTHWIND))).await;
    let stats = stats.unwrap().into_inner();
    assert!(stats.counters.is_empty(), "global counters are for global tokens");
    assert_eq!(stats.msps.keys().collect::<Vec<_>>(), [NORTHWIND_MSP]);
    assert_eq!(stats.msps[NORTHWIND_MSP].events, 3);
    assert_eq!(stats.msps[NORTHWIND_MSP].credentials, 1);
    assert!(stats.msps[NORTHWIND_MSP].alerts >= 1);
    let credential = pb::GetBaselineRequest {
        subject: Some(pb::get_baseline_request::Subject::CredentialId("cred-northwind".to_owned())),
    };
    let baseline = admin.get_baseline(authorized(credential, Some(NORTHWIND))).await.unwrap();
    let baseline = baseline.into_inner();
    assert_eq!(baseline.msp_id.as_deref(), Some(NORTHWIND_MSP));
    assert!(baseline.json.contains("cred-northwind"), "{}", baseline.json);

    // The command-line subscriber stops on a refusal, with exit code 2.
    let endpoint = format!("http://{}", detector.grpc);
    let args = ["alerts", "tail", "--endpoint", endpoint.as_str()];
    let output = run_binary(&args, &[("MSPWATCH_TOKEN", "not-a-token")], PATIENCE).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("Unauthenticated"), "{output:?}");
    let args = ["alerts", "tail", "--endpoint", endpoint.as_str(), "--msp", GLOBEX_MSP];
    let output = run_binary(&args, &[("MSPWATCH_TOKEN", NORTHWIND)], PATIENCE).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("PermissionDenied"), "{output:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_rule_file_is_refused_by_reload_and_sighup_and_detection_goes_on() {
    let Some(live) = Live::start("reload") else { return };
    let detector = live.detector();
    let mut admin = admin_client(detector.grpc).await;
    let rules = admin.list_rules(authorized(pb::ListRulesRequest {}, Some(GLOBAL))).await;
    let before = rules.unwrap().into_inner().rules;
    assert!(before.iter().any(|rule| rule.id == DELETION_RULE));

    std::fs::write(
        live.rules().join("zz-broken.yaml"),
        "rules:\n  - id: half-written\n    title: Broken\n    severity: catastrophic\n",
    )
    .unwrap();
    let reload = admin.reload_rules(authorized(pb::ReloadRulesRequest {}, Some(GLOBAL))).await;
    let reload = reload.unwrap().into_inner();
    assert!(!reload.ok, "{reload:?}");
    assert!(
        reload.errors.iter().all(|error| error.contains("zz-broken.yaml:"))
            && !reload.errors.is_empty(),
        "errors name the file and line: {:?}",
        reload.errors
    );
    detector.signal("HUP");
    detector.wait_log_count("rule reload refused; the rules in force stay", 2, PATIENCE);
    let rules = admin.list_rules(authorized(pb::ListRulesRequest {}, Some(GLOBAL))).await;
    assert_eq!(rules.unwrap().into_inner().rules, before, "the old rules stay");

    let mut subscriber = Subscriber::open(detector.grpc, GLOBAL, everything(), None).await.unwrap();
    live.produce_all(NORTHWIND_MSP, &attack("l1", NORTHWIND_MSP, "cred-after-reload")).await;
    subscriber.wait_alert(DELETION_RULE, "cred-after-reload", PATIENCE).await;

    // A sound set is put in force on SIGHUP, and its new rule raises at once.
    std::fs::remove_file(live.rules().join("zz-broken.yaml")).unwrap();
    std::fs::write(
        live.rules().join("zz-extra.yaml"),
        "rules:\n  - id: any-backup-deletion\n    title: Any backup deletion\n    severity: low\n    \
         kind: match\n    where:\n      class: delete\n    summary: \"{actor} deleted a backup\"\n",
    )
    .unwrap();
    detector.signal("HUP");
    let reloaded = detector.wait_log("rules reloaded", PATIENCE);
    assert_eq!(reloaded["rules"].as_u64(), Some(before.len() as u64 + 1));
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    live.produce(NORTHWIND_MSP, &record("l2", NORTHWIND_MSP, "cred-lone", "tn-1", &now)).await;
    subscriber.wait_alert("any-backup-deletion", "cred-lone", PATIENCE).await;
    detector.wait_metric("mspwatch_rule_reloads_total{outcome=\"refused\"} 2");
    detector.wait_metric("mspwatch_rule_reloads_total{outcome=\"ok\"} 1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_from_kafka_prints_the_attack_and_leaves_the_live_offsets_alone() {
    let Some(live) = Live::start("replay") else { return };
    let mut detector = live.detector();
    let mut subscriber = Subscriber::open(detector.grpc, GLOBAL, everything(), None).await.unwrap();
    let two_days_ago = chrono::Utc::now() - chrono::Duration::days(2);
    live.produce_all(NORTHWIND_MSP, &attack_at("old", NORTHWIND_MSP, "cred-old", two_days_ago))
        .await;
    live.produce_all(NORTHWIND_MSP, &attack("new", NORTHWIND_MSP, "cred-new")).await;
    subscriber.wait_alert(DELETION_RULE, "cred-new", PATIENCE).await;
    detector.signal("TERM");
    assert!(detector.wait_exit(Duration::from_secs(20)).success());
    let committed = live.committed();
    assert_eq!(live.committed_total(), 6, "the live group consumed everything");

    let from = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let to = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let brokers = live.brokers();
    let topic = live.audit_topic();
    let rules = live.rules();
    let args = [
        "replay",
        "--brokers",
        &brokers,
        "--topic",
        &topic,
        "--from",
        &from,
        "--to",
        &to,
        "--rules",
        rules.to_str().unwrap(),
    ];
    let output = run_binary(&args, &[], Duration::from_secs(60)).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let alerts: Vec<serde_json::Value> =
        stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert!(
        alerts
            .iter()
            .any(|alert| alert["rule_id"] == DELETION_RULE && alert["actor"]["id"] == "cred-new"),
        "{stdout}"
    );
    assert!(
        alerts.iter().all(|alert| alert["actor"]["id"] != "cred-old"),
        "outside --from: {stdout}"
    );
    assert!(
        stderr.contains(&format!("replay: topic {topic}, 2 partitions, 6 messages")),
        "{stderr}"
    );
    assert_eq!(live.committed(), committed, "the live group's offsets did not move");
}

#[tokio::test]
async fn run_refuses_a_bad_configuration_or_broken_rules_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mspwatch.toml");
    std::fs::write(&config, "[kafka]\nbrokers = [\"127.0.0.1:1\"]\nbrokerz = 3\n").unwrap();
    let args = ["run", "--config", config.to_str().unwrap()];
    let output = run_binary(&args, &[], PATIENCE).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("mspwatch.toml:3:1: kafka.brokerz: unknown field"), "{stderr}");

    std::fs::write(&config, "[kafka]\nbrokers = [\"127.0.0.1:1\"]\n").unwrap();
    let output = run_binary(&args, &[("MSPWATCH_GRPC_SUBSCRIBER_BUFFER", "many")], PATIENCE).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("MSPWATCH_GRPC_SUBSCRIBER_BUFFER"), "{stderr}");

    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("bad.yaml"), "rules:\n  - id: x\n    severity: dire\n").unwrap();
    let env = [("MSPWATCH_DETECTOR_RULES_DIR", rules.to_str().unwrap())];
    let output = run_binary(&args, &env, PATIENCE).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad.yaml:"), "{stderr}");
}

#[tokio::test]
async fn token_hash_prints_the_tokens_file_line_for_a_token_on_standard_input() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mspwatch"))
        .args(["token", "hash"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, b"test\n").await.unwrap();
    drop(stdin);
    let output = tokio::time::timeout(PATIENCE, child.wait_with_output()).await.unwrap().unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("sha256 = \"{}\"\n", mspwatch_deliver::hash_token("test"))
    );
    let new = run_binary(&["token", "new"], &[], PATIENCE).await;
    let token = String::from_utf8_lossy(&new.stdout).trim().to_owned();
    assert!(token.len() >= 43 && !token.contains('='), "{token}");
}

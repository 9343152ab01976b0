//! Alert latency of a running `mspwatch run`: attacks that trip the cross-tenant deletion rule
//! are produced open-loop, optionally over steady background traffic of the same MSP, and each
//! is timed from when its last record was due to when its alert arrives over gRPC.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::{SecondsFormat, Utc};
use mspwatch_deliver::pb;
use mspwatch_deliver::pb::alert_service_client::AlertServiceClient;
use mspwatch_deliver::pb::subscribe_response::Event;
use rdkafka::producer::{BaseRecord, Producer};
use tonic::transport::Endpoint;
use tonic::Request;

use crate::kafka::{producer, run_id, send_waiting, CountingProducer, ProducerStyle};
use crate::latency::{LatencyBook, LatencySummary, Schedule};

/// The shipped rule the attacks trip: deletions by one credential in three tenants.
pub const RULE: &str = "cross-tenant-backup-deletion";

/// How long the last alerts may take to arrive after the last attack.
const GRACE: Duration = Duration::from_secs(15);

/// Background credentials, and the tenants they run backups in.
const BACKGROUND_CREDENTIALS: u64 = 50;
const BACKGROUND_TENANTS: u64 = 30;

/// What to measure.
#[derive(Debug, Clone)]
pub struct AlertPlan {
    /// Bootstrap brokers.
    pub brokers: String,
    /// The audit topic the detector consumes.
    pub topic: String,
    /// The detector's gRPC address.
    pub grpc: SocketAddr,
    /// A bearer token that may see `msp_id`.
    pub token: String,
    /// The MSP every record belongs to (and is keyed by).
    pub msp_id: String,
    /// Measured attacks.
    pub attacks: u64,
    /// Attacks before the measured ones, not counted.
    pub warmup: u64,
    /// Time between attacks.
    pub interval: Duration,
    /// Background records per second (0 for none).
    pub background_rate: f64,
}

/// Names and times of one run's records.
#[derive(Debug, Clone)]
struct Script {
    run: u64,
    attacks: Schedule,
    background: Schedule,
}

impl Script {
    /// The credential of attack `attack`.
    fn attacker(&self, attack: u64) -> String {
        format!("bench-attacker-{}-{attack}", self.run)
    }

    /// The attack number of an attacker credential of this run.
    fn attack_of(&self, actor_id: &str) -> Option<u64> {
        let prefix = format!("bench-attacker-{}-", self.run);
        actor_id.strip_prefix(&prefix)?.parse().ok()
    }
}

/// Runs the measurement and returns the latency of the measured attacks' alerts.
pub async fn alert_latency(plan: &AlertPlan) -> Result<LatencySummary> {
    let mut stream = subscribe(plan).await?;
    let clock = Instant::now();
    let start = clock.elapsed() + Duration::from_millis(500);
    let script = Script {
        run: run_id(),
        attacks: Schedule { start, rate: 1.0 / plan.interval.as_secs_f64().max(0.001) },
        background: Schedule { start, rate: plan.background_rate },
    };
    let book = Arc::new(Mutex::new(LatencyBook::new()));
    let done = Arc::new(AtomicBool::new(false));
    let sender = {
        let (plan, script, book, done) =
            (plan.clone(), script.clone(), Arc::clone(&book), Arc::clone(&done));
        std::thread::spawn(move || {
            let sent = send_records(&plan, &script, clock, &book);
            done.store(true, Ordering::Relaxed);
            sent
        })
    };

    let mut finished_at: Option<Instant> = None;
    loop {
        let outstanding = book.lock().unwrap_or_else(PoisonError::into_inner).summary().missing;
        if done.load(Ordering::Relaxed) {
            let finished = *finished_at.get_or_insert_with(Instant::now);
            if outstanding == 0 || finished.elapsed() > GRACE {
                break;
            }
        }
        let next = tokio::time::timeout(Duration::from_millis(100), stream.message()).await;
        let Ok(message) = next else { continue };
        let Some(message) = message.context("the subscription failed")? else {
            bail!("the subscription ended");
        };
        let Some(Event::Alert(alert)) = message.event else { continue };
        let arrived = clock.elapsed();
        let actor = alert.actor.as_ref().map(|actor| actor.id.as_str()).unwrap_or_default();
        let Some(attack) = script.attack_of(actor) else { continue };
        if attack >= plan.warmup && alert.rule_id == RULE {
            // Later versions of the same alert find nothing outstanding and count as unexpected.
            let _ = book.lock().unwrap_or_else(PoisonError::into_inner).received(attack, arrived);
        }
    }
    match sender.join() {
        Ok(sent) => sent?,
        Err(_) => bail!("the sender thread panicked"),
    }
    let summary = book.lock().unwrap_or_else(PoisonError::into_inner).summary();
    Ok(summary)
}

/// Subscribes to the rule's alerts of the MSP and waits for the first heartbeat.
async fn subscribe(plan: &AlertPlan) -> Result<tonic::Streaming<pb::SubscribeResponse>> {
    let channel = Endpoint::from_shared(format!("http://{}", plan.grpc))?
        .connect()
        .await
        .with_context(|| format!("cannot connect to {}", plan.grpc))?;
    let mut client = AlertServiceClient::new(channel);
    let filter = pb::AlertFilter {
        msp_ids: vec![plan.msp_id.clone()],
        rule_ids: vec![RULE.to_owned()],
        ..pb::AlertFilter::default()
    };
    let mut request =
        Request::new(pb::SubscribeRequest { filter: Some(filter), cursor: String::new() });
    let bearer = format!("Bearer {}", plan.token).parse().context("the token is not ASCII")?;
    request.metadata_mut().insert("authorization", bearer);
    let mut stream = client.subscribe(request).await.context("subscribe refused")?.into_inner();
    let first = tokio::time::timeout(Duration::from_secs(20), stream.message()).await;
    match first {
        Ok(Ok(Some(_))) => Ok(stream),
        Ok(Ok(None)) => bail!("the subscription ended at once"),
        Ok(Err(status)) => Err(status).context("the subscription failed"),
        Err(_) => bail!("no heartbeat within 20 s"),
    }
}

/// Produces the background records and the attacks on their schedules.
fn send_records(
    plan: &AlertPlan,
    script: &Script,
    clock: Instant,
    book: &Mutex<LatencyBook>,
) -> Result<()> {
    let (producer, counting) = producer(&plan.brokers, ProducerStyle::Immediate)?;
    let total = plan.warmup.saturating_add(plan.attacks);
    let (mut attack, mut background) = (0u64, 0u64);
    let end = script.attacks.due(total);
    while attack < total {
        let attack_due = script.attacks.due(attack);
        let background_due = if plan.background_rate > 0.0 {
            script.background.due(background)
        } else {
            Duration::MAX
        };
        if background_due < attack_due && background_due < end {
            std::thread::sleep(background_due.saturating_sub(clock.elapsed()));
            send(&producer, plan, &background_record(script.run, background, &plan.msp_id))?;
            background += 1;
            continue;
        }
        std::thread::sleep(attack_due.saturating_sub(clock.elapsed()));
        if attack >= plan.warmup {
            book.lock().unwrap_or_else(PoisonError::into_inner).sent(attack, attack_due);
        }
        for record in attack_records(&script.attacker(attack), &plan.msp_id) {
            send(&producer, plan, &record)?;
        }
        attack += 1;
    }
    producer.flush(Duration::from_secs(10)).context("not every record was acknowledged")?;
    let failed = counting.0.failed.load(Ordering::Relaxed);
    if failed > 0 {
        bail!("{failed} records were not delivered");
    }
    Ok(())
}

fn send(producer: &CountingProducer, plan: &AlertPlan, record: &str) -> Result<()> {
    let message = BaseRecord::to(&plan.topic).key(plan.msp_id.as_str()).payload(record);
    send_waiting(producer, message)
}

fn now_text(shift_seconds: i64) -> String {
    (Utc::now() - chrono::Duration::seconds(shift_seconds))
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A routine backup run by one of the background credentials, stamped now.
fn background_record(run: u64, number: u64, msp_id: &str) -> String {
    serde_json::json!({
        "event_id": format!("bg-{run}-{number}"),
        "time": now_text(0),
        "msp_id": msp_id,
        "tenant_id": format!("tn-bench-{}", number % BACKGROUND_TENANTS),
        "actor": {"id": format!("svc-bench-{}", number % BACKGROUND_CREDENTIALS), "type": "service"},
        "action": "backup.run",
        "resource": {"type": "backup_plan", "id": format!("plan-{}", number % BACKGROUND_TENANTS)},
        "outcome": "success",
    })
    .to_string()
}

/// Deletions by `attacker` in three tenants, one second apart in event time, the last stamped
/// now: the third trips the rule.
fn attack_records(attacker: &str, msp_id: &str) -> Vec<String> {
    (0..3)
        .map(|index| {
            serde_json::json!({
                "event_id": format!("{attacker}-{index}"),
                "time": now_text(2 - index),
                "msp_id": msp_id,
                "tenant_id": format!("tn-{attacker}-{index}"),
                "actor": {"id": attacker, "type": "api_key"},
                "action": "backup.delete",
                "resource": {"type": "recovery_point", "id": format!("rp-{attacker}-{index}")},
                "outcome": "success",
            })
            .to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script() -> Script {
        let schedule = Schedule { start: Duration::ZERO, rate: 1.0 };
        Script { run: 77, attacks: schedule, background: schedule }
    }

    #[test]
    fn an_alert_is_matched_to_its_attack_by_the_credential() {
        let script = script();
        assert_eq!(script.attack_of(&script.attacker(12)), Some(12));
        assert_eq!(script.attack_of("bench-attacker-78-12"), None, "another run's attacker");
        assert_eq!(script.attack_of("svc-bench-3"), None);
    }

    #[test]
    fn an_attack_deletes_in_three_distinct_tenants_of_the_msp() {
        let records = attack_records("bench-attacker-1-0", "msp-a");
        let parsed: Vec<serde_json::Value> =
            records.iter().filter_map(|record| serde_json::from_str(record).ok()).collect();
        assert_eq!(parsed.len(), 3);
        let tenants: std::collections::BTreeSet<&str> =
            parsed.iter().filter_map(|record| record["tenant_id"].as_str()).collect();
        assert_eq!(tenants.len(), 3);
        for record in &parsed {
            assert_eq!(record["action"], "backup.delete");
            assert_eq!(record["msp_id"], "msp-a");
            assert_eq!(record["actor"]["id"], "bench-attacker-1-0");
        }
        let times: Vec<&str> = parsed.iter().filter_map(|record| record["time"].as_str()).collect();
        assert!(times.windows(2).all(|pair| pair[0] < pair[1]), "{times:?}");
    }
}

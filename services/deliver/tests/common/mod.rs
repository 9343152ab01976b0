//! Test helpers: a server on 127.0.0.1 port 0 with a real tokens file, an admin backend, clients
//! on their own connections, and alerts to feed.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mspwatch_alert::{Alert, AlertActor, Severity};
use mspwatch_deliver::pb::alert_service_client::AlertServiceClient;
use mspwatch_deliver::pb::subscribe_response::Event;
use mspwatch_deliver::pb::{self, SubscribeResponse};
use mspwatch_deliver::{
    hash_token, AdminBackend, AlertLog, BaselineDocument, BaselineQuery, DeliverError, GrpcConfig,
    GrpcServer, MspStats, RuleInfo, Stats, TokenStore,
};
use mspwatch_event::ActorType;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status, Streaming};

/// A token for every MSP.
pub const GLOBAL: &str = "global-soc-token-8f2b";
/// A token for msp-northwind only.
pub const NORTHWIND: &str = "northwind-token-1c9d";
/// A token for msp-globex only.
pub const GLOBEX: &str = "globex-token-77aa";

/// How long a test waits for something that should take milliseconds.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Writes a tokens file holding the hashes of the three test tokens.
pub fn write_tokens_file(directory: &Path) -> PathBuf {
    let text = format!(
        "[[tokens]]\nname = \"global-soc\"\nsha256 = \"{}\"\nmsps = [\"*\"]\n\n\
         [[tokens]]\nname = \"northwind-soc\"\nsha256 = \"{}\"\nmsps = [\"msp-northwind\"]\n\n\
         [[tokens]]\nname = \"globex-soc\"\nsha256 = \"{}\"\nmsps = [\"msp-globex\"]\n",
        hash_token(GLOBAL),
        hash_token(NORTHWIND),
        hash_token(GLOBEX)
    );
    let path = directory.join("tokens.toml");
    std::fs::write(&path, text).expect("write tokens file");
    path
}

/// An admin backend with fixed answers and a rule reload that fails while `reload_errors` is set.
#[derive(Default)]
pub struct TestBackend {
    /// Errors the next reloads report; `None` makes reloads succeed.
    pub reload_errors: Mutex<Option<Vec<String>>>,
}

impl AdminBackend for TestBackend {
    fn stats(&self) -> Stats {
        let mut stats = Stats::default();
        stats.counters.insert("events_in".to_owned(), 1234);
        stats.msps.insert(
            "msp-northwind".to_owned(),
            MspStats { events: 1000, alerts: 3, credentials: 12 },
        );
        stats
            .msps
            .insert("msp-globex".to_owned(), MspStats { events: 234, alerts: 1, credentials: 4 });
        stats
    }

    fn rules(&self) -> Vec<RuleInfo> {
        vec![RuleInfo {
            id: "cross_tenant_backup_deletion".to_owned(),
            title: "One credential deleted backups across tenants".to_owned(),
            severity: Severity::Critical,
            kind: "threshold".to_owned(),
            mitre: vec!["T1490".to_owned()],
            source: "rules/deletion.yaml:1".to_owned(),
        }]
    }

    fn reload_rules(&self) -> Result<usize, Vec<String>> {
        match self.reload_errors.lock().expect("lock").clone() {
            Some(errors) => Err(errors),
            None => Ok(7),
        }
    }

    fn baseline(&self, query: &BaselineQuery) -> Option<BaselineDocument> {
        match query {
            BaselineQuery::Msp(msp_id) if msp_id.starts_with("msp-") => Some(BaselineDocument {
                msp_id: Some(msp_id.clone()),
                json: format!("{{\"msp_id\":\"{msp_id}\",\"credentials\":12}}"),
            }),
            BaselineQuery::Credential(credential_id) if credential_id == "cred-northwind" => {
                Some(BaselineDocument {
                    msp_id: Some("msp-northwind".to_owned()),
                    json: "{\"credential\":\"cred-northwind\"}".to_owned(),
                })
            }
            BaselineQuery::Credential(credential_id) if credential_id == "cred-unattributed" => {
                Some(BaselineDocument { msp_id: None, json: "{}".to_owned() })
            }
            _ => None,
        }
    }
}

/// A running server and what it serves.
pub struct Running {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    /// The log it serves.
    pub log: Arc<AlertLog>,
    /// The admin backend it calls.
    pub backend: Arc<TestBackend>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), DeliverError>>>,
    _directory: tempfile::TempDir,
}

impl Running {
    /// Starts a plaintext server on 127.0.0.1 port 0 over a fresh log of `log_capacity`.
    pub async fn start(config: GrpcConfig, log_capacity: usize) -> Running {
        Running::start_with_log(config, Arc::new(AlertLog::new(log_capacity))).await
    }

    /// Starts a server on `config` (the listen port defaults to 0) over `log`.
    pub async fn start_with_log(mut config: GrpcConfig, log: Arc<AlertLog>) -> Running {
        let directory = tempfile::tempdir().expect("temporary directory");
        if config.listen.port() == 50051 {
            config.listen = "127.0.0.1:0".parse().expect("address");
        }
        let tokens_file = write_tokens_file(directory.path());
        let tokens = TokenStore::load(&tokens_file).expect("tokens file loads");
        config.tokens_file = Some(tokens_file);
        let server = GrpcServer::bind(config).await.expect("server binds");
        let addr = server.local_addr();
        let backend = Arc::new(TestBackend::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let admin: Arc<dyn AdminBackend> = backend.clone();
        let task = tokio::spawn(server.serve(Arc::clone(&log), admin, tokens, async move {
            let _ = stopped.await;
        }));
        Running { addr, log, backend, stop: Some(stop), task: Some(task), _directory: directory }
    }

    /// The plaintext endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client on a connection of its own.
    pub async fn alerts_client(&self) -> AlertServiceClient<Channel> {
        AlertServiceClient::new(connect(&self.endpoint()).await)
    }

    /// Stops the server and returns what `serve` returned.
    pub async fn stop(mut self) -> Result<(), DeliverError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.expect("server task"),
            None => Ok(()),
        }
    }
}

/// A channel on a new connection.
pub async fn connect(endpoint: &str) -> Channel {
    Endpoint::from_shared(endpoint.to_owned()).expect("endpoint").connect().await.expect("connects")
}

/// A request carrying `token` as a bearer token.
pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    let value = format!("Bearer {token}").parse().expect("metadata value");
    request.metadata_mut().insert("authorization", value);
    request
}

/// An alert of `msp` on `tenant`.
pub fn alert(id: &str, msp: Option<&str>, tenant: &str, severity: Severity, rule: &str) -> Alert {
    Alert {
        id: id.to_owned(),
        version: 1,
        rule_id: rule.to_owned(),
        title: format!("{rule} fired"),
        severity,
        score: 80.0,
        msp_id: msp.map(str::to_owned),
        supplier_tier: None,
        actor: AlertActor { id: format!("cred-{id}"), name: None, kind: ActorType::User },
        tenants: vec![tenant.to_owned()],
        first_seen: "2024-05-01T10:00:00Z".to_owned(),
        last_seen: "2024-05-01T10:05:00Z".to_owned(),
        event_count: 5,
        evidence: vec![format!("ev-{id}")],
        timeline: Vec::new(),
        mitre: vec!["T1490".to_owned()],
        summary: format!("alert {id}"),
        baseline: None,
        notify_by: "2024-05-04T10:00:00Z".to_owned(),
    }
}

/// A northwind alert on tn-acme, high severity, rule `deletion`.
pub fn northwind_alert(id: &str) -> Alert {
    alert(id, Some("msp-northwind"), "tn-acme", Severity::High, "deletion")
}

/// Subscribes with `filter` from `cursor` and waits for the first message, the heartbeat that
/// says the subscription is in place; returns the stream and that heartbeat's cursor.
pub async fn subscribe(
    client: &mut AlertServiceClient<Channel>,
    token: &str,
    filter: pb::AlertFilter,
    cursor: &str,
) -> Result<(Streaming<SubscribeResponse>, String), Status> {
    let request = pb::SubscribeRequest { filter: Some(filter), cursor: cursor.to_owned() };
    let mut stream = client.subscribe(authed(request, token)).await?.into_inner();
    let first = tokio::time::timeout(PATIENCE, stream.message())
        .await
        .map_err(|_| Status::deadline_exceeded("no first message"))??
        .ok_or_else(|| Status::aborted("stream ended at once"))?;
    assert!(matches!(first.event, Some(Event::Heartbeat(_))), "first message is a heartbeat");
    Ok((stream, first.cursor))
}

/// Reads until `count` alerts arrived (skipping heartbeats) or `within` passed; returns each
/// alert's id and the cursor after it.
pub async fn read_alerts(
    stream: &mut Streaming<SubscribeResponse>,
    count: usize,
    within: Duration,
) -> Vec<(String, String)> {
    let mut alerts = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while alerts.len() < count {
        let message = tokio::time::timeout_at(deadline, stream.message()).await;
        match message {
            Ok(Ok(Some(SubscribeResponse { cursor, event: Some(Event::Alert(alert)) }))) => {
                alerts.push((alert.id, cursor));
            }
            Ok(Ok(Some(_))) => {}
            Ok(Ok(None)) | Ok(Err(_)) | Err(_) => break,
        }
    }
    alerts
}

/// Reads until the next heartbeat and returns the alerts before it.
pub async fn alerts_until_heartbeat(stream: &mut Streaming<SubscribeResponse>) -> Vec<String> {
    let mut alerts = Vec::new();
    loop {
        let message = tokio::time::timeout(PATIENCE, stream.message())
            .await
            .expect("a message within patience")
            .expect("no error")
            .expect("stream open");
        match message.event {
            Some(Event::Alert(alert)) => alerts.push(alert.id),
            _ => return alerts,
        }
    }
}

/// A config with short heartbeats, for tests that wait for one.
pub fn quick_config() -> GrpcConfig {
    GrpcConfig { heartbeat_secs: 1, ..GrpcConfig::default() }
}

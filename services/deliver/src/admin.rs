//! `AdminService`: counters, rules, rule reloads and baselines, answered by the detector through
//! the [`AdminBackend`] trait and narrowed to the caller's scope.

use std::collections::BTreeMap;
use std::sync::Arc;

use mspwatch_alert::Severity;
use tonic::{Request, Response, Status};

use crate::auth::principal;
use crate::convert::severity_to_proto;
use crate::log::AlertLog;
use crate::pb;
use crate::status;

/// Longest MSP or credential id accepted in a baseline request.
const MAX_SUBJECT_LEN: usize = 512;

/// Detector-wide counters and per-MSP counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Counters by name (`events_in`, `duplicates`, ...), shown to global tokens only.
    pub counters: BTreeMap<String, u64>,
    /// Counts per MSP id, each shown to tokens whose scope includes the MSP.
    pub msps: BTreeMap<String, MspStats>,
}

/// Counts for one MSP.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MspStats {
    /// Events attributed to the MSP.
    pub events: u64,
    /// Alert versions raised for the MSP.
    pub alerts: u64,
    /// Credentials of the MSP with a tracked baseline.
    pub credentials: u64,
}

/// One loaded rule, as `ListRules` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    /// The rule's id.
    pub id: String,
    /// The rule's title.
    pub title: String,
    /// The rule's severity.
    pub severity: Severity,
    /// `match`, `threshold`, `sequence`, `baseline` or `first_seen`.
    pub kind: String,
    /// MITRE ATT&CK technique ids.
    pub mitre: Vec<String>,
    /// Where it was defined, `file:line`.
    pub source: String,
}

/// Whose baseline an investigator asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaselineQuery {
    /// An MSP's baseline.
    Msp(String),
    /// One credential's baseline.
    Credential(String),
}

/// A learned baseline and the MSP it belongs to (for the scope check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineDocument {
    /// The MSP; `None` for an unattributed credential, which only global tokens may see.
    pub msp_id: Option<String>,
    /// The baseline as a JSON document.
    pub json: String,
}

/// What the admin API needs from the detector. The binary implements it over the engine.
///
/// Calls run on a blocking thread, so implementations may take locks or read files.
pub trait AdminBackend: Send + Sync + 'static {
    /// Counters now.
    fn stats(&self) -> Stats;
    /// The loaded rules.
    fn rules(&self) -> Vec<RuleInfo>;
    /// Loads the rules again, atomically: on success the number of rules now in force; on
    /// failure every error, each `file:line:col: reason`, with the old rules kept.
    fn reload_rules(&self) -> Result<usize, Vec<String>>;
    /// A baseline, or `None` when nothing is known about the subject.
    fn baseline(&self, query: &BaselineQuery) -> Option<BaselineDocument>;
}

/// The admin service over a backend and the alert log.
pub(crate) struct AdminApi {
    backend: Arc<dyn AdminBackend>,
    log: Arc<AlertLog>,
}

impl AdminApi {
    pub(crate) fn new(backend: Arc<dyn AdminBackend>, log: Arc<AlertLog>) -> AdminApi {
        AdminApi { backend, log }
    }

    /// Runs a backend call on a blocking thread.
    async fn call<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn AdminBackend) -> T + Send + 'static,
    ) -> Result<T, Status> {
        let backend = Arc::clone(&self.backend);
        tokio::task::spawn_blocking(move || call(backend.as_ref())).await.map_err(|error| {
            tracing::error!(error = %error, "admin backend call failed");
            status::backend_failed()
        })
    }

    fn log_counters(&self) -> BTreeMap<String, u64> {
        let stats = self.log.stats();
        BTreeMap::from([
            ("alert_log_entries".to_owned(), stats.entries),
            ("alert_log_capacity".to_owned(), stats.capacity),
            ("alert_log_alert_ids".to_owned(), stats.alert_ids),
            ("alert_log_evicted".to_owned(), stats.evicted),
            ("alert_log_skipped_records".to_owned(), stats.skipped_records),
            ("alert_log_repeated_versions".to_owned(), stats.repeated_versions),
            ("grpc_subscribers".to_owned(), stats.subscribers),
            ("grpc_subscribers_ended_slow".to_owned(), stats.subscribers_ended_slow),
        ])
    }
}

#[tonic::async_trait]
impl pb::admin_service_server::AdminService for AdminApi {
    async fn get_stats(
        &self,
        request: Request<pb::GetStatsRequest>,
    ) -> Result<Response<pb::GetStatsResponse>, Status> {
        let scope = principal(&request)?.scope.clone();
        let stats = self.call(|backend| backend.stats()).await?;
        let msps = stats
            .msps
            .into_iter()
            .filter(|(msp_id, _)| scope.allows(Some(msp_id)))
            .map(|(msp_id, counts)| {
                let counts = pb::MspStats {
                    events: counts.events,
                    alerts: counts.alerts,
                    credentials: counts.credentials,
                };
                (msp_id, counts)
            })
            .collect();
        let counters = if scope.is_global() {
            let mut counters = stats.counters;
            counters.extend(self.log_counters());
            counters.into_iter().collect()
        } else {
            Default::default()
        };
        Ok(Response::new(pb::GetStatsResponse { counters, msps }))
    }

    async fn list_rules(
        &self,
        request: Request<pb::ListRulesRequest>,
    ) -> Result<Response<pb::ListRulesResponse>, Status> {
        principal(&request)?;
        let mut rules = self.call(|backend| backend.rules()).await?;
        rules.sort_by(|left, right| left.id.cmp(&right.id));
        let rules = rules
            .into_iter()
            .map(|rule| pb::RuleInfo {
                id: rule.id,
                title: rule.title,
                severity: severity_to_proto(rule.severity).into(),
                kind: rule.kind,
                mitre: rule.mitre,
                source: rule.source,
            })
            .collect();
        Ok(Response::new(pb::ListRulesResponse { rules }))
    }

    async fn reload_rules(
        &self,
        request: Request<pb::ReloadRulesRequest>,
    ) -> Result<Response<pb::ReloadRulesResponse>, Status> {
        let principal = principal(&request)?;
        if !principal.scope.is_global() {
            return Err(status::needs_global_token("reloading rules"));
        }
        let token = principal.name.clone();
        let outcome = self.call(|backend| backend.reload_rules()).await?;
        let response = match outcome {
            Ok(count) => {
                tracing::info!(token = %token, rules = count, "rules reloaded over grpc");
                let rule_count = u32::try_from(count).unwrap_or(u32::MAX);
                pb::ReloadRulesResponse { ok: true, rule_count, errors: Vec::new() }
            }
            Err(errors) => {
                tracing::warn!(token = %token, errors = errors.len(), "rule reload refused");
                pb::ReloadRulesResponse { ok: false, rule_count: 0, errors }
            }
        };
        Ok(Response::new(response))
    }

    async fn get_baseline(
        &self,
        request: Request<pb::GetBaselineRequest>,
    ) -> Result<Response<pb::GetBaselineResponse>, Status> {
        let scope = principal(&request)?.scope.clone();
        let query = match request.into_inner().subject {
            Some(pb::get_baseline_request::Subject::MspId(msp_id)) => BaselineQuery::Msp(msp_id),
            Some(pb::get_baseline_request::Subject::CredentialId(credential_id)) => {
                BaselineQuery::Credential(credential_id)
            }
            None => return Err(Status::invalid_argument("set msp_id or credential_id")),
        };
        let (BaselineQuery::Msp(subject) | BaselineQuery::Credential(subject)) = &query;
        if subject.is_empty() || subject.len() > MAX_SUBJECT_LEN {
            return Err(Status::invalid_argument("baseline subject must be 1 to 512 bytes"));
        }
        if let BaselineQuery::Msp(msp_id) = &query {
            if !scope.allows(Some(msp_id)) {
                return Err(status::out_of_scope("the msp"));
            }
        }
        let document = self
            .call(move |backend| backend.baseline(&query))
            .await?
            .ok_or_else(|| Status::not_found("no baseline for that subject"))?;
        if !scope.allows(document.msp_id.as_deref()) {
            return Err(status::out_of_scope("the baseline's msp"));
        }
        Ok(Response::new(pb::GetBaselineResponse { msp_id: document.msp_id, json: document.json }))
    }
}

//! The admin API's view of the running detector: counters, rules, atomic rule reloads and
//! baselines, over the ingest pipeline's engines.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use mspwatch_deliver::{AdminBackend, BaselineDocument, BaselineQuery, MspStats, RuleInfo, Stats};
use mspwatch_ingest::{EngineFactory, IngestHandle, IngestStats, PartitionId, StatsReader};
use mspwatch_rules::{RuleKind, RuleSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use super::detector::LiveEngine;
use super::telemetry::OutcomeLabels;

/// The running pipeline, while it runs: taken out when the service stops.
pub struct Pipeline {
    handle: Mutex<Option<IngestHandle<LiveEngine>>>,
    stats: StatsReader,
}

impl Pipeline {
    /// Shares a started pipeline.
    pub fn new(handle: IngestHandle<LiveEngine>) -> Pipeline {
        let stats = handle.stats_reader();
        Pipeline { handle: Mutex::new(Some(handle)), stats }
    }

    /// Runs `visit` on every assigned partition's engine, all under the pipeline's lock, so
    /// that no event is evaluated between two visits. Does nothing once stopping.
    pub fn for_each_engine(&self, visit: impl FnMut(&PartitionId, &mut LiveEngine)) {
        let handle = self.handle.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(handle) = handle.as_ref() {
            handle.for_each_detector(visit);
        }
    }

    /// Whether the pipeline task has ended (which, before a stop was asked, is a failure).
    pub fn is_finished(&self) -> bool {
        let handle = self.handle.lock().unwrap_or_else(PoisonError::into_inner);
        handle.as_ref().is_none_or(IngestHandle::is_finished)
    }

    /// Takes the pipeline out for its shutdown; later calls get `None`.
    pub fn take(&self) -> Option<IngestHandle<LiveEngine>> {
        self.handle.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    /// Ingestion counters and partitions now.
    pub fn stats(&self) -> IngestStats {
        self.stats.read()
    }
}

/// Metric handles the admin backend updates.
#[derive(Clone, Default)]
pub struct RuleMetrics {
    /// Rules in force.
    pub rules_loaded: Gauge,
    /// Reloads by outcome (`ok`, `refused`).
    pub reloads: Family<OutcomeLabels, Counter>,
}

/// [`AdminBackend`] over the live pipeline.
pub struct LiveAdmin {
    rules_dir: PathBuf,
    rules: RwLock<Arc<RuleSet>>,
    reloading: Mutex<()>,
    factory: Arc<EngineFactory>,
    pipeline: Arc<Pipeline>,
    metrics: RuleMetrics,
}

impl LiveAdmin {
    /// A backend whose rules come from `rules_dir` (`rules` is what was loaded at start).
    pub fn new(
        rules_dir: &Path,
        rules: RuleSet,
        factory: Arc<EngineFactory>,
        pipeline: Arc<Pipeline>,
        metrics: RuleMetrics,
    ) -> LiveAdmin {
        metrics.rules_loaded.set(gauge_value(rules.rules.len()));
        LiveAdmin {
            rules_dir: rules_dir.to_owned(),
            rules: RwLock::new(Arc::new(rules)),
            reloading: Mutex::new(()),
            factory,
            pipeline,
            metrics,
        }
    }

    /// The rules in force.
    pub fn current_rules(&self) -> Arc<RuleSet> {
        Arc::clone(&self.rules.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Loads the rule directory again and, when every file is sound, puts the new rules in
    /// force in the factory and every running engine at once; otherwise keeps the old ones.
    pub fn reload(&self) -> Result<usize, Vec<String>> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(PoisonError::into_inner);
        let rules = match load_rule_set(&self.rules_dir) {
            Ok(rules) => rules,
            Err(errors) => {
                self.count_reload("refused");
                tracing::warn!(
                    rules_dir = %self.rules_dir.display(),
                    errors = errors.len(),
                    "rule reload refused; the rules in force stay"
                );
                for error in &errors {
                    tracing::warn!(error = %error, "rule error");
                }
                return Err(errors);
            }
        };
        let count = rules.rules.len();
        self.factory.replace_rules(rules.clone());
        let mut engines = 0usize;
        self.pipeline.for_each_engine(|_, live| {
            live.engine.replace_rules(rules.clone());
            engines += 1;
        });
        *self.rules.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(rules);
        self.metrics.rules_loaded.set(gauge_value(count));
        self.count_reload("ok");
        tracing::info!(rules = count, engines, "rules reloaded");
        Ok(count)
    }

    fn count_reload(&self, outcome: &'static str) {
        self.metrics.reloads.get_or_create(&OutcomeLabels { outcome }).inc();
    }
}

/// Loads the rules under `rules_dir`; a set with any error, or with no rule at all, is refused
/// with every error as `file:line:col: reason`.
pub fn load_rule_set(rules_dir: &Path) -> Result<RuleSet, Vec<String>> {
    let rules = mspwatch_rules::load(rules_dir)
        .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    if rules.rules.is_empty() {
        return Err(vec![format!("{}: no rules found", rules_dir.display())]);
    }
    Ok(rules)
}

impl AdminBackend for LiveAdmin {
    fn stats(&self) -> Stats {
        let ingest = self.pipeline.stats();
        let mut stats = Stats { counters: ingest_counters(&ingest), ..Stats::default() };
        stats.counters.insert("rules".to_owned(), self.current_rules().rules.len() as u64);
        self.pipeline.for_each_engine(|_, live| {
            for (msp_id, counts) in live.engine.msp_counts() {
                let entry = stats.msps.entry(msp_id).or_default();
                entry.events = entry.events.saturating_add(counts.events);
                entry.credentials = entry.credentials.saturating_add(counts.credentials);
            }
            for (msp_id, alerts) in live.alerts_by_msp() {
                let entry: &mut MspStats = stats.msps.entry(msp_id.clone()).or_default();
                entry.alerts = entry.alerts.saturating_add(*alerts);
            }
        });
        stats
    }

    fn rules(&self) -> Vec<RuleInfo> {
        self.current_rules()
            .rules
            .iter()
            .map(|rule| RuleInfo {
                id: rule.id.clone(),
                title: rule.title.clone(),
                severity: rule.severity,
                kind: kind_name(&rule.kind).to_owned(),
                mitre: rule.mitre.clone(),
                source: format!("{}:{}", rule.source.file.display(), rule.source.line),
            })
            .collect()
    }

    fn reload_rules(&self) -> Result<usize, Vec<String>> {
        self.reload()
    }

    fn baseline(&self, query: &BaselineQuery) -> Option<BaselineDocument> {
        let mut found = None;
        self.pipeline.for_each_engine(|_, live| {
            if found.is_some() {
                return;
            }
            found = match query {
                BaselineQuery::Msp(msp_id) => live.engine.msp_baseline(msp_id).map(|view| {
                    BaselineDocument { msp_id: Some(msp_id.clone()), json: view.to_string() }
                }),
                BaselineQuery::Credential(credential_id) => live
                    .engine
                    .credential_baseline(credential_id)
                    .map(|(msp_id, view)| BaselineDocument { msp_id, json: view.to_string() }),
            };
        });
        found
    }
}

/// The detector-wide counters `GetStats` shows to global tokens: ingestion since start, and the
/// engines of the partitions assigned now.
fn ingest_counters(ingest: &IngestStats) -> std::collections::BTreeMap<String, u64> {
    let mut counters = std::collections::BTreeMap::new();
    let mut put = |name: &str, value: u64| {
        counters.insert(name.to_owned(), value);
    };
    put("events_consumed", ingest.events);
    put("records_skipped", ingest.records_skipped);
    put("rejects", ingest.rejects_total());
    put("dead_letters", ingest.dead_letters);
    put("alerts_written", ingest.alerts);
    put("commits", ingest.commits);
    put("msp_partition_splits", ingest.msp_partition_splits);
    put("partitions_assigned", ingest.partitions.len() as u64);
    let partitions = &ingest.partitions;
    put("partitions_stalled", partitions.iter().filter(|p| p.stalled).count() as u64);
    let lag: i64 = partitions.iter().filter_map(|p| p.lag).map(|lag| lag.max(0)).sum();
    put("lag_messages", u64::try_from(lag).unwrap_or(0));
    put("pending_writes", partitions.iter().map(|p| p.pending_writes).sum());
    let engine = |pick: fn(&mspwatch_engine::EngineStats) -> u64| -> u64 {
        partitions.iter().map(|p| pick(&p.detector)).fold(0, u64::saturating_add)
    };
    let engine_counters = [
        ("events_in", engine(|s| s.events_in)),
        ("events_evaluated", engine(|s| s.events_evaluated)),
        ("duplicates", engine(|s| s.duplicates)),
        ("too_late", engine(|s| s.too_late)),
        ("unattributed", engine(|s| s.unattributed)),
        ("evicted", engine(|s| s.evicted)),
        ("alert_versions", engine(|s| s.alert_versions)),
        ("pending", engine(|s| s.pending)),
        ("state_entries", engine(|s| s.state_entries)),
    ];
    for (name, value) in engine_counters {
        put(name, value);
    }
    for (reason, count) in &ingest.rejects {
        put(&format!("rejects_{reason}"), *count);
    }
    counters
}

/// The rule kind as `ListRules` names it.
fn kind_name(kind: &RuleKind) -> &'static str {
    match kind {
        RuleKind::Match => "match",
        RuleKind::Threshold { .. } => "threshold",
        RuleKind::Sequence { .. } => "sequence",
        RuleKind::Baseline(_) => "baseline",
        RuleKind::FirstSeen { .. } => "first_seen",
    }
}

fn gauge_value(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_or_broken_rule_directory_is_refused_with_located_errors() {
        let directory = tempfile::tempdir().unwrap();
        let errors = load_rule_set(directory.path()).unwrap_err();
        assert!(errors[0].ends_with("no rules found"), "{errors:?}");
        std::fs::write(directory.path().join("broken.yaml"), "rules:\n  - id: x\n    kind: nope\n")
            .unwrap();
        let errors = load_rule_set(directory.path()).unwrap_err();
        assert!(errors.iter().all(|error| error.contains("broken.yaml:")), "{errors:?}");
    }

    #[test]
    fn counters_sum_the_engines_of_assigned_partitions() {
        let mut ingest = IngestStats { events: 10, ..IngestStats::default() };
        ingest.rejects.insert("invalid_json".to_owned(), 2);
        for lag in [Some(3), None] {
            ingest.partitions.push(mspwatch_ingest::PartitionStats {
                partition: PartitionId::new("audit", 0),
                next_offset: None,
                committed: None,
                high_watermark: None,
                lag,
                stalled: false,
                pending_writes: 1,
                events: 5,
                detector: mspwatch_engine::EngineStats {
                    events_in: 5,
                    ..mspwatch_engine::EngineStats::default()
                },
                tracked_keys: None,
            });
        }
        let counters = ingest_counters(&ingest);
        assert_eq!(counters["events_consumed"], 10);
        assert_eq!(counters["events_in"], 10);
        assert_eq!(counters["lag_messages"], 3);
        assert_eq!(counters["pending_writes"], 2);
        assert_eq!(counters["rejects"], 2);
        assert_eq!(counters["rejects_invalid_json"], 2);
    }
}

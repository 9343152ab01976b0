//! The detection engine: takes decoded events, returns alerts, and does no I/O.
//!
//! Events enter through [`Engine::ingest`]. The engine de-duplicates them, holds them until
//! the watermark passes, then evaluates them in event-time order: it attributes each to its
//! MSP, learns from it in the baselines, and runs every rule over it. Rules raise incidents,
//! one per rule and group, and every change to an incident is published as a new version of
//! its alert.

mod baseline;
mod bounded;
mod checkpoint;
mod detect;
mod incident;
mod memory;
mod order;
mod snapshot;
mod window;

use mspwatch_alert::Alert;
use mspwatch_event::directory::Attribution;
use mspwatch_event::{Directory, Event};
use mspwatch_rules::RuleSet;

pub use baseline::Judgement;
pub use checkpoint::CheckpointRestore;
pub use incident::EVIDENCE_CAP;
pub use memory::{ByteSize, ByteSizeError, MemoryLimit};
pub use order::Admission;
pub use snapshot::SnapshotError;

use baseline::Baselines;
use std::hash::BuildHasher;

use bounded::{FastHasher, MapHasher};
use detect::{Context, RuleRuntime};
use memory::{Budgets, Membership};
use order::EventOrder;

/// How often (in evaluated events) idle incidents and windows are swept.
const SWEEP_EVERY: u64 = 16_384;

/// How often (in evaluated events) every map is held to its memory budget. Maps also check
/// their budget whenever their table would grow.
const ENFORCE_EVERY: u64 = 64;

/// Engine limits and timing.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How far behind the latest event time an event may arrive and still be evaluated.
    pub allowed_lateness_ms: i64,
    /// How long events are held for reordering before evaluation; `None` holds them for the
    /// whole allowed lateness, which makes results independent of arrival order. A shorter
    /// hold alerts sooner; events arriving later than the hold but within the lateness are
    /// still evaluated, out of order.
    pub reorder_hold_ms: Option<i64>,
    /// How long an event id is remembered for de-duplication, behind the watermark.
    pub dedupe_horizon_ms: i64,
    /// Most keys of each kind kept (credentials, tenants, rule groups, first-seen
    /// combinations, remembered event ids) before the least recently active are evicted.
    pub max_tracked_keys: usize,
    /// Half-life of the baselines' moving averages, in hours.
    pub baseline_half_life_hours: f64,
    /// Most bytes of state kept, shared equally by the engines made with clones of this
    /// limit; past its share, an engine evicts its least recently active entries. `None`
    /// bounds state by `max_tracked_keys` alone.
    pub memory_limit: Option<MemoryLimit>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            allowed_lateness_ms: 5 * 60 * 1000,
            reorder_hold_ms: None,
            dedupe_horizon_ms: 60 * 60 * 1000,
            max_tracked_keys: 1_000_000,
            baseline_half_life_hours: 7.0 * 24.0,
            memory_limit: None,
        }
    }
}

/// What the engine has counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EngineStats {
    /// Events given to the engine.
    pub events_in: u64,
    /// Events evaluated by the rules.
    pub events_evaluated: u64,
    /// Events dropped as repeats of an id already seen.
    pub duplicates: u64,
    /// Events behind the watermark by more than the allowed lateness: counted, not evaluated.
    pub too_late: u64,
    /// Evaluated events with no MSP in the record or the directory.
    pub unattributed: u64,
    /// Keys evicted to stay within `max_tracked_keys` or the memory limit, all kinds together.
    pub evicted: u64,
    /// Alert versions published.
    pub alert_versions: u64,
    /// Events held for reordering right now.
    pub pending: u64,
    /// Entries held in baselines and rule state right now.
    pub state_entries: u64,
    /// Bytes of state accounted right now under a memory limit (baselines, rule state,
    /// incidents, remembered event ids and held events); 0 without a limit, as an engine
    /// without one does not count.
    #[serde(skip)]
    pub state_bytes: u64,
    /// This engine's share of the memory limit right now; 0 without a limit.
    #[serde(skip)]
    pub memory_budget_bytes: u64,
    /// Evictions by kind of state (their sum is `evicted`).
    #[serde(skip)]
    pub evictions: Evictions,
    /// Held events evaluated before their hold passed because the reorder buffer was over its
    /// share of the memory limit (since the engine was made or restored).
    #[serde(skip)]
    pub released_early: u64,
}

/// Keys evicted, by kind of state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Evictions {
    /// Credential baselines.
    pub credentials: u64,
    /// Tenant baselines.
    pub tenants: u64,
    /// MSP baselines.
    pub msps: u64,
    /// Remembered event ids forgotten before their de-duplication horizon.
    pub event_ids: u64,
    /// Rule state: threshold windows, sequence progress and first-seen combinations.
    pub rule_state: u64,
    /// Open incidents.
    pub incidents: u64,
}

impl Evictions {
    /// Every kind together.
    pub fn total(&self) -> u64 {
        self.credentials
            + self.tenants
            + self.msps
            + self.event_ids
            + self.rule_state
            + self.incidents
    }

    /// The kinds with their names, as metrics label them.
    pub fn by_kind(&self) -> [(&'static str, u64); 6] {
        [
            ("credentials", self.credentials),
            ("tenants", self.tenants),
            ("msps", self.msps),
            ("event_ids", self.event_ids),
            ("rule_state", self.rule_state),
            ("incidents", self.incidents),
        ]
    }
}

/// What the engine tracks of one MSP, for counts shown to operators.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MspCounts {
    /// Events evaluated and attributed to the MSP.
    pub events: u64,
    /// Credentials of the MSP with a tracked baseline.
    pub credentials: u64,
}

/// The detector: event-time ordering, baselines, rule state and alerts.
pub struct Engine {
    config: EngineConfig,
    directory: Directory,
    rules: Vec<RuleRuntime>,
    baselines: Baselines,
    order: EventOrder,
    seed: u64,
    hasher: FastHasher,
    stats: EngineStats,
    observed_from_ms: Option<i64>,
    observed_to_ms: Option<i64>,
    /// This engine's place among the engines sharing the memory limit.
    membership: Option<Membership>,
    /// The budgets last applied.
    budgets: Budgets,
}

impl Engine {
    /// An engine with no history.
    pub fn new(config: EngineConfig, rules: RuleSet, directory: Directory) -> Engine {
        let max_keys = config.max_tracked_keys;
        let hold = config.reorder_hold_ms.unwrap_or(config.allowed_lateness_ms);
        let seed = MapHasher::default().hash_one(0u64);
        let hasher = FastHasher::with_seed(seed);
        let membership = config.memory_limit.clone().map(Membership::join);
        let mut engine = Engine {
            order: EventOrder::new(
                config.allowed_lateness_ms,
                hold,
                config.dedupe_horizon_ms,
                max_keys,
                hasher.clone(),
            ),
            baselines: Baselines::new(max_keys, config.baseline_half_life_hours),
            rules: rules.rules.into_iter().map(|rule| RuleRuntime::new(rule, max_keys)).collect(),
            config,
            directory,
            seed,
            hasher,
            stats: EngineStats::default(),
            observed_from_ms: None,
            observed_to_ms: None,
            membership,
            budgets: Budgets::UNLIMITED,
        };
        engine.enforce_budgets();
        engine
    }

    /// Takes one event; pushes every alert version it caused onto `alerts`.
    pub fn ingest(&mut self, event: impl Into<Box<Event>>, alerts: &mut Vec<Alert>) -> Admission {
        self.stats.events_in += 1;
        let admission = self.order.admit(event.into());
        match admission {
            Admission::Accepted => {
                while let Some(ready) = self.order.release() {
                    self.evaluate(ready, alerts);
                }
                if self.budgets.held_events != usize::MAX {
                    self.release_over_budget(alerts);
                }
            }
            Admission::Duplicate => self.stats.duplicates += 1,
            Admission::TooLate => self.stats.too_late += 1,
        }
        admission
    }

    /// Evaluates every held event now, without waiting for the watermark. The live service
    /// calls this when its input goes quiet, so that the last events of an attack do not
    /// wait for later traffic.
    pub fn release_held(&mut self, alerts: &mut Vec<Alert>) {
        while let Some(ready) = self.order.drain() {
            self.evaluate(ready, alerts);
        }
    }

    /// Evaluates every held event (end of input); pushes the alert versions caused.
    pub fn flush(&mut self, alerts: &mut Vec<Alert>) {
        self.release_held(alerts);
    }

    /// Replaces the rules. Open incidents of rules that keep their id carry on (so their
    /// alerts keep their ids and versions); window state carries on where the rule's
    /// detection logic is unchanged.
    pub fn replace_rules(&mut self, rules: RuleSet) {
        let max_keys = self.config.max_tracked_keys;
        let mut previous: Vec<RuleRuntime> = std::mem::take(&mut self.rules);
        for rule in rules.rules {
            let mut runtime = RuleRuntime::new(rule, max_keys);
            if let Some(position) = previous.iter().position(|old| old.rule.id == runtime.rule.id) {
                runtime.adopt(previous.swap_remove(position));
            }
            self.rules.push(runtime);
        }
        self.enforce_budgets();
    }

    /// Replaces the directory of MSPs; later events are attributed with it.
    pub fn replace_directory(&mut self, directory: Directory) {
        self.directory = directory;
    }

    /// Counters so far.
    pub fn stats(&self) -> EngineStats {
        let mut stats = self.stats.clone();
        let (rule_state, incidents) = self
            .rules
            .iter()
            .map(RuleRuntime::evicted)
            .fold((0, 0), |(state, open), (more_state, more_open)| {
                (state + more_state, open + more_open)
            });
        stats.evictions = Evictions {
            credentials: self.baselines.credentials.evicted(),
            tenants: self.baselines.tenants.evicted(),
            msps: self.baselines.msps.evicted(),
            event_ids: self.order.evicted_ids(),
            rule_state,
            incidents,
        };
        stats.evicted = stats.evictions.total();
        stats.state_bytes = self.state_bytes() as u64;
        stats.memory_budget_bytes = self.membership.as_ref().map_or(0, Membership::share);
        stats.pending = self.order.pending() as u64;
        stats.state_entries = (self.baselines.credentials.len()
            + self.baselines.tenants.len()
            + self.baselines.msps.len()
            + self.order.remembered_ids()
            + self.rules.iter().map(RuleRuntime::state_size).sum::<usize>())
            as u64;
        stats
    }

    /// The watermark: events older than this are too late.
    pub fn watermark_ms(&self) -> Option<i64> {
        self.order.watermark_ms()
    }

    /// A readable view of a credential's baseline, for investigators, with the MSP it
    /// belongs to (for access checks).
    pub fn credential_baseline(
        &self,
        credential_id: &str,
    ) -> Option<(Option<String>, serde_json::Value)> {
        let credential = self.baselines.credential(credential_id)?;
        Some((credential.msp_id().map(str::to_owned), credential.view(credential_id)))
    }

    /// A readable view of an MSP's baseline, including its credentials' peer spread.
    pub fn msp_baseline(&self, msp_id: &str) -> Option<serde_json::Value> {
        Some(self.baselines.msps.get(msp_id)?.view(msp_id))
    }

    /// A readable view of a tenant's baseline.
    pub fn tenant_baseline(&self, tenant_id: &str) -> Option<serde_json::Value> {
        Some(self.baselines.tenants.get(tenant_id)?.view(tenant_id))
    }

    /// Per MSP id: events evaluated for it and credentials with a baseline, from the tracked
    /// baselines (evicted entries no longer count). For the admin API's per-MSP counts.
    pub fn msp_counts(&self) -> std::collections::BTreeMap<String, MspCounts> {
        let mut counts: std::collections::BTreeMap<String, MspCounts> = self
            .baselines
            .msps
            .iter()
            .map(|(msp_id, _, msp)| {
                (msp_id.to_string(), MspCounts { events: msp.events(), credentials: 0 })
            })
            .collect();
        for (_, _, credential) in self.baselines.credentials.iter() {
            if let Some(msp_id) = credential.msp_id() {
                counts.entry(msp_id.to_owned()).or_default().credentials += 1;
            }
        }
        counts
    }

    /// Bytes of state accounted now.
    fn state_bytes(&self) -> usize {
        let rules: usize = self.rules.iter().map(|rule| rule.bytes().0 + rule.bytes().1).sum();
        self.baselines.credentials.bytes()
            + self.baselines.tenants.bytes()
            + self.baselines.msps.bytes()
            + self.order.id_bytes()
            + self.order.held_bytes()
            + rules
    }

    /// Splits this engine's current share of the memory limit among its maps and holds each
    /// to its part, evicting the least recently active entries of any map over it. Without a
    /// limit, it only counts the bytes of maps restored since the last call.
    pub(crate) fn enforce_budgets(&mut self) {
        let stateful = self.rules.iter().filter(|rule| rule.has_state()).count();
        let budgets = match &self.membership {
            Some(membership) => Budgets::split(membership.share(), stateful, self.rules.len()),
            None => Budgets::UNLIMITED,
        };
        self.budgets = budgets;
        self.baselines.credentials.enforce(budgets.credentials);
        self.baselines.tenants.enforce(budgets.tenants);
        self.baselines.msps.enforce(budgets.msps);
        self.order.limit_ids(budgets.event_ids);
        self.order.count_held(budgets.held_events != usize::MAX);
        for rule in &mut self.rules {
            rule.enforce(budgets.rule_state, budgets.incidents);
        }
    }

    /// Evaluates the oldest held events now while the reorder buffer is over its budget.
    fn release_over_budget(&mut self, alerts: &mut Vec<Alert>) {
        while self.order.held_bytes() > self.budgets.held_events {
            let Some(early) = self.order.drain() else { break };
            self.stats.released_early += 1;
            self.evaluate(early, alerts);
        }
    }

    fn evaluate(&mut self, mut event: Box<Event>, alerts: &mut Vec<Alert>) {
        self.stats.events_evaluated += 1;
        if self.directory.attribute(&mut event) == Attribution::Unattributed {
            self.stats.unattributed += 1;
        }
        let now = event.time_ms;
        let from = *self.observed_from_ms.get_or_insert(now);
        self.observed_to_ms = Some(self.observed_to_ms.map_or(now, |to| to.max(now)));
        self.baselines.observe(&event);
        let context = Context {
            baselines: &self.baselines,
            hasher: &self.hasher,
            observed_span_ms: now.saturating_sub(from),
        };
        let before = alerts.len();
        for rule in &mut self.rules {
            rule.evaluate(&event, &context, alerts);
        }
        self.stats.alert_versions += (alerts.len() - before) as u64;
        if self.stats.events_evaluated % SWEEP_EVERY == 0 {
            for rule in &mut self.rules {
                rule.expire(now);
            }
        }
        if self.stats.events_evaluated % ENFORCE_EVERY == 0 {
            self.enforce_budgets();
        }
    }
}

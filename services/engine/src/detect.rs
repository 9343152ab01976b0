//! Rule evaluation: each rule's per-group state, and the incidents it raises.

use std::sync::Arc;

use mspwatch_alert::Alert;
use mspwatch_event::Event;
use mspwatch_rules::{Aggregate, Field, Rule, RuleKind, Value, Values};

use serde::{Deserialize, Serialize};

use crate::baseline::Baselines;
use crate::bounded::{BoundedMap, FastHasher};
use crate::incident::{EvidenceItem, Figures, Incident};
use crate::window::{Progress, Window};

/// Separates field values inside a group key; cannot appear in a value of a sane event and
/// is escaped when it does.
const KEY_SEPARATOR: char = '\u{1f}';

/// A rule with its state.
#[derive(Debug)]
pub(crate) struct RuleRuntime {
    pub(crate) rule: Rule,
    /// Identifies the rule's definition, to keep state across reloads that leave it as is.
    pub(crate) fingerprint: String,
    state: KindState,
    incidents: Incidents,
}

/// A rule's whole state, borrowed for writing a checkpoint.
#[derive(Debug, Serialize)]
pub(crate) struct RuleStateRef<'a> {
    kind: &'a KindState,
    incidents: &'a Incidents,
}

/// A rule's whole state, as checkpoints carry it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RuleState {
    kind: KindState,
    incidents: Incidents,
}

/// The open incidents of one rule, by group key.
#[derive(Debug, Serialize, Deserialize)]
struct Incidents(BoundedMap<Box<str>, Incident>);

#[derive(Debug, Serialize, Deserialize)]
enum KindState {
    Stateless,
    Threshold(BoundedMap<Box<str>, Window>),
    Sequence(BoundedMap<Box<str>, Progress>),
    FirstSeen(BoundedMap<Box<str>, i64>),
}

/// What every rule evaluation may consult.
pub(crate) struct Context<'a> {
    pub(crate) baselines: &'a Baselines,
    pub(crate) hasher: &'a FastHasher,
    /// Event time observed so far: from the first evaluated event to this one.
    pub(crate) observed_span_ms: i64,
}

impl RuleRuntime {
    pub(crate) fn new(rule: Rule, max_keys: usize) -> Self {
        let state = match &rule.kind {
            RuleKind::Match | RuleKind::Baseline(_) => KindState::Stateless,
            RuleKind::Threshold { .. } => KindState::Threshold(BoundedMap::new(max_keys)),
            RuleKind::Sequence { .. } => KindState::Sequence(BoundedMap::new(max_keys)),
            RuleKind::FirstSeen { .. } => KindState::FirstSeen(BoundedMap::new(max_keys)),
        };
        RuleRuntime {
            fingerprint: fingerprint(&rule),
            rule,
            state,
            incidents: Incidents(BoundedMap::new(max_keys)),
        }
    }

    /// Keys evicted from this rule's state.
    pub(crate) fn evicted(&self) -> u64 {
        let state = match &self.state {
            KindState::Stateless => 0,
            KindState::Threshold(groups) => groups.evicted(),
            KindState::Sequence(groups) => groups.evicted(),
            KindState::FirstSeen(keys) => keys.evicted(),
        };
        state + self.incidents.0.evicted()
    }

    /// Entries held: groups, keys and open incidents.
    pub(crate) fn state_size(&self) -> usize {
        let state = match &self.state {
            KindState::Stateless => 0,
            KindState::Threshold(groups) => groups.len(),
            KindState::Sequence(groups) => groups.len(),
            KindState::FirstSeen(keys) => keys.len(),
        };
        state + self.incidents.0.len()
    }

    /// Evaluates one event, in event-time order, pushing alert versions onto `alerts`.
    pub(crate) fn evaluate(
        &mut self,
        event: &Event,
        context: &Context<'_>,
        alerts: &mut Vec<Alert>,
    ) {
        if !self.rule.enabled || !self.rule.filter.matches(event) {
            self.learn(event);
            return;
        }
        let now = event.time_ms;
        let groups = group_keys(&self.rule.group_by, event);
        let item = EvidenceItem::of(event);
        let RuleRuntime { rule, state, incidents, .. } = self;
        let hasher = context.hasher;
        match (&rule.kind, state) {
            (RuleKind::Match, _) => {
                for group in &groups {
                    let figures = Figures::default();
                    incidents.raise(
                        rule,
                        group,
                        event,
                        std::slice::from_ref(&item),
                        figures,
                        hasher,
                        alerts,
                    );
                }
            }
            (
                RuleKind::Threshold { window_ms, aggregate, at_least },
                KindState::Threshold(windows),
            ) => {
                let (window_ms, aggregate, at_least) = (*window_ms, *aggregate, *at_least);
                let values = match aggregate {
                    Aggregate::Count => Values::None,
                    Aggregate::Sum(field) | Aggregate::Distinct(field) => field.values(event),
                };
                let value_is_bytes = matches!(aggregate, Aggregate::Sum(Field::Bytes));
                for group in &groups {
                    let window = windows.touch(group.as_str(), now, Window::default);
                    let value = window.push(
                        Arc::clone(&item),
                        aggregate,
                        values,
                        window_ms,
                        context.hasher,
                    );
                    let figures = Figures { value: Some(value), value_is_bytes, judgement: None };
                    if value >= at_least {
                        let evidence = window.evidence();
                        incidents.raise(rule, group, event, &evidence, figures, hasher, alerts);
                    } else {
                        incidents.extend(rule, group, event, &item, figures, hasher, alerts);
                    }
                }
            }
            (RuleKind::Sequence { within_ms, steps }, KindState::Sequence(progress)) => {
                let matched: Vec<bool> =
                    steps.iter().map(|step| step.filter.matches(event)).collect();
                if matched.iter().any(|&step_matched| step_matched) {
                    let within_ms = *within_ms;
                    let step_count = steps.len() as f64;
                    for group in &groups {
                        let chain = progress.touch(group.as_str(), now, Progress::default);
                        let figures = Figures { value: Some(step_count), ..Figures::default() };
                        match chain.advance(&item, &matched, within_ms) {
                            Some(evidence) => incidents
                                .raise(rule, group, event, &evidence, figures, hasher, alerts),
                            None => {
                                incidents.extend(rule, group, event, &item, figures, hasher, alerts)
                            }
                        }
                    }
                }
            }
            (RuleKind::Baseline(check), _) => {
                if let Some(judgement) = context.baselines.judge(check, event) {
                    let figures = Figures {
                        value: Some(judgement.observed),
                        value_is_bytes: false,
                        judgement: Some(judgement),
                    };
                    for group in &groups {
                        incidents.raise(
                            rule,
                            group,
                            event,
                            std::slice::from_ref(&item),
                            figures.clone(),
                            hasher,
                            alerts,
                        );
                    }
                } else {
                    for group in &groups {
                        incidents.extend(
                            rule,
                            group,
                            event,
                            &item,
                            Figures::default(),
                            hasher,
                            alerts,
                        );
                    }
                }
            }
            (RuleKind::FirstSeen { key, horizon_ms, warmup_ms }, KindState::FirstSeen(known)) => {
                let new_combinations = if context.observed_span_ms >= *warmup_ms {
                    combinations(key, event)
                        .into_iter()
                        .filter(|combination| {
                            known
                                .get(combination.as_str())
                                .is_none_or(|&last| now.saturating_sub(last) > *horizon_ms)
                        })
                        .count()
                } else {
                    0
                };
                if new_combinations > 0 {
                    let figures =
                        Figures { value: Some(new_combinations as f64), ..Figures::default() };
                    for group in &groups {
                        incidents.raise(
                            rule,
                            group,
                            event,
                            std::slice::from_ref(&item),
                            figures.clone(),
                            hasher,
                            alerts,
                        );
                    }
                }
            }
            _ => {}
        }
        self.learn(event);
    }

    /// First-seen rules learn every combination, whether or not the event passed the filter.
    fn learn(&mut self, event: &Event) {
        let (RuleKind::FirstSeen { key, .. }, KindState::FirstSeen(known)) =
            (&self.rule.kind, &mut self.state)
        else {
            return;
        };
        for combination in combinations(key, event) {
            *known.touch(combination.as_str(), event.time_ms, || event.time_ms) = event.time_ms;
        }
    }

    /// Drops incidents and group state idle for longer than they can matter at `now_ms`.
    pub(crate) fn expire(&mut self, now_ms: i64) {
        let gap = self.rule.incident_gap_ms;
        self.incidents.0.retain_active_since(now_ms.saturating_sub(gap));
        match (&self.rule.kind, &mut self.state) {
            (RuleKind::Threshold { window_ms, .. }, KindState::Threshold(windows)) => {
                let cutoff = now_ms.saturating_sub(*window_ms);
                windows
                    .retain(|_, window| window.latest_ms().is_some_and(|latest| latest > cutoff));
            }
            (RuleKind::Sequence { within_ms, .. }, KindState::Sequence(progress)) => {
                let cutoff = now_ms.saturating_sub(*within_ms);
                progress.retain(|_, chain| {
                    chain.oldest_start_ms().is_some_and(|start| start >= cutoff)
                });
            }
            (RuleKind::FirstSeen { horizon_ms, .. }, KindState::FirstSeen(known)) => {
                known.retain_active_since(now_ms.saturating_sub(*horizon_ms));
            }
            _ => {}
        }
    }

    /// The rule's state, for checkpoints.
    pub(crate) fn state(&self) -> RuleStateRef<'_> {
        RuleStateRef { kind: &self.state, incidents: &self.incidents }
    }

    /// Takes over saved state; the per-group state only when `same_definition`.
    pub(crate) fn restore(&mut self, same_definition: bool, state: RuleState) {
        self.incidents = state.incidents;
        if same_definition {
            self.state = state.kind;
        }
    }

    /// Moves state over from the same rule before a reload.
    pub(crate) fn adopt(&mut self, previous: RuleRuntime) {
        self.incidents = previous.incidents;
        if previous.fingerprint == self.fingerprint {
            self.state = previous.state;
        }
    }

    /// First-seen combinations, for snapshots.
    pub(crate) fn known_combinations(&self) -> Vec<(String, i64)> {
        match &self.state {
            KindState::FirstSeen(known) => {
                known.iter().map(|(key, _, &last)| (key.to_string(), last)).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Restores first-seen combinations from a snapshot.
    pub(crate) fn restore_combinations(&mut self, combinations: Vec<(String, i64)>) {
        if let KindState::FirstSeen(known) = &mut self.state {
            for (key, last) in combinations {
                known.insert(key.into_boxed_str(), last, last);
            }
        }
    }
}

impl Incidents {
    /// Opens or updates the group's incident with `evidence`, and publishes a new version.
    #[allow(clippy::too_many_arguments)]
    fn raise(
        &mut self,
        rule: &Rule,
        group: &str,
        event: &Event,
        evidence: &[Arc<EvidenceItem>],
        figures: Figures,
        hasher: &FastHasher,
        alerts: &mut Vec<Alert>,
    ) {
        let now = event.time_ms;
        let gap = rule.incident_gap_ms;
        let open =
            self.0.get(group).is_some_and(|incident| now.saturating_sub(incident.last_ms()) <= gap);
        if !open {
            let Some(first) = evidence
                .iter()
                .min_by(|a, b| (a.time_ms, &a.event_id).cmp(&(b.time_ms, &b.event_id)))
            else {
                return;
            };
            let incident = Incident::open(rule, group, event, first);
            self.0.insert(group.into(), now, incident);
        }
        let Some(incident) = self.0.get_mut(group, now) else { return };
        let added = incident.add(evidence, hasher);
        if added || !open {
            incident.note(event, figures);
            alerts.push(incident.publish(rule));
        }
    }

    /// Adds an event to the group's incident when one is open; opens none.
    #[allow(clippy::too_many_arguments)]
    fn extend(
        &mut self,
        rule: &Rule,
        group: &str,
        event: &Event,
        item: &Arc<EvidenceItem>,
        figures: Figures,
        hasher: &FastHasher,
        alerts: &mut Vec<Alert>,
    ) {
        let gap = rule.incident_gap_ms;
        let Some(incident) = self.0.get(group) else { return };
        if event.time_ms.saturating_sub(incident.last_ms()) > gap {
            return;
        }
        self.raise(rule, group, event, std::slice::from_ref(item), figures, hasher, alerts);
    }
}

/// A string that changes when anything about the rule's detection logic changes.
fn fingerprint(rule: &Rule) -> String {
    format!("{:?}|{:?}|{:?}|{:?}", rule.kind, rule.filter, rule.group_by, rule.incident_gap_ms)
}

/// The group keys an event belongs to: one per combination of multi-valued field values.
pub(crate) fn group_keys(fields: &[Field], event: &Event) -> Vec<String> {
    combinations(fields, event)
}

/// Every combination of the fields' values in the event, joined into keys.
fn combinations(fields: &[Field], event: &Event) -> Vec<String> {
    let mut keys = vec![String::new()];
    for (position, field) in fields.iter().enumerate() {
        let mut values: Vec<String> = Vec::new();
        field.values(event).for_each(|value| values.push(value_text(value)));
        if values.is_empty() {
            values.push(String::new());
        }
        let mut next = Vec::with_capacity(keys.len() * values.len());
        for key in &keys {
            for value in &values {
                let mut combined = key.clone();
                if position > 0 {
                    combined.push(KEY_SEPARATOR);
                }
                push_escaped(&mut combined, value);
                next.push(combined);
            }
        }
        keys = next;
    }
    keys
}

fn push_escaped(key: &mut String, value: &str) {
    for character in value.chars() {
        if character == KEY_SEPARATOR || character == '\\' {
            key.push('\\');
        }
        key.push(character);
    }
}

fn value_text(value: Value<'_>) -> String {
    match value {
        Value::Str(text) => text.to_owned(),
        Value::Num(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
    }
}

//! Rule evaluation: each rule's per-group state, and the incidents it raises.

use std::sync::Arc;

use mspwatch_alert::Alert;
use mspwatch_event::Event;
use mspwatch_rules::{class_bit, Aggregate, Field, Rule, RuleKind, Value, Values};

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
    /// Reused to build first-seen keys without allocating for combinations already known.
    scratch: String,
    /// The classes the rule's filter can pass, as bits; a cheap test before the filter.
    class_mask: u16,
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
            class_mask: rule_class_mask(&rule),
            rule,
            state,
            incidents: Incidents(BoundedMap::new(max_keys)),
            scratch: String::new(),
        }
    }

    /// Keys evicted from this rule's state: groups or first-seen combinations, and incidents.
    pub(crate) fn evicted(&self) -> (u64, u64) {
        let state = match &self.state {
            KindState::Stateless => 0,
            KindState::Threshold(groups) => groups.evicted(),
            KindState::Sequence(groups) => groups.evicted(),
            KindState::FirstSeen(keys) => keys.evicted(),
        };
        (state, self.incidents.0.evicted())
    }

    /// Whether the rule keeps per-group state besides incidents.
    pub(crate) fn has_state(&self) -> bool {
        !matches!(self.state, KindState::Stateless)
    }

    /// Bytes held: the rule's state and its incidents.
    pub(crate) fn bytes(&self) -> (usize, usize) {
        let state = match &self.state {
            KindState::Stateless => 0,
            KindState::Threshold(groups) => groups.bytes(),
            KindState::Sequence(groups) => groups.bytes(),
            KindState::FirstSeen(keys) => keys.bytes(),
        };
        (state, self.incidents.0.bytes())
    }

    /// Keeps the rule's state and incidents within their budgets, evicting the least recently
    /// active now if they hold more.
    pub(crate) fn enforce(&mut self, state_budget: usize, incident_budget: usize) {
        match &mut self.state {
            KindState::Stateless => 0,
            KindState::Threshold(groups) => groups.enforce(state_budget),
            KindState::Sequence(groups) => groups.enforce(state_budget),
            KindState::FirstSeen(keys) => keys.enforce(state_budget),
        };
        self.incidents.0.enforce(incident_budget);
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
    ///
    /// Inlined into the engine's loop: for most rules most events stop at the class test.
    #[inline]
    pub(crate) fn evaluate(
        &mut self,
        event: &Event,
        context: &Context<'_>,
        alerts: &mut Vec<Alert>,
    ) {
        let class_may_pass = self.class_mask & class_bit(event.class) != 0;
        if class_may_pass && self.rule.enabled && self.rule.filter.matches(event) {
            self.detect(event, context, alerts);
        }
        if matches!(self.state, KindState::FirstSeen(_)) {
            self.learn(event);
        }
    }

    /// Updates the rule's state with an event that passed its filter. Group keys and evidence
    /// are built only once it is clear they are needed, as most events raise nothing.
    fn detect(&mut self, event: &Event, context: &Context<'_>, alerts: &mut Vec<Alert>) {
        let RuleRuntime { rule, state, incidents, scratch, .. } = self;
        let now = event.time_ms;
        let mut raise = Raise { rule, event, hasher: context.hasher, alerts };
        match (&rule.kind, state) {
            (RuleKind::Match, _) => {
                let item = EvidenceItem::of(event);
                for group in group_keys(&rule.group_by, event) {
                    raise.open(incidents, &group, std::slice::from_ref(&item), Figures::default());
                }
            }
            (
                RuleKind::Threshold { window_ms, aggregate, at_least },
                KindState::Threshold(windows),
            ) => {
                let values = match aggregate {
                    Aggregate::Count => Values::None,
                    Aggregate::Sum(field) | Aggregate::Distinct(field) => field.values(event),
                };
                let value_is_bytes = matches!(aggregate, Aggregate::Sum(Field::Bytes));
                let item = EvidenceItem::of(event);
                for group in group_keys(&rule.group_by, event) {
                    let mut window = windows.touch(group.as_str(), now, Window::default);
                    let entry = Arc::clone(&item);
                    let value = window.push(entry, *aggregate, values, *window_ms, context.hasher);
                    let figures = Figures { value: Some(value), value_is_bytes, judgement: None };
                    if value >= *at_least {
                        raise.open(incidents, &group, &window.evidence(), figures);
                    } else {
                        raise.extend(incidents, &group, std::slice::from_ref(&item), figures);
                    }
                }
            }
            (RuleKind::Sequence { within_ms, steps }, KindState::Sequence(progress)) => {
                let matched: Vec<bool> =
                    steps.iter().map(|step| step.filter.matches(event)).collect();
                if !matched.contains(&true) {
                    return;
                }
                let item = EvidenceItem::of(event);
                let figures = Figures { value: Some(steps.len() as f64), ..Figures::default() };
                for group in group_keys(&rule.group_by, event) {
                    let mut chain = progress.touch(group.as_str(), now, Progress::default);
                    match chain.advance(&item, &matched, *within_ms) {
                        Some(evidence) => raise.open(incidents, &group, &evidence, figures.clone()),
                        None => raise.extend(
                            incidents,
                            &group,
                            std::slice::from_ref(&item),
                            figures.clone(),
                        ),
                    }
                }
            }
            (RuleKind::Baseline(check), _) => {
                let judgement = context.baselines.judge(check, event);
                if judgement.is_none() && incidents.0.len() == 0 {
                    return;
                }
                let item = EvidenceItem::of(event);
                let evidence = std::slice::from_ref(&item);
                for group in group_keys(&rule.group_by, event) {
                    match &judgement {
                        Some(judgement) => {
                            let figures = Figures {
                                value: Some(judgement.observed),
                                value_is_bytes: false,
                                judgement: Some(judgement.clone()),
                            };
                            raise.open(incidents, &group, evidence, figures);
                        }
                        None => raise.extend(incidents, &group, evidence, Figures::default()),
                    }
                }
            }
            (
                RuleKind::FirstSeen { key, horizon_ms, warmup_ms, new_for_ms },
                KindState::FirstSeen(known),
            ) => {
                if context.observed_span_ms < *warmup_ms {
                    return;
                }
                let mut new_combinations = 0usize;
                visit_combinations(key, event, scratch, &mut |combination| {
                    let is_new = match known.get_with_time(combination) {
                        None => true,
                        Some((last_ms, &first_ms)) => {
                            now.saturating_sub(last_ms) > *horizon_ms
                                || now.saturating_sub(first_ms) < *new_for_ms
                        }
                    };
                    if is_new {
                        new_combinations += 1;
                    }
                });
                if new_combinations == 0 {
                    return;
                }
                let item = EvidenceItem::of(event);
                let figures =
                    Figures { value: Some(new_combinations as f64), ..Figures::default() };
                for group in group_keys(&rule.group_by, event) {
                    raise.open(incidents, &group, std::slice::from_ref(&item), figures.clone());
                }
            }
            _ => {}
        }
    }

    /// First-seen rules learn every combination, whether or not the event passed the filter:
    /// each keeps the time it was first seen (again, after lapsing past the horizon) and, as
    /// the entry's activity, the time it was last seen.
    fn learn(&mut self, event: &Event) {
        let (RuleKind::FirstSeen { key, horizon_ms, .. }, KindState::FirstSeen(known)) =
            (&self.rule.kind, &mut self.state)
        else {
            return;
        };
        let now = event.time_ms;
        visit_combinations(key, event, &mut self.scratch, &mut |combination| {
            let (last_ms, mut first_ms) = known.touch_returning_last(combination, now, || now);
            if last_ms.is_some_and(|last_ms| now.saturating_sub(last_ms) > *horizon_ms) {
                *first_ms = now;
            }
        });
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

    /// First-seen combinations with the times each was last and first seen, for snapshots.
    pub(crate) fn known_combinations(&self) -> Vec<(String, i64, i64)> {
        match &self.state {
            KindState::FirstSeen(known) => {
                known.iter().map(|(key, last, &first)| (key.to_string(), last, first)).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Restores first-seen combinations from a snapshot.
    pub(crate) fn restore_combinations(&mut self, combinations: Vec<(String, i64, i64)>) {
        if let KindState::FirstSeen(known) = &mut self.state {
            for (key, last, first) in combinations {
                known.insert(key.into_boxed_str(), last, first);
            }
        }
    }
}

/// What raising or extending an incident needs besides the incidents themselves.
struct Raise<'a> {
    rule: &'a Rule,
    event: &'a Event,
    hasher: &'a FastHasher,
    alerts: &'a mut Vec<Alert>,
}

impl Raise<'_> {
    /// Opens the group's incident with `evidence`, or adds the evidence to the open one, and
    /// publishes a new version when anything changed.
    fn open(
        &mut self,
        incidents: &mut Incidents,
        group: &str,
        evidence: &[Arc<EvidenceItem>],
        figures: Figures,
    ) {
        let now = self.event.time_ms;
        let gap = self.rule.incident_gap_ms;
        let open = incidents
            .0
            .get(group)
            .is_some_and(|incident| now.saturating_sub(incident.last_ms()) <= gap);
        if !open {
            let first = evidence
                .iter()
                .min_by(|a, b| (a.time_ms, &a.event_id).cmp(&(b.time_ms, &b.event_id)));
            let Some(first) = first else { return };
            let incident = Incident::open(self.rule, group, self.event, first);
            incidents.0.insert(group.into(), now, incident);
        }
        let Some(mut incident) = incidents.0.get_mut(group, now) else { return };
        if incident.add(evidence, self.hasher) || !open {
            incident.note(self.event, figures);
            self.alerts.push(incident.publish(self.rule));
        }
    }

    /// Adds evidence to the group's incident when one is open; opens none.
    fn extend(
        &mut self,
        incidents: &mut Incidents,
        group: &str,
        evidence: &[Arc<EvidenceItem>],
        figures: Figures,
    ) {
        let Some(incident) = incidents.0.get(group) else { return };
        if self.event.time_ms.saturating_sub(incident.last_ms()) > self.rule.incident_gap_ms {
            return;
        }
        self.open(incidents, group, evidence, figures);
    }
}

/// The classes an event may have and still pass the rule's filter (for sequences, the
/// filter and at least one step's).
fn rule_class_mask(rule: &Rule) -> u16 {
    let own = rule.filter.class_mask().unwrap_or(u16::MAX);
    match &rule.kind {
        RuleKind::Sequence { steps, .. } => {
            let steps = steps
                .iter()
                .fold(0, |mask, step| mask | step.filter.class_mask().unwrap_or(u16::MAX));
            own & steps
        }
        _ => own,
    }
}

/// A string that changes when anything about the rule's detection logic changes.
fn fingerprint(rule: &Rule) -> String {
    format!("{:?}|{:?}|{:?}|{:?}", rule.kind, rule.filter, rule.group_by, rule.incident_gap_ms)
}

/// The group keys an event belongs to: one per combination of multi-valued field values.
pub(crate) fn group_keys(fields: &[Field], event: &Event) -> Vec<String> {
    let mut keys = Vec::new();
    visit_combinations(fields, event, &mut String::new(), &mut |key| keys.push(key.to_owned()));
    keys
}

/// Calls `visit` with the key of every combination of the fields' values in the event (one
/// per value of each multi-valued field), built in `scratch` so that nothing is allocated.
fn visit_combinations(
    fields: &[Field],
    event: &Event,
    scratch: &mut String,
    visit: &mut dyn FnMut(&str),
) {
    scratch.clear();
    // Most keys name single-valued fields: build the one key directly.
    let mut single = true;
    for (position, field) in fields.iter().enumerate() {
        if position > 0 {
            scratch.push(KEY_SEPARATOR);
        }
        match field.values(event) {
            Values::None => {}
            Values::One(value) => push_value(scratch, value),
            Values::Many([]) => {}
            Values::Many([value]) => push_value(scratch, Value::Str(value)),
            Values::Many(_) => {
                single = false;
                break;
            }
        }
    }
    if single {
        visit(scratch);
        return;
    }
    scratch.clear();
    extend_combinations(fields, event, true, scratch, visit);
}

fn extend_combinations(
    fields: &[Field],
    event: &Event,
    first: bool,
    key: &mut String,
    visit: &mut dyn FnMut(&str),
) {
    let Some((field, rest)) = fields.split_first() else {
        visit(key);
        return;
    };
    let base = key.len();
    let values = field.values(event);
    if !values.is_present() {
        if !first {
            key.push(KEY_SEPARATOR);
        }
        extend_combinations(rest, event, false, key, visit);
        key.truncate(base);
        return;
    }
    values.for_each(|value| {
        if !first {
            key.push(KEY_SEPARATOR);
        }
        push_value(key, value);
        extend_combinations(rest, event, false, key, visit);
        key.truncate(base);
    });
}

/// Appends a value to a key, escaping the separator.
fn push_value(key: &mut String, value: Value<'_>) {
    use std::fmt::Write;
    match value {
        Value::Str(text) if memchr::memchr2(0x1f, b'\\', text.as_bytes()).is_none() => {
            key.push_str(text)
        }
        Value::Str(text) => {
            for character in text.chars() {
                if character == KEY_SEPARATOR || character == '\\' {
                    key.push('\\');
                }
                key.push(character);
            }
        }
        Value::Num(number) => {
            let _ = write!(key, "{number}");
        }
        Value::Bool(flag) => key.push_str(if flag { "true" } else { "false" }),
    }
}

//! Compiling one rule mapping into a [`Rule`], with every error it holds.

use mspwatch_event::ActionClass;

use crate::conditions::{self, Lists};
use crate::error::Diagnostics;
use crate::field::Field;
use crate::model::{
    Aggregate, BaselineCheck, BaselineMeasure, BaselineSubject, Condition, Filter, Rule, RuleKind,
    Severity, SourceLocation, Step, Template,
};
use crate::read::{self, Zero};
use crate::units::HOUR_MS;
use crate::yaml::{Entry, Node};

/// Keys every kind of rule accepts.
const COMMON_KEYS: [&str; 12] = [
    "id",
    "title",
    "description",
    "severity",
    "mitre",
    "kind",
    "where",
    "except",
    "group_by",
    "summary",
    "incident_gap",
    "enabled",
];

/// The kinds and the keys each adds.
const KIND_KEYS: [(&str, &[&str]); 5] = [
    ("match", &[]),
    ("threshold", &["window", "aggregate", "at_least"]),
    ("sequence", &["within", "steps"]),
    (
        "baseline",
        &["subject", "class", "measure", "zscore", "ratio", "floor", "min_history", "peers"],
    ),
    ("first_seen", &["key", "horizon", "warmup", "new_for"]),
];

/// Keys of a sequence step.
const STEP_KEYS: [&str; 3] = ["name", "where", "except"];

/// Defaults.
const DEFAULT_INCIDENT_GAP_MS: i64 = HOUR_MS;
const DEFAULT_HORIZON_MS: i64 = 30 * 24 * HOUR_MS;
const DEFAULT_WARMUP_MS: i64 = 24 * HOUR_MS;
const DEFAULT_NEW_FOR_MS: i64 = HOUR_MS;
const DEFAULT_MIN_HISTORY_MS: i64 = 24 * HOUR_MS;

/// The rule's `id` text, when it has one, for duplicate detection.
pub(crate) fn rule_id(node: &Node) -> Option<(&str, crate::yaml::Mark)> {
    let entry = read::get(node.as_map()?, "id")?;
    Some((entry.value.as_scalar()?.text.as_str(), entry.value.mark))
}

/// Compiles one rule; `None` when it has errors (all recorded in `diag`).
pub(crate) fn compile(node: &Node, lists: &Lists, diag: &mut Diagnostics) -> Option<Rule> {
    let before = diag.count();
    let entries = read::map(node, "a rule", diag)?;

    let kind_entry = read::required(node, entries, "kind", "a rule", diag);
    let kind_name = kind_entry.and_then(|entry| kind_name(&entry.value, diag));
    check_rule_keys(entries, kind_name, diag);

    let id = read::required(node, entries, "id", "a rule", diag)
        .and_then(|entry| id(&entry.value, diag));
    let title = read::required(node, entries, "title", "a rule", diag)
        .and_then(|entry| read::non_empty_text(&entry.value, "`title`", diag));
    let description = match read::get(entries, "description") {
        Some(entry) => read::text(&entry.value, "`description`", diag).map(str::to_string),
        None => None,
    };
    let severity = read::required(node, entries, "severity", "a rule", diag)
        .and_then(|entry| severity(&entry.value, diag));
    let mitre =
        read::get(entries, "mitre").map_or(Some(Vec::new()), |entry| mitre(&entry.value, diag));
    let summary = read::required(node, entries, "summary", "a rule", diag)
        .and_then(|entry| summary(&entry.value, diag));
    let filter = filter(entries, lists, diag);
    let group_by = match read::get(entries, "group_by") {
        Some(entry) => group_by(&entry.value, diag),
        None => Some(vec![Field::MspId, Field::ActorId]),
    };
    let enabled = read::get(entries, "enabled")
        .map_or(Some(true), |entry| read::flag(&entry.value, "`enabled`", diag));
    let kind = kind_name.and_then(|name| kind(name, node, entries, filter.as_ref(), lists, diag));
    let incident_gap_ms = match read::get(entries, "incident_gap") {
        Some(entry) => read::duration(&entry.value, "`incident_gap`", Zero::Refused, diag),
        None => kind.as_ref().map(default_incident_gap),
    };

    if diag.count() > before {
        return None;
    }
    Some(Rule {
        id: id?.to_string(),
        title: title?.to_string(),
        description,
        severity: severity?,
        mitre: mitre?,
        summary: summary?,
        filter: filter?,
        group_by: group_by?,
        kind: kind?,
        source: SourceLocation { file: diag.file().to_path_buf(), line: node.mark.line },
        incident_gap_ms: incident_gap_ms?,
        enabled: enabled?,
    })
}

/// Window or span for threshold and sequence rules, an hour otherwise.
fn default_incident_gap(kind: &RuleKind) -> i64 {
    match kind {
        RuleKind::Threshold { window_ms, .. } => *window_ms,
        RuleKind::Sequence { within_ms, .. } => *within_ms,
        RuleKind::Match | RuleKind::Baseline(_) | RuleKind::FirstSeen { .. } => {
            DEFAULT_INCIDENT_GAP_MS
        }
    }
}

fn kind_name<'n>(node: &'n Node, diag: &mut Diagnostics) -> Option<&'n str> {
    let name = read::text(node, "`kind`", diag)?;
    if KIND_KEYS.iter().any(|(kind, _)| *kind == name) {
        return Some(name);
    }
    let kinds: Vec<_> = KIND_KEYS.iter().map(|(kind, _)| *kind).collect();
    diag.error(node.mark, format!("unknown kind `{name}` (expected one of: {})", kinds.join(", ")));
    None
}

/// Reports keys that no rule has, and kind keys used with another kind.
fn check_rule_keys(entries: &[Entry], kind: Option<&str>, diag: &mut Diagnostics) {
    let own: &[&str] =
        KIND_KEYS.iter().find(|(name, _)| Some(*name) == kind).map_or(&[], |(_, keys)| keys);
    for entry in entries {
        let key = entry.key.as_str();
        if COMMON_KEYS.contains(&key) || own.contains(&key) {
            continue;
        }
        let owner = KIND_KEYS.iter().find(|(_, keys)| keys.contains(&key)).map(|(name, _)| *name);
        match (owner, kind) {
            (Some(owner), Some(kind)) => diag.error(
                entry.key_mark,
                format!(
                    "key `{key}` does not apply to kind `{kind}` (it belongs to kind `{owner}`)"
                ),
            ),
            (Some(_), None) => {}
            (None, _) => {
                let mut allowed: Vec<&str> = COMMON_KEYS.to_vec();
                allowed.extend_from_slice(own);
                diag.error(
                    entry.key_mark,
                    format!(
                        "unknown key `{key}` in a rule (expected one of: {})",
                        allowed.join(", ")
                    ),
                );
            }
        }
    }
}

fn id<'n>(node: &'n Node, diag: &mut Diagnostics) -> Option<&'n str> {
    let id = read::text(node, "`id`", diag)?;
    let valid = !id.is_empty()
        && id
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
    if !valid {
        diag.error(
            node.mark,
            format!("invalid rule id `{id}`: use lowercase letters, digits and `-`"),
        );
        return None;
    }
    Some(id)
}

fn severity(node: &Node, diag: &mut Diagnostics) -> Option<Severity> {
    let name = read::text(node, "`severity`", diag)?;
    let severity = match name {
        "low" => Severity::Low,
        "medium" => Severity::Medium,
        "high" => Severity::High,
        "critical" => Severity::Critical,
        _ => {
            diag.error(
                node.mark,
                format!("unknown severity `{name}` (expected low, medium, high or critical)"),
            );
            return None;
        }
    };
    Some(severity)
}

fn mitre(node: &Node, diag: &mut Diagnostics) -> Option<Vec<String>> {
    let items = read::seq(node, "`mitre`", diag)?;
    let before = diag.count();
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        let Some(technique) = read::text(item, "a mitre technique id", diag) else { continue };
        if !is_mitre_id(technique) {
            diag.error(
                item.mark,
                format!("invalid mitre technique id `{technique}` (expected T1234 or T1234.001)"),
            );
        }
        ids.push(technique.to_string());
    }
    (diag.count() == before).then_some(ids)
}

/// `T` and four digits, optionally `.` and three digits.
fn is_mitre_id(text: &str) -> bool {
    let Some(digits) = text.strip_prefix('T') else { return false };
    let (technique, sub) = match digits.split_once('.') {
        Some((technique, sub)) => (technique, Some(sub)),
        None => (digits, None),
    };
    let all_digits =
        |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_digit());
    all_digits(technique, 4) && sub.is_none_or(|sub| all_digits(sub, 3))
}

fn summary(node: &Node, diag: &mut Diagnostics) -> Option<Template> {
    let text = read::non_empty_text(node, "`summary`", diag)?;
    match Template::compile(text) {
        Ok(template) => Some(template),
        Err(error) => {
            diag.error(node.mark, error.reason);
            None
        }
    }
}

/// The rule's `where` and `except`.
fn filter(entries: &[Entry], lists: &Lists, diag: &mut Diagnostics) -> Option<Filter> {
    step_filter(entries, &Filter::default(), lists, diag)
}

/// A filter from `where` and `except` keys, added to `base`.
fn step_filter(
    entries: &[Entry],
    base: &Filter,
    lists: &Lists,
    diag: &mut Diagnostics,
) -> Option<Filter> {
    let all = match read::get(entries, "where") {
        Some(entry) => conditions::compile_map(&entry.value, "`where`", lists, diag),
        None => Some(Vec::new()),
    };
    let except = match read::get(entries, "except") {
        Some(entry) => exceptions(&entry.value, lists, diag),
        None => Some(Vec::new()),
    };
    let mut filter = base.clone();
    filter.all.extend(all?);
    filter.except.extend(except?);
    Some(filter)
}

/// `except`: a list of condition mappings.
fn exceptions(node: &Node, lists: &Lists, diag: &mut Diagnostics) -> Option<Vec<Vec<Condition>>> {
    let items = read::seq(node, "`except`", diag)?;
    let before = diag.count();
    let mut sets = Vec::with_capacity(items.len());
    for item in items {
        if item.as_map().is_some_and(<[Entry]>::is_empty) {
            diag.error(item.mark, "an empty exception would exclude every event");
            continue;
        }
        if let Some(set) = conditions::compile_map(item, "an exception", lists, diag) {
            sets.push(set);
        }
    }
    (diag.count() == before).then_some(sets)
}

fn group_by(node: &Node, diag: &mut Diagnostics) -> Option<Vec<Field>> {
    read::fields(node, "`group_by`", diag)
}

/// The kind-specific part of a rule.
fn kind(
    name: &str,
    node: &Node,
    entries: &[Entry],
    filter: Option<&Filter>,
    lists: &Lists,
    diag: &mut Diagnostics,
) -> Option<RuleKind> {
    let context = format!("a {name} rule");
    let required =
        |key: &str, diag: &mut Diagnostics| read::required(node, entries, key, &context, diag);
    match name {
        "match" => Some(RuleKind::Match),
        "threshold" => {
            let window_ms = required("window", diag)
                .and_then(|entry| read::duration(&entry.value, "`window`", Zero::Refused, diag));
            let aggregate = read::get(entries, "aggregate")
                .map_or(Some(Aggregate::Count), |entry| aggregate(&entry.value, diag));
            let at_least = required("at_least", diag)
                .and_then(|entry| read::positive(&entry.value, "`at_least`", diag));
            Some(RuleKind::Threshold {
                window_ms: window_ms?,
                aggregate: aggregate?,
                at_least: at_least?,
            })
        }
        "sequence" => {
            let within_ms = required("within", diag)
                .and_then(|entry| read::duration(&entry.value, "`within`", Zero::Refused, diag));
            let steps =
                required("steps", diag).and_then(|entry| steps(&entry.value, filter, lists, diag));
            Some(RuleKind::Sequence { within_ms: within_ms?, steps: steps? })
        }
        "baseline" => baseline(node, entries, &context, diag).map(RuleKind::Baseline),
        "first_seen" => {
            let key =
                required("key", diag).and_then(|entry| read::fields(&entry.value, "`key`", diag));
            let horizon_ms = read::get(entries, "horizon")
                .map_or(Some(DEFAULT_HORIZON_MS), |entry| {
                    read::duration(&entry.value, "`horizon`", Zero::Refused, diag)
                });
            let warmup_ms = read::get(entries, "warmup").map_or(Some(DEFAULT_WARMUP_MS), |entry| {
                read::duration(&entry.value, "`warmup`", Zero::Allowed, diag)
            });
            let new_for_ms = read::get(entries, "new_for")
                .map_or(Some(DEFAULT_NEW_FOR_MS), |entry| {
                    read::duration(&entry.value, "`new_for`", Zero::Allowed, diag)
                });
            Some(RuleKind::FirstSeen {
                key: key?,
                horizon_ms: horizon_ms?,
                warmup_ms: warmup_ms?,
                new_for_ms: new_for_ms?,
            })
        }
        _ => None,
    }
}

/// `count`, `{sum: FIELD}` or `{distinct: FIELD}`.
fn aggregate(node: &Node, diag: &mut Diagnostics) -> Option<Aggregate> {
    const SHAPE: &str = "`aggregate` must be `count`, `{sum: FIELD}` or `{distinct: FIELD}`";
    if let Some(scalar) = node.as_scalar() {
        if scalar.text == "count" {
            return Some(Aggregate::Count);
        }
        diag.error(node.mark, format!("{SHAPE}, found `{}`", scalar.text));
        return None;
    }
    let entries = match node.as_map() {
        Some(entries @ [_]) => entries,
        _ => {
            diag.error(node.mark, SHAPE);
            return None;
        }
    };
    let entry = entries.first()?;
    let field = read::field(&entry.value, &format!("`{}`", entry.key), diag);
    match entry.key.as_str() {
        "sum" => {
            let field = field?;
            if !conditions::is_numeric(field) {
                diag.error(
                    entry.value.mark,
                    format!(
                        "`sum` needs a numeric field (object_count, bytes), not `{}`",
                        field.name()
                    ),
                );
                return None;
            }
            Some(Aggregate::Sum(field))
        }
        "distinct" => field.map(Aggregate::Distinct),
        other => {
            diag.error(entry.key_mark, format!("{SHAPE}, found `{other}`"));
            None
        }
    }
}

/// Sequence steps; each step's filter includes the rule's own.
fn steps(
    node: &Node,
    rule_filter: Option<&Filter>,
    lists: &Lists,
    diag: &mut Diagnostics,
) -> Option<Vec<Step>> {
    let items = read::seq(node, "`steps`", diag)?;
    if items.len() < 2 {
        let found = if items.is_empty() { "empty" } else { "a single step" };
        diag.error(node.mark, format!("`steps` is {found}: a sequence needs at least two steps"));
        return None;
    }
    let base = rule_filter.cloned().unwrap_or_default();
    let before = diag.count();
    let mut steps: Vec<Step> = Vec::with_capacity(items.len());
    for item in items {
        let Some(entries) = read::map(item, "a step", diag) else { continue };
        read::check_keys(entries, &STEP_KEYS, "a step", diag);
        let name = read::required(item, entries, "name", "a step", diag).and_then(|entry| {
            read::non_empty_text(&entry.value, "`name`", diag).map(|name| (name, entry))
        });
        if let Some((name, entry)) = name {
            if steps.iter().any(|step| step.name == name) {
                diag.error(entry.value.mark, format!("duplicate step name `{name}`"));
            }
        }
        let filter = step_filter(entries, &base, lists, diag);
        if let (Some((name, _)), Some(filter)) = (name, filter) {
            steps.push(Step { name: name.to_string(), filter });
        }
    }
    (diag.count() == before).then_some(steps)
}

fn baseline(
    node: &Node,
    entries: &[Entry],
    context: &str,
    diag: &mut Diagnostics,
) -> Option<BaselineCheck> {
    let subject = read::required(node, entries, "subject", context, diag).and_then(|entry| {
        choose(
            &entry.value,
            "`subject`",
            &[
                ("credential", BaselineSubject::Credential),
                ("tenant", BaselineSubject::Tenant),
                ("msp", BaselineSubject::Msp),
            ],
            diag,
        )
    });
    let measure = read::required(node, entries, "measure", context, diag).and_then(|entry| {
        choose(
            &entry.value,
            "`measure`",
            &[
                ("count", BaselineMeasure::Count),
                ("bytes", BaselineMeasure::Bytes),
                ("objects", BaselineMeasure::Objects),
                ("distinct_tenants", BaselineMeasure::DistinctTenants),
            ],
            diag,
        )
    });
    let class = baseline_class(node, entries, measure, context, diag);
    let zscore =
        read::get(entries, "zscore").map(|entry| read::positive(&entry.value, "`zscore`", diag));
    let ratio =
        read::get(entries, "ratio").map(|entry| read::positive(&entry.value, "`ratio`", diag));
    if zscore.is_none() && ratio.is_none() {
        diag.error(node.mark, format!("{context} needs `zscore`, `ratio` or both"));
    }
    let floor = read::get(entries, "floor")
        .map_or(Some(0.0), |entry| read::number_or_bytes(&entry.value, "`floor`", diag));
    let min_history_hours = match read::get(entries, "min_history") {
        Some(entry) => min_history(&entry.value, diag),
        None => u32::try_from(DEFAULT_MIN_HISTORY_MS / HOUR_MS).ok(),
    };
    let peers = read::get(entries, "peers")
        .map_or(Some(false), |entry| read::flag(&entry.value, "`peers`", diag));
    if peers == Some(true) && subject.is_some_and(|subject| subject != BaselineSubject::Credential)
    {
        let entry = read::get(entries, "peers");
        diag.error(
            entry.map_or(node.mark, |entry| entry.key_mark),
            "`peers` applies to subject credential only",
        );
    }
    if measure == Some(BaselineMeasure::DistinctTenants)
        && subject.is_some_and(|subject| subject != BaselineSubject::Credential)
    {
        let entry = read::get(entries, "measure");
        diag.error(
            entry.map_or(node.mark, |entry| entry.value.mark),
            "measure `distinct_tenants` applies to subject credential only",
        );
    }
    Some(BaselineCheck {
        subject: subject?,
        class: class?,
        measure: measure?,
        zscore: zscore.flatten(),
        ratio: ratio.flatten(),
        floor: floor?,
        min_history_hours: min_history_hours?,
        peers: peers?,
    })
}

/// The measured class: required, except for `distinct_tenants`, where it is refused.
fn baseline_class(
    node: &Node,
    entries: &[Entry],
    measure: Option<BaselineMeasure>,
    context: &str,
    diag: &mut Diagnostics,
) -> Option<Option<ActionClass>> {
    let entry = read::get(entries, "class");
    if measure == Some(BaselineMeasure::DistinctTenants) {
        if let Some(entry) = entry {
            diag.error(
                entry.key_mark,
                "`class` does not apply to measure `distinct_tenants`; use `where` instead",
            );
            return None;
        }
        return Some(None);
    }
    let entry = read::required(node, entries, "class", context, diag)?;
    let name = read::text(&entry.value, "`class`", diag)?;
    match conditions::check_value(Field::Class, name) {
        Ok(()) => ActionClass::from_name(name).map(Some),
        Err(reason) => {
            diag.error(entry.value.mark, reason);
            None
        }
    }
}

/// `min_history`: a duration of whole hours, at least one.
fn min_history(node: &Node, diag: &mut Diagnostics) -> Option<u32> {
    let ms = read::duration(node, "`min_history`", Zero::Refused, diag)?;
    if ms % HOUR_MS != 0 {
        diag.error(node.mark, "`min_history` must be whole hours (such as 24h or 7d)");
        return None;
    }
    u32::try_from(ms / HOUR_MS).ok()
}

/// One of a fixed set of names.
fn choose<T: Copy>(
    node: &Node,
    what: &str,
    choices: &[(&str, T)],
    diag: &mut Diagnostics,
) -> Option<T> {
    let name = read::text(node, what, diag)?;
    if let Some((_, value)) = choices.iter().find(|(choice, _)| *choice == name) {
        return Some(*value);
    }
    let names: Vec<_> = choices.iter().map(|(choice, _)| *choice).collect();
    diag.error(
        node.mark,
        format!("unknown {what} `{name}` (expected one of: {})", names.join(", ")),
    );
    None
}

//! Rule fixtures: small event stories with the alerts a rule must (or must not) raise.
//!
//! This module parses fixture files into cases whose events are canonical-format JSON
//! objects; the `mspwatch rules test` runner decodes them with the real decoder and runs the
//! engine over them.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Map, Value};

use crate::error::{self, Diagnostics, RuleError};
use crate::loader::{read_yaml_files, MAX_FILE_BYTES};
use crate::model::RuleSet;
use crate::read::{self, Zero};
use crate::units;
use crate::yaml::{self, Entry, Node};

/// Most events one case may expand to (after `repeat`).
pub const MAX_CASE_EVENTS: usize = 100_000;

/// Keys of a fixture file's top-level mapping.
const FILE_KEYS: [&str; 5] = ["rule", "description", "directory", "defaults", "cases"];

/// Keys of one case.
const CASE_KEYS: [&str; 7] =
    ["name", "expect", "alerts", "tenants", "directory", "defaults", "events"];

/// Top-level keys a canonical event may have, plus `repeat`.
const EVENT_KEYS: [&str; 18] = [
    "event_id",
    "time",
    "msp_id",
    "tenant_id",
    "tenant_ids",
    "actor",
    "action",
    "class",
    "resource",
    "outcome",
    "error",
    "object_count",
    "bytes",
    "source_ip",
    "user_agent",
    "product",
    "target_accounts",
    "repeat",
];

/// One fixture file: cases for one rule.
#[derive(Debug, Clone, PartialEq)]
pub struct FixtureFile {
    /// The file.
    pub file: PathBuf,
    /// Line of the `rule:` key.
    pub line: u32,
    /// The rule the cases test.
    pub rule: String,
    /// The cases, in file order.
    pub cases: Vec<FixtureCase>,
}

/// One case: events, and what the rule must raise for them.
#[derive(Debug, Clone, PartialEq)]
pub struct FixtureCase {
    /// What the case shows, as a sentence.
    pub name: String,
    /// Line of the case in its file.
    pub line: u32,
    /// Whether the rule must raise an alert.
    pub expect: Expect,
    /// Exact number of distinct alerts (not versions) the rule must raise, when given.
    pub alerts: Option<u32>,
    /// Number of tenants in the latest version of the rule's first alert, when given.
    pub tenants: Option<u32>,
    /// The MSP directory for the case, as YAML text (`msps: [...]`), when given.
    pub directory: Option<String>,
    /// Canonical-format events, with defaults merged and repeats expanded, sorted by event
    /// time (stable; file order when some time cannot be read).
    pub events: Vec<Value>,
}

/// What a case expects of its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// At least one alert of the rule.
    Alert,
    /// No alert of the rule.
    NoAlert,
}

impl Expect {
    /// The name used in fixture files.
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Alert => "alert",
            Expect::NoAlert => "no_alert",
        }
    }
}

/// Loads every fixture file in `<rules_dir>/tests/` (`*.yaml`, `*.yml`), sorted by name.
///
/// A rules directory without a `tests/` folder has no fixtures. All errors of all files are
/// returned, sorted by file, line and column.
pub fn load_fixtures(rules_dir: &Path) -> Result<Vec<FixtureFile>, Vec<RuleError>> {
    let dir = rules_dir.join("tests");
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let files = read_yaml_files(&dir)?;
    let mut fixtures = Vec::with_capacity(files.len());
    let mut errors = Vec::new();
    for (path, text) in &files {
        match parse_fixture(path, text) {
            Ok(fixture) => fixtures.push(fixture),
            Err(file_errors) => errors.extend(file_errors),
        }
    }
    if errors.is_empty() {
        return Ok(fixtures);
    }
    error::sort(&mut errors);
    Err(errors)
}

/// Parses one fixture file's text; `file_name` appears in errors.
pub fn load_fixture_str(file_name: &str, text: &str) -> Result<FixtureFile, Vec<RuleError>> {
    parse_fixture(Path::new(file_name), text)
}

/// Checks that every rule named by a fixture exists; errors point at the fixture's `rule:`.
pub fn check_fixtures(rules: &RuleSet, fixtures: &[FixtureFile]) -> Vec<RuleError> {
    let ids: HashSet<&str> = rules.rules.iter().map(|rule| rule.id.as_str()).collect();
    let mut errors = Vec::new();
    for fixture in fixtures.iter().filter(|fixture| !ids.contains(fixture.rule.as_str())) {
        let mut known: Vec<&str> = ids.iter().copied().collect();
        known.sort_unstable();
        errors.push(RuleError {
            file: fixture.file.clone(),
            line: fixture.line,
            column: 1,
            reason: format!("unknown rule `{}` (known rules: {})", fixture.rule, known.join(", ")),
        });
    }
    errors
}

/// Checks that every rule has at least one case expecting an alert and one expecting none;
/// errors point at the rule.
pub fn check_coverage(rules: &RuleSet, fixtures: &[FixtureFile]) -> Vec<RuleError> {
    let mut seen: HashMap<&str, (bool, bool)> = HashMap::new();
    for fixture in fixtures {
        let entry = seen.entry(fixture.rule.as_str()).or_default();
        for case in &fixture.cases {
            match case.expect {
                Expect::Alert => entry.0 = true,
                Expect::NoAlert => entry.1 = true,
            }
        }
    }
    let mut errors = Vec::new();
    for rule in &rules.rules {
        let (positive, negative) = seen.get(rule.id.as_str()).copied().unwrap_or_default();
        for (present, what) in [(positive, "an alert"), (negative, "no alert")] {
            if !present {
                errors.push(RuleError {
                    file: rule.source.file.clone(),
                    line: rule.source.line,
                    column: 1,
                    reason: format!("rule `{}` has no fixture case expecting {what}", rule.id),
                });
            }
        }
    }
    errors
}

fn parse_fixture(path: &Path, text: &str) -> Result<FixtureFile, Vec<RuleError>> {
    let mut diag = Diagnostics::new(path);
    if text.len() as u64 > MAX_FILE_BYTES {
        diag.error(Default::default(), format!("file larger than {MAX_FILE_BYTES} bytes"));
        return Err(diag.into_errors());
    }
    let parsed = yaml::parse(text);
    diag.problems(parsed.problems);
    let Some(root) = parsed.root else {
        if diag.count() == 0 {
            diag.error(crate::yaml::Mark { line: 1, column: 1 }, "empty fixture file");
        }
        return Err(diag.into_errors());
    };
    let fixture = fixture_file(path, &root, &mut diag);
    match fixture {
        Some(fixture) if diag.count() == 0 => Ok(fixture),
        _ => Err(diag.into_errors()),
    }
}

fn fixture_file(path: &Path, root: &Node, diag: &mut Diagnostics) -> Option<FixtureFile> {
    let entries = read::map(root, "a fixture file", diag)?;
    read::check_keys(entries, &FILE_KEYS, "a fixture file", diag);
    let rule_entry = read::required(root, entries, "rule", "a fixture file", diag);
    let rule = rule_entry.and_then(|entry| read::non_empty_text(&entry.value, "`rule`", diag));
    if let Some(entry) = read::get(entries, "description") {
        read::text(&entry.value, "`description`", diag);
    }
    let directory = read::get(entries, "directory").and_then(|entry| directory(&entry.value, diag));
    let defaults =
        read::get(entries, "defaults").and_then(|entry| defaults(&entry.value, &Map::new(), diag));
    let cases_entry = read::required(root, entries, "cases", "a fixture file", diag)?;
    let items = read::seq(&cases_entry.value, "`cases`", diag)?;
    if items.is_empty() {
        diag.error(cases_entry.value.mark, "`cases` is empty");
    }
    let context = CaseContext { directory, defaults: defaults.unwrap_or_default() };
    let mut cases: Vec<FixtureCase> = Vec::with_capacity(items.len());
    for item in items {
        if let Some(case) = case(item, &context, diag) {
            if cases.iter().any(|other| other.name == case.name) {
                diag.error(item.mark, format!("duplicate case name `{}`", case.name));
            }
            cases.push(case);
        }
    }
    Some(FixtureFile {
        file: path.to_path_buf(),
        line: rule_entry.map_or(0, |entry| entry.key_mark.line),
        rule: rule?.to_string(),
        cases,
    })
}

/// What a file gives every case.
struct CaseContext {
    directory: Option<String>,
    defaults: Map<String, Value>,
}

fn case(node: &Node, context: &CaseContext, diag: &mut Diagnostics) -> Option<FixtureCase> {
    let before = diag.count();
    let entries = read::map(node, "a case", diag)?;
    read::check_keys(entries, &CASE_KEYS, "a case", diag);
    let name = read::required(node, entries, "name", "a case", diag)
        .and_then(|entry| read::non_empty_text(&entry.value, "`name`", diag));
    let expect = read::required(node, entries, "expect", "a case", diag)
        .and_then(|entry| expect(&entry.value, diag));
    let alerts =
        read::get(entries, "alerts").and_then(|entry| count(&entry.value, "`alerts`", diag));
    let tenants =
        read::get(entries, "tenants").and_then(|entry| count(&entry.value, "`tenants`", diag));
    check_expectations(node, entries, expect, alerts, tenants, diag);
    let directory = match read::get(entries, "directory") {
        Some(entry) => directory(&entry.value, diag),
        None => context.directory.clone(),
    };
    let defaults = match read::get(entries, "defaults") {
        Some(entry) => defaults(&entry.value, &context.defaults, diag),
        None => Some(context.defaults.clone()),
    };
    let events = read::required(node, entries, "events", "a case", diag)
        .and_then(|entry| events(&entry.value, &defaults.unwrap_or_default(), diag));
    if diag.count() > before {
        return None;
    }
    Some(FixtureCase {
        name: name?.to_string(),
        line: node.mark.line,
        expect: expect?,
        alerts,
        tenants,
        directory,
        events: events?,
    })
}

fn expect(node: &Node, diag: &mut Diagnostics) -> Option<Expect> {
    match read::text(node, "`expect`", diag)? {
        "alert" => Some(Expect::Alert),
        "no_alert" => Some(Expect::NoAlert),
        other => {
            diag.error(
                node.mark,
                format!("unknown expectation `{other}` (expected alert or no_alert)"),
            );
            None
        }
    }
}

/// A whole number of at least zero.
fn count(node: &Node, what: &str, diag: &mut Diagnostics) -> Option<u32> {
    let value = node.as_scalar().and_then(|scalar| scalar.text.parse::<u32>().ok());
    if value.is_none() {
        diag.error(node.mark, format!("{what} must be a whole number"));
    }
    value
}

/// Refuses counts that contradict `expect`.
fn check_expectations(
    node: &Node,
    entries: &[Entry],
    expect: Option<Expect>,
    alerts: Option<u32>,
    tenants: Option<u32>,
    diag: &mut Diagnostics,
) {
    let mark = |key: &str| read::get(entries, key).map_or(node.mark, |entry| entry.value.mark);
    match expect {
        Some(Expect::Alert) if alerts == Some(0) => {
            diag.error(mark("alerts"), "`alerts: 0` contradicts `expect: alert`");
        }
        Some(Expect::NoAlert) if alerts.is_some_and(|alerts| alerts > 0) => {
            diag.error(mark("alerts"), "`alerts` above 0 contradicts `expect: no_alert`");
        }
        Some(Expect::NoAlert) if tenants.is_some() => {
            diag.error(mark("tenants"), "`tenants` needs `expect: alert`");
        }
        _ => {}
    }
}

/// A directory mapping, kept as YAML text for the directory loader.
fn directory(node: &Node, diag: &mut Diagnostics) -> Option<String> {
    read::map(node, "`directory`", diag)?;
    match serde_yaml_ng::to_string(&node.to_json()) {
        Ok(text) => Some(text),
        Err(error) => {
            diag.error(node.mark, format!("cannot write the directory as yaml: {error}"));
            None
        }
    }
}

/// Default event keys, over `base`.
fn defaults(
    node: &Node,
    base: &Map<String, Value>,
    diag: &mut Diagnostics,
) -> Option<Map<String, Value>> {
    let entries = read::map(node, "`defaults`", diag)?;
    check_event_keys(entries, diag);
    if let Some(entry) = read::get(entries, "repeat") {
        diag.error(entry.key_mark, "`repeat` belongs on an event, not in `defaults`");
    }
    let mut merged = base.clone();
    for entry in entries {
        merged.insert(entry.key.clone(), event_value(entry, diag));
    }
    Some(merged)
}

fn check_event_keys(entries: &[Entry], diag: &mut Diagnostics) {
    read::check_keys(entries, &EVENT_KEYS, "an event", diag);
}

/// An event value; `bytes` may be written as a size such as `50GiB`.
fn event_value(entry: &Entry, diag: &mut Diagnostics) -> Value {
    let value = entry.value.to_json();
    if entry.key != "bytes" {
        return value;
    }
    let Value::String(text) = &value else { return value };
    match units::parse_bytes(text) {
        Ok(bytes) if bytes.fract() == 0.0 && bytes <= u64::MAX as f64 => Value::from(bytes as u64),
        Ok(_) => {
            diag.error(
                entry.value.mark,
                format!("`bytes` must be a whole number of bytes, found `{text}`"),
            );
            value
        }
        Err(reason) => {
            diag.error(entry.value.mark, format!("`bytes`: {reason}"));
            value
        }
    }
}

/// The case's events, defaults merged and repeats expanded.
fn events(
    node: &Node,
    defaults: &Map<String, Value>,
    diag: &mut Diagnostics,
) -> Option<Vec<Value>> {
    let items = read::seq(node, "`events`", diag)?;
    if items.is_empty() {
        diag.error(node.mark, "`events` is empty");
        return None;
    }
    let before = diag.count();
    let mut events = Vec::new();
    let mut ids: HashSet<String> = HashSet::new();
    for item in items {
        let Some(entries) = read::map(item, "an event", diag) else { continue };
        check_event_keys(entries, diag);
        let mut event = defaults.clone();
        for entry in entries.iter().filter(|entry| entry.key != "repeat") {
            event.insert(entry.key.clone(), event_value(entry, diag));
        }
        let expanded = match read::get(entries, "repeat") {
            Some(entry) => repeat(item, event, &entry.value, diag),
            None => Some(vec![event]),
        };
        for event in expanded.unwrap_or_default() {
            if events.len() >= MAX_CASE_EVENTS {
                diag.error(item.mark, format!("a case may hold at most {MAX_CASE_EVENTS} events"));
                return None;
            }
            if let Some(id) = event.get("event_id").and_then(Value::as_str) {
                if !ids.insert(id.to_string()) {
                    diag.error(item.mark, format!("duplicate event id `{id}` in this case"));
                }
            }
            events.push(Value::Object(event));
        }
    }
    if diag.count() > before {
        return None;
    }
    sort_by_time(&mut events);
    Some(events)
}

/// Puts events in event-time order (stable) when every event's time can be read; otherwise
/// leaves them in file order for the decoder to report the bad time.
fn sort_by_time(events: &mut [Value]) {
    let times: Option<Vec<i64>> = events
        .iter()
        .map(|event| event.get("time").and_then(EventTime::from_json).map(|time| time.millis()))
        .collect();
    let Some(times) = times else { return };
    let mut keyed: Vec<(i64, Value)> =
        times.into_iter().zip(events.iter_mut().map(std::mem::take)).collect();
    keyed.sort_by_key(|(time, _)| *time);
    for (slot, (_, event)) in events.iter_mut().zip(keyed) {
        *slot = event;
    }
}

/// Expands `repeat: {count, every}` into `count` copies spaced by `every`, with ids suffixed
/// `-0`, `-1`, ...
fn repeat(
    item: &Node,
    event: Map<String, Value>,
    node: &Node,
    diag: &mut Diagnostics,
) -> Option<Vec<Map<String, Value>>> {
    let entries = read::map(node, "`repeat`", diag)?;
    read::check_keys(entries, &["count", "every"], "`repeat`", diag);
    let count = read::required(node, entries, "count", "`repeat`", diag)
        .and_then(|entry| count(&entry.value, "`count`", diag))?;
    let every = read::required(node, entries, "every", "`repeat`", diag)
        .and_then(|entry| read::duration(&entry.value, "`every`", Zero::Refused, diag))?;
    if count == 0 || count as usize > MAX_CASE_EVENTS {
        diag.error(node.mark, format!("`count` must be between 1 and {MAX_CASE_EVENTS}"));
        return None;
    }
    let Some(start) = event.get("time").and_then(EventTime::from_json) else {
        diag.error(
            item.mark,
            "`repeat` needs a `time` in RFC 3339 (2026-11-02T10:00:00Z) or epoch milliseconds",
        );
        return None;
    };
    let mut copies = Vec::with_capacity(count as usize);
    for index in 0..i64::from(count) {
        let Some(time) = every.checked_mul(index).and_then(|offset| start.plus(offset)) else {
            diag.error(node.mark, "`repeat` runs past the representable time range");
            return None;
        };
        let mut copy = event.clone();
        copy.insert("time".to_string(), time);
        if let Some(id) = event.get("event_id") {
            let base = id.as_str().map_or_else(|| id.to_string(), str::to_string);
            copy.insert("event_id".to_string(), Value::String(format!("{base}-{index}")));
        }
        copies.push(copy);
    }
    Some(copies)
}

/// An event time as fixtures write it.
enum EventTime {
    Text(DateTime<Utc>),
    EpochMs(i64),
}

impl EventTime {
    fn from_json(value: &Value) -> Option<EventTime> {
        match value {
            Value::String(text) => {
                DateTime::parse_from_rfc3339(text).ok().map(|time| EventTime::Text(time.to_utc()))
            }
            Value::Number(number) => number.as_i64().map(EventTime::EpochMs),
            _ => None,
        }
    }

    /// Milliseconds since the epoch.
    fn millis(&self) -> i64 {
        match self {
            EventTime::Text(time) => time.timestamp_millis(),
            EventTime::EpochMs(ms) => *ms,
        }
    }

    /// The time `offset_ms` later, written like the original.
    fn plus(&self, offset_ms: i64) -> Option<Value> {
        match self {
            EventTime::Text(time) => {
                let later = time.checked_add_signed(TimeDelta::try_milliseconds(offset_ms)?)?;
                Some(Value::String(later.to_rfc3339_opts(SecondsFormat::AutoSi, true)))
            }
            EventTime::EpochMs(ms) => ms.checked_add(offset_ms).map(Value::from),
        }
    }
}

//! Fixture files: defaults, repeats, ordering, directories, errors and coverage checks.

use std::path::Path;

use mspwatch_rules::{
    check_coverage, check_fixtures, load_fixture_str, load_fixtures, load_str, Expect, FixtureFile,
    RuleError,
};
use serde_json::json;

fn fixture(text: &str) -> FixtureFile {
    load_fixture_str("tests/f.yaml", text).unwrap_or_else(|errors| panic!("{errors:#?}"))
}

fn fixture_errors(text: &str) -> Vec<RuleError> {
    match load_fixture_str("tests/f.yaml", text) {
        Ok(file) => panic!("expected errors, got {file:#?}"),
        Err(errors) => errors,
    }
}

#[track_caller]
fn assert_one_error(text: &str, line: u32, reason: &str) {
    let errors = fixture_errors(text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].line, line, "{errors:#?}");
    assert!(errors[0].reason.contains(reason), "{:?} lacks {reason:?}", errors[0].reason);
}

const ONE_CASE: &str = "\
rule: some-rule
cases:
  - name: one event
    expect: alert
    events:
      - {event_id: e1, time: \"2026-11-02T10:00:00Z\", tenant_id: t1}
";

#[test]
fn case_fields_are_read() {
    let file = fixture(
        "rule: some-rule\ncases:\n  - name: five tenants\n    expect: alert\n    alerts: 1\n    \
         tenants: 5\n    events: [{event_id: e1}]\n  - name: quiet\n    expect: no_alert\n    \
         events: [{event_id: e2}]\n",
    );
    assert_eq!(file.rule, "some-rule");
    assert_eq!(file.line, 1);
    assert_eq!(file.file, Path::new("tests/f.yaml"));
    let [first, second] = &file.cases[..] else { panic!() };
    assert_eq!((first.name.as_str(), first.line, first.expect), ("five tenants", 3, Expect::Alert));
    assert_eq!((first.alerts, first.tenants, first.directory.as_deref()), (Some(1), Some(5), None));
    assert_eq!((second.expect, second.alerts, second.line), (Expect::NoAlert, None, 8));
}

#[test]
fn defaults_merge_shallowly_with_event_keys_winning() {
    let file = fixture(
        "rule: r\ndefaults: {msp_id: msp-a, outcome: success, actor: {id: cred-1, type: user}}\n\
         cases:\n  - name: c\n    expect: alert\n    \
         defaults: {action: backup.delete, actor: {id: cred-2, type: api_key}}\n    events:\n      \
         - {event_id: e1, outcome: failure}\n      - {event_id: e2, actor: {id: cred-3}}\n",
    );
    let events = &file.cases[0].events;
    assert_eq!(
        events[0],
        json!({"event_id": "e1", "msp_id": "msp-a", "outcome": "failure",
               "action": "backup.delete", "actor": {"id": "cred-2", "type": "api_key"}})
    );
    assert_eq!(events[1]["actor"], json!({"id": "cred-3"}), "objects are replaced, not merged");
    assert_eq!(events[1]["outcome"], "success");
}

#[test]
fn repeat_expands_with_spaced_times_and_suffixed_ids() {
    let file = fixture(
        "rule: r\ncases:\n  - name: c\n    expect: alert\n    events:\n      \
         - {event_id: d, time: \"2026-11-02T23:30:00Z\", tenant_id: t1,\n         \
         repeat: {count: 3, every: 1h30m}}\n",
    );
    let events = &file.cases[0].events;
    assert_eq!(events.len(), 3);
    let ids: Vec<_> = events.iter().map(|event| event["event_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["d-0", "d-1", "d-2"]);
    let times: Vec<_> = events.iter().map(|event| event["time"].as_str().unwrap()).collect();
    assert_eq!(times, ["2026-11-02T23:30:00Z", "2026-11-03T01:00:00Z", "2026-11-03T02:30:00Z"]);
    assert!(events.iter().all(|event| event.get("repeat").is_none() && event["tenant_id"] == "t1"));
}

#[test]
fn repeat_keeps_epoch_millisecond_times_as_numbers() {
    let file = fixture(
        "rule: r\ncases:\n  - name: c\n    expect: alert\n    events:\n      \
         - {event_id: d, time: 1793613600000, repeat: {count: 2, every: 90s}}\n",
    );
    let times: Vec<_> = file.cases[0].events.iter().map(|event| event["time"].clone()).collect();
    assert_eq!(times, [json!(1_793_613_600_000_i64), json!(1_793_613_690_000_i64)]);
}

#[test]
fn events_are_sorted_by_time_across_repeats() {
    let file = fixture(
        "rule: r\ncases:\n  - name: c\n    expect: alert\n    events:\n      \
         - {event_id: a, time: \"2026-11-02T10:00:00Z\", repeat: {count: 3, every: 1h}}\n      \
         - {event_id: b, time: \"2026-11-02T10:30:00Z\", repeat: {count: 2, every: 1h}}\n      \
         - {event_id: c, time: \"2026-11-02T11:15:00+01:00\"}\n",
    );
    let ids: Vec<_> =
        file.cases[0].events.iter().map(|event| event["event_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a-0", "c", "b-0", "a-1", "b-1", "a-2"]);
}

#[test]
fn byte_sizes_in_events_become_numbers() {
    let file = fixture(
        "rule: r\ncases:\n  - name: c\n    expect: alert\n    defaults: {bytes: 1KiB}\n    \
         events:\n      \
         - {event_id: a, bytes: 50GiB}\n      - {event_id: b}\n      - {event_id: c, bytes: 12}\n",
    );
    let bytes: Vec<_> = file.cases[0].events.iter().map(|event| event["bytes"].clone()).collect();
    assert_eq!(bytes, [json!(53_687_091_200_u64), json!(1024), json!(12)]);
}

#[test]
fn directory_is_kept_as_yaml_text() {
    let file = fixture(
        "rule: r\ndirectory:\n  msps:\n    - {id: msp-a, tier: high, tenants: [t1, \"123\"]}\n\
         cases:\n  \
         - name: file directory\n    expect: alert\n    events: [{event_id: a}]\n  \
         - name: own directory\n    expect: no_alert\n    directory: {msps: []}\n    \
         events: [{event_id: b}]\n",
    );
    let text = file.cases[0].directory.as_deref().unwrap();
    let parsed: serde_json::Value = serde_yaml_ng::from_str(text).unwrap();
    assert_eq!(
        parsed,
        json!({"msps": [{"id": "msp-a", "tier": "high", "tenants": ["t1", "123"]}]})
    );
    let own: serde_json::Value =
        serde_yaml_ng::from_str(file.cases[1].directory.as_deref().unwrap()).unwrap();
    assert_eq!(own, json!({"msps": []}));
}

#[test]
fn unknown_keys_are_reported_at_their_line() {
    assert_one_error(&format!("{ONE_CASE}    alert: 1\n"), 7, "unknown key `alert` in a case");
    assert_one_error(
        &ONE_CASE.replace("tenant_id: t1", "tenant: t1"),
        6,
        "unknown key `tenant` in an event",
    );
    assert_one_error(&format!("rules: x\n{ONE_CASE}"), 1, "unknown key `rules` in a fixture file");
}

#[test]
fn bad_expectations_are_reported() {
    assert_one_error(
        &ONE_CASE.replace("expect: alert", "expect: alerts"),
        4,
        "unknown expectation `alerts`",
    );
    assert_one_error(
        &format!("{ONE_CASE}    alerts: 0\n"),
        7,
        "`alerts: 0` contradicts `expect: alert`",
    );
    let quiet = ONE_CASE.replace("expect: alert", "expect: no_alert");
    assert_one_error(&format!("{quiet}    alerts: 2\n"), 7, "contradicts `expect: no_alert`");
    assert_one_error(&format!("{quiet}    tenants: 2\n"), 7, "`tenants` needs `expect: alert`");
    assert_one_error(&format!("{ONE_CASE}    alerts: -1\n"), 7, "`alerts` must be a whole number");
}

#[test]
fn bad_repeats_are_reported() {
    let repeat = |spec: &str| {
        ONE_CASE.replace("tenant_id: t1}", &format!("tenant_id: t1, repeat: {spec}}}"))
    };
    assert_one_error(&repeat("{count: 0, every: 1m}"), 6, "`count` must be between 1 and");
    assert_one_error(&repeat("{count: 2}"), 6, "missing required key `every` in `repeat`");
    assert_one_error(&repeat("{count: 2, every: soon}"), 6, "invalid duration `soon`");
    assert_one_error(&repeat("{count: 2, every: 1m, jitter: 1s}"), 6, "unknown key `jitter`");
    let no_time = ONE_CASE.replace("time: \"2026-11-02T10:00:00Z\", ", "");
    let no_time =
        no_time.replace("tenant_id: t1}", "tenant_id: t1, repeat: {count: 2, every: 1m}}");
    assert_one_error(&no_time, 6, "`repeat` needs a `time`");
    let too_many = repeat("{count: 200000, every: 1s}");
    assert_one_error(&too_many, 6, "`count` must be between 1 and 100000");
}

#[test]
fn duplicate_names_and_ids_are_reported() {
    let twice = format!("{ONE_CASE}      - {{event_id: e1, time: \"2026-11-02T10:01:00Z\"}}\n");
    assert_one_error(&twice, 7, "duplicate event id `e1`");
    let case_again = ONE_CASE.trim_start_matches("rule: some-rule\ncases:\n");
    let two_cases = format!("{ONE_CASE}{case_again}");
    assert_one_error(&two_cases, 7, "duplicate case name `one event`");
}

#[test]
fn missing_and_empty_parts_are_reported() {
    assert_one_error("rule: r\ncases: []\n", 2, "`cases` is empty");
    assert_one_error(
        "cases:\n  - {name: a, expect: alert, events: [{}]}\n",
        1,
        "missing required key `rule`",
    );
    assert_one_error(
        "rule: r\ncases:\n  - {name: a, expect: alert, events: []}\n",
        3,
        "`events` is empty",
    );
    assert_one_error(
        "rule: r\ncases:\n  - {name: a, expect: alert, events: [x]}\n",
        3,
        "an event must be a mapping",
    );
    assert_one_error(
        "rule: r\ncases:\n  - {name: a, expect: alert}\n",
        3,
        "missing required key `events`",
    );
    assert_one_error("", 1, "empty fixture file");
    assert_one_error(
        "rule: r\ndefaults: {repeat: {count: 2, every: 1m}}\ncases:\n  \
         - {name: a, expect: alert, events: [{}]}\n",
        2,
        "`repeat` belongs on an event",
    );
}

#[test]
fn fixtures_must_name_existing_rules() {
    let rules = load_str(
        "rules.yaml",
        "rules:\n  - {id: known, title: t, severity: low, kind: match, summary: s}\n",
    )
    .unwrap();
    let known = fixture(&ONE_CASE.replace("some-rule", "known"));
    let unknown = fixture(&format!("# comment\n{ONE_CASE}"));
    let errors = check_fixtures(&rules, &[known, unknown]);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].line, 2);
    assert!(errors[0].reason.contains("unknown rule `some-rule` (known rules: known)"));
}

#[test]
fn every_rule_needs_a_positive_and_a_negative_case() {
    let rules = load_str(
        "rules.yaml",
        "rules:\n  - {id: covered, title: t, severity: low, kind: match, summary: s}\n  \
         - {id: half, title: t, severity: low, kind: match, summary: s}\n  \
         - {id: bare, title: t, severity: low, kind: match, summary: s}\n",
    )
    .unwrap();
    let both = "rule: covered\ncases:\n  - {name: a, expect: alert, events: [{}]}\n  \
                - {name: b, expect: no_alert, events: [{}]}\n";
    let half = "rule: half\ncases:\n  - {name: a, expect: alert, events: [{}]}\n";
    let errors = check_coverage(&rules, &[fixture(both), fixture(half)]);
    let reasons: Vec<(u32, &str)> =
        errors.iter().map(|error| (error.line, error.reason.as_str())).collect();
    assert_eq!(
        reasons,
        [
            (3, "rule `half` has no fixture case expecting no alert"),
            (4, "rule `bare` has no fixture case expecting an alert"),
            (4, "rule `bare` has no fixture case expecting no alert"),
        ]
    );
}

#[test]
fn load_fixtures_reads_the_tests_folder_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    assert!(load_fixtures(dir.path()).unwrap().is_empty(), "no tests folder, no fixtures");
    std::fs::create_dir(dir.path().join("tests")).unwrap();
    std::fs::write(dir.path().join("tests/b.yaml"), ONE_CASE.replace("some-rule", "b")).unwrap();
    std::fs::write(dir.path().join("tests/a.yml"), ONE_CASE.replace("some-rule", "a")).unwrap();
    std::fs::write(dir.path().join("tests/readme.md"), "# not a fixture").unwrap();
    let fixtures = load_fixtures(dir.path()).unwrap();
    let rules: Vec<_> = fixtures.iter().map(|fixture| fixture.rule.as_str()).collect();
    assert_eq!(rules, ["a", "b"]);

    std::fs::write(dir.path().join("tests/c.yaml"), "rule: c\ncases: [\n").unwrap();
    std::fs::write(dir.path().join("tests/d.yaml"), "rule: d\n").unwrap();
    let errors = load_fixtures(dir.path()).unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[0].file.ends_with("tests/c.yaml") && errors[1].file.ends_with("tests/d.yaml"));
}

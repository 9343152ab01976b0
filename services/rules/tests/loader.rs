//! Loading rule files: defaults, and every error kind reported at the right line.

use std::path::Path;

use mspwatch_rules::{
    load, load_sources, load_str, Aggregate, BaselineMeasure, BaselineSubject, Field, RuleError,
    RuleKind, Test,
};

/// A valid match rule, used as the base that tests change line by line.
const BASE: &str = "\
rules:
  - id: base-rule
    title: Base rule
    severity: high
    kind: match
    where:
      class: delete
    summary: \"{actor} deleted\"
";

fn errors(text: &str) -> Vec<RuleError> {
    match load_str("rules.yaml", text) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(errors) => errors,
    }
}

/// Asserts exactly one error, at `line`, whose reason contains `reason`.
#[track_caller]
fn assert_one_error(text: &str, line: u32, reason: &str) {
    let errors = errors(text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].line, line, "{errors:#?}");
    assert!(errors[0].reason.contains(reason), "{:?} lacks {reason:?}", errors[0].reason);
    assert!(!errors[0].reason.ends_with('.'));
}

fn with_rule(extra: &str) -> String {
    format!(
        "rules:\n  - id: r1\n    title: Rule\n    severity: high\n    \
         summary: \"{{actor}}\"\n{extra}"
    )
}

#[test]
fn base_rule_loads_with_defaults() {
    let rules = load_str("rules.yaml", BASE).unwrap();
    let rule = &rules.rules[0];
    assert_eq!(rule.id, "base-rule");
    assert_eq!(rule.group_by, [Field::MspId, Field::ActorId]);
    assert_eq!(rule.incident_gap_ms, 3_600_000);
    assert!(rule.enabled);
    assert!(rule.mitre.is_empty());
    assert_eq!(rule.source.line, 2);
    assert_eq!(rule.source.file, Path::new("rules.yaml"));
    assert!(matches!(rule.kind, RuleKind::Match));
}

#[test]
fn empty_file_and_empty_sections_load_no_rules() {
    assert!(load_str("a.yaml", "").unwrap().rules.is_empty());
    assert!(load_str("a.yaml", "# nothing yet\n").unwrap().rules.is_empty());
    assert!(load_str("a.yaml", "rules:\nlists:\n").unwrap().rules.is_empty());
}

#[test]
fn incident_gap_defaults_to_the_window_and_can_be_set() {
    let threshold = with_rule("    kind: threshold\n    window: 10m\n    at_least: 2\n");
    let rules = load_str("r.yaml", &threshold).unwrap();
    assert_eq!(rules.rules[0].incident_gap_ms, 600_000);
    assert!(matches!(rules.rules[0].kind, RuleKind::Threshold { aggregate: Aggregate::Count, .. }));

    let sequence = with_rule(
        "    kind: sequence\n    within: 2h\n    steps:\n      \
         - {name: a, where: {class: weaken}}\n      \
         - {name: b, where: {class: delete}}\n",
    );
    assert_eq!(load_str("r.yaml", &sequence).unwrap().rules[0].incident_gap_ms, 7_200_000);

    let set = with_rule("    kind: match\n    incident_gap: 1h30m\n    enabled: false\n");
    let rule = &load_str("r.yaml", &set).unwrap().rules[0];
    assert_eq!(rule.incident_gap_ms, 5_400_000);
    assert!(!rule.enabled, "disabled rules are loaded and flagged");
}

#[test]
fn baseline_and_first_seen_defaults() {
    let baseline = with_rule(
        "    kind: baseline\n    subject: tenant\n    class: export\n    measure: objects\n    \
         ratio: 5\n",
    );
    let rule = &load_str("r.yaml", &baseline).unwrap().rules[0];
    let RuleKind::Baseline(check) = &rule.kind else { panic!() };
    assert_eq!(check.subject, BaselineSubject::Tenant);
    assert_eq!(check.measure, BaselineMeasure::Objects);
    assert_eq!((check.zscore, check.ratio, check.floor), (None, Some(5.0), 0.0));
    assert_eq!(check.min_history_hours, 24);
    assert!(!check.peers);

    let first_seen = with_rule("    kind: first_seen\n    key: [actor.id, source_ip]\n");
    let rule = &load_str("r.yaml", &first_seen).unwrap().rules[0];
    let RuleKind::FirstSeen { key, horizon_ms, warmup_ms, .. } = &rule.kind else { panic!() };
    assert_eq!(key, &[Field::ActorId, Field::SourceIp]);
    assert_eq!((*horizon_ms, *warmup_ms), (30 * 86_400_000, 86_400_000));
}

#[test]
fn byte_sizes_are_accepted_for_floors_and_thresholds() {
    let text = with_rule(
        "    kind: threshold\n    window: 1h\n    aggregate: {sum: bytes}\n    at_least: 1.5TB\n",
    );
    let rule = &load_str("r.yaml", &text).unwrap().rules[0];
    assert!(matches!(rule.kind, RuleKind::Threshold { at_least, .. } if at_least == 1.5e12));
}

#[test]
fn lists_are_shared_across_files() {
    let lists = "lists:\n  robots: [svc-a, svc-b]\n";
    let rules = "rules:\n  - id: r\n    title: t\n    severity: low\n    kind: match\n    \
                 summary: s\n    where:\n      actor.id: {in_list: robots}\n";
    let set = load_sources([(Path::new("b.yaml"), rules), (Path::new("a.yaml"), lists)]).unwrap();
    assert_eq!(set.lists["robots"], ["svc-a", "svc-b"]);
    let Test::OneOf(values) = &set.rules[0].filter.all[0].test else { panic!() };
    assert_eq!(values, &["svc-a", "svc-b"]);
}

#[test]
fn yaml_syntax_error_reports_its_line() {
    let errors = errors("rules:\n  - id: x\n    title: [unclosed\n    kind: match\n");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].reason.starts_with("invalid yaml"), "{}", errors[0].reason);
    assert!(errors[0].line >= 3, "{errors:?}");
}

#[test]
fn error_displays_as_file_line_column_reason() {
    let text = BASE.replace("severity: high", "severity: severe");
    let errors = errors(&text);
    assert_eq!(
        errors[0].to_string(),
        "rules.yaml:4:15: unknown severity `severe` (expected low, medium, high or critical)"
    );
}

#[test]
fn unknown_top_level_key_is_reported() {
    assert_one_error(&format!("{BASE}rulez: []\n"), 9, "unknown key `rulez` in a rule file");
}

#[test]
fn unknown_rule_key_is_reported_with_the_valid_keys() {
    let text = BASE.replace("    kind: match\n", "    kind: match\n    windw: 5m\n");
    assert_one_error(&text, 6, "unknown key `windw` in a rule (expected one of: id, title");
}

#[test]
fn key_of_another_kind_is_reported() {
    let text = BASE.replace("    kind: match\n", "    kind: match\n    window: 5m\n");
    assert_one_error(&text, 6, "key `window` does not apply to kind `match`");
}

#[test]
fn unknown_step_key_is_reported() {
    let text = with_rule(
        "    kind: sequence\n    within: 1h\n    steps:\n      - name: a\n        \
         wher: {class: weaken}\n      \
         - {name: b}\n",
    );
    assert_one_error(&text, 10, "unknown key `wher` in a step");
}

#[test]
fn unknown_field_in_conditions_lists_the_valid_fields() {
    let text = BASE.replace("      class: delete\n", "      class: delete\n      actor_id: x\n");
    assert_one_error(&text, 8, "unknown field `actor_id` (valid fields: event_id, msp_id");
}

#[test]
fn unknown_field_in_except_is_reported() {
    let text = format!("{BASE}    except:\n      - tenant: t1\n");
    assert_one_error(&text, 10, "unknown field `tenant`");
}

#[test]
fn unknown_field_in_group_by_aggregate_and_key_is_reported() {
    assert_one_error(&format!("{BASE}    group_by: [msp_id, actor]\n"), 9, "unknown field `actor`");
    let threshold = with_rule(
        "    kind: threshold\n    window: 1h\n    at_least: 2\n    aggregate: {distinct: tenant}\n",
    );
    assert_one_error(&threshold, 9, "unknown field `tenant`");
    let first_seen =
        with_rule("    kind: first_seen\n    key:\n      - actor.id\n      - tenants\n");
    assert_one_error(&first_seen, 9, "unknown field `tenants`");
}

#[test]
fn sum_of_a_text_field_is_refused() {
    let text = with_rule(
        "    kind: threshold\n    window: 1h\n    at_least: 2\n    aggregate: {sum: actor.id}\n",
    );
    assert_one_error(&text, 9, "`sum` needs a numeric field");
}

#[test]
fn bad_regex_is_reported_at_its_line() {
    let text = BASE.replace(
        "      class: delete\n",
        "      class: delete\n      action: {regex: 'backup.(delete'}\n",
    );
    assert_one_error(&text, 8, "invalid regex `backup.(delete`: unclosed group");
}

#[test]
fn bad_durations_are_reported_at_their_line() {
    let no_unit = with_rule("    kind: threshold\n    window: 30\n    at_least: 3\n");
    assert_one_error(&no_unit, 7, "`window`: invalid duration `30`: missing unit");
    let bad_unit = with_rule("    kind: threshold\n    at_least: 3\n    window: 3y\n");
    assert_one_error(&bad_unit, 8, "unknown unit `y`");
    let zero = with_rule("    kind: match\n    incident_gap: 0s\n");
    assert_one_error(&zero, 7, "`incident_gap` must be longer than 0");
    let partial_hours = with_rule(
        "    kind: baseline\n    subject: credential\n    class: export\n    measure: bytes\n    \
         zscore: 3\n    min_history: 90m\n",
    );
    assert_one_error(&partial_hours, 11, "`min_history` must be whole hours");
}

#[test]
fn missing_required_keys_are_reported_at_the_rule() {
    let text = BASE.replace("    title: Base rule\n", "");
    assert_one_error(&text, 2, "missing required key `title` in a rule");
    let threshold = with_rule("    kind: threshold\n    window: 10m\n");
    assert_one_error(&threshold, 2, "missing required key `at_least` in a threshold rule");
    let sequence = with_rule("    kind: sequence\n    within: 10m\n");
    assert_one_error(&sequence, 2, "missing required key `steps` in a sequence rule");
    let first_seen = with_rule("    kind: first_seen\n");
    assert_one_error(&first_seen, 2, "missing required key `key` in a first_seen rule");
    let baseline = with_rule(
        "    kind: baseline\n    subject: credential\n    measure: bytes\n    zscore: 3\n",
    );
    assert_one_error(&baseline, 2, "missing required key `class` in a baseline rule");
}

#[test]
fn baseline_needs_zscore_or_ratio() {
    let text = with_rule(
        "    kind: baseline\n    subject: credential\n    class: export\n    measure: bytes\n",
    );
    assert_one_error(&text, 2, "needs `zscore`, `ratio` or both");
}

#[test]
fn baseline_combinations_that_make_no_sense_are_refused() {
    let class_with_fanout = with_rule(
        "    kind: baseline\n    subject: credential\n    measure: distinct_tenants\n    \
         class: read\n    \
         zscore: 3\n",
    );
    assert_one_error(&class_with_fanout, 9, "`class` does not apply to measure `distinct_tenants`");
    let peers_of_tenant = with_rule(
        "    kind: baseline\n    subject: tenant\n    measure: count\n    class: delete\n    \
         zscore: 3\n    \
         peers: true\n",
    );
    assert_one_error(&peers_of_tenant, 11, "`peers` applies to subject credential only");
    let bad_class = with_rule(
        "    kind: baseline\n    subject: msp\n    measure: count\n    class: deletes\n    \
         zscore: 3\n",
    );
    assert_one_error(&bad_class, 9, "`deletes` is not an action class");
}

#[test]
fn duplicate_ids_in_one_file_are_reported_at_both_rules() {
    let text = format!("{BASE}{}", BASE.trim_start_matches("rules:\n"));
    let errors = errors(&text);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert_eq!((errors[0].line, errors[1].line), (2, 9));
    assert!(errors[0]
        .reason
        .contains("duplicate rule id `base-rule` (also defined at rules.yaml:9:"));
    assert!(errors[1]
        .reason
        .contains("duplicate rule id `base-rule` (first defined at rules.yaml:2:"));
}

#[test]
fn duplicate_ids_across_files_are_reported_in_both_files() {
    let other = format!("# another file\n{BASE}");
    let errors = load_sources([(Path::new("a.yaml"), BASE), (Path::new("b.yaml"), other.as_str())])
        .unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert_eq!((errors[0].file.as_path(), errors[0].line), (Path::new("a.yaml"), 2));
    assert_eq!((errors[1].file.as_path(), errors[1].line), (Path::new("b.yaml"), 3));
    assert!(errors[0].reason.contains("also defined at b.yaml:3:9"), "{}", errors[0].reason);
    assert!(errors[1].reason.contains("first defined at a.yaml:2:9"), "{}", errors[1].reason);
}

#[test]
fn duplicate_lists_across_files_are_reported_in_both_files() {
    let errors = load_sources([
        (Path::new("a.yaml"), "lists:\n  robots: [a]\n"),
        (Path::new("b.yaml"), "lists:\n  other: []\n  robots: [b]\n"),
    ])
    .unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert_eq!((errors[0].line, errors[1].line), (2, 3));
    assert!(errors[0].reason.contains("duplicate list `robots`"));
}

#[test]
fn unknown_list_reference_is_reported_at_the_reference() {
    let text = format!(
        "lists:\n  robots: [a]\n{}",
        BASE.replace(
            "      class: delete\n",
            "      class: delete\n      actor.id: {in_list: robtos}\n"
        )
    );
    assert_one_error(&text, 10, "unknown list `robtos` (known lists: robots)");
}

#[test]
fn list_values_are_checked_against_the_field() {
    let text = format!(
        "lists:\n  destructive: [delete, wipe]\n{}",
        BASE.replace("      class: delete\n", "      class: {in_list: destructive}\n")
    );
    assert_one_error(&text, 9, "list `destructive`: `wipe` is not an action class");
}

#[test]
fn unknown_template_placeholder_is_reported_at_the_summary() {
    let text = BASE.replace("{actor} deleted", "{actor} deleted in {tenant}");
    assert_one_error(&text, 8, "unknown placeholder `{tenant}` in summary (known: actor, actor_id");
    let unbalanced = BASE.replace("{actor} deleted", "{actor deleted");
    assert_one_error(&unbalanced, 8, "unclosed `{`");
}

#[test]
fn unknown_severity_and_kind_are_reported() {
    assert_one_error(
        &BASE.replace("severity: high", "severity: urgent"),
        4,
        "unknown severity `urgent`",
    );
    assert_one_error(&BASE.replace("kind: match", "kind: matches"), 5, "unknown kind `matches`");
}

#[test]
fn empty_or_single_step_sequences_are_refused() {
    let empty = with_rule("    kind: sequence\n    within: 1h\n    steps: []\n");
    assert_one_error(&empty, 8, "`steps` is empty: a sequence needs at least two steps");
    let single = with_rule("    kind: sequence\n    within: 1h\n    steps:\n      - {name: a}\n");
    assert_one_error(&single, 9, "`steps` is a single step");
    let duplicate = with_rule(
        "    kind: sequence\n    within: 1h\n    steps:\n      - {name: a}\n      - {name: a}\n",
    );
    assert_one_error(&duplicate, 10, "duplicate step name `a`");
}

#[test]
fn thresholds_at_or_below_zero_are_refused() {
    for (value, reason) in [
        ("0", "must be greater than 0"),
        ("-2", "must be greater than 0"),
        ("0GiB", "greater than 0"),
    ] {
        let text =
            with_rule(&format!("    kind: threshold\n    window: 1h\n    at_least: {value}\n"));
        assert_one_error(&text, 8, reason);
    }
    let zscore = with_rule(
        "    kind: baseline\n    subject: credential\n    class: export\n    measure: bytes\n    \
         zscore: 0\n",
    );
    assert_one_error(&zscore, 10, "`zscore` must be greater than 0");
}

#[test]
fn malformed_mitre_ids_are_refused() {
    for bad in ["T149", "T14900", "T1490.1", "t1490", "T1490.0011"] {
        let text = BASE
            .replace("    kind: match\n", &format!("    kind: match\n    mitre: [T1485, {bad}]\n"));
        assert_one_error(&text, 6, &format!("invalid mitre technique id `{bad}`"));
    }
    let ok = BASE.replace("    kind: match\n", "    kind: match\n    mitre: [T1485, T1490.001]\n");
    assert_eq!(load_str("r.yaml", &ok).unwrap().rules[0].mitre, ["T1485", "T1490.001"]);
}

#[test]
fn invalid_values_of_enumerated_fields_are_refused() {
    assert_one_error(
        &BASE.replace("class: delete", "class: deletion"),
        7,
        "`deletion` is not an action class",
    );
    assert_one_error(
        &BASE.replace("class: delete", "class: [delete, wipe]"),
        7,
        "`wipe` is not an action class",
    );
    assert_one_error(
        &BASE.replace("class: delete", "outcome: failed"),
        7,
        "`failed` is not a valid value for `outcome`",
    );
    assert_one_error(&BASE.replace("class: delete", "actor.type: robot"), 7, "for `actor.type`");
    assert_one_error(
        &BASE.replace("class: delete", "object_count: many"),
        7,
        "`object_count` is a number",
    );
}

#[test]
fn bad_operators_are_reported() {
    assert_one_error(
        &BASE.replace("class: delete", "class: {is: delete}"),
        7,
        "unknown operator `is`",
    );
    assert_one_error(
        &BASE.replace("class: delete", "actor.id: {gt: 5}"),
        7,
        "`gt` applies to numeric fields only",
    );
    assert_one_error(
        &BASE.replace("class: delete", "error: {exists: maybe}"),
        7,
        "`exists` must be true or false",
    );
    assert_one_error(&BASE.replace("class: delete", "error:"), 7, "use `{exists: false}`");
    assert_one_error(&BASE.replace("class: delete", "error: {}"), 7, "no operator for `error`");
    assert_one_error(
        &BASE.replace("class: delete", "bytes: {gte: lots}"),
        7,
        "`gte`: invalid size `lots`",
    );
}

#[test]
fn empty_exception_is_refused() {
    assert_one_error(
        &format!("{BASE}    except:\n      - {{}}\n"),
        10,
        "empty exception would exclude every event",
    );
    assert_one_error(
        &format!("{BASE}    except:\n      actor.id: x\n"),
        10,
        "`except` must be a list",
    );
}

#[test]
fn invalid_ids_are_refused() {
    assert_one_error(
        &BASE.replace("id: base-rule", "id: Base_Rule"),
        2,
        "invalid rule id `Base_Rule`",
    );
    assert_one_error(
        &BASE.replace("id: base-rule", "id: [a]"),
        2,
        "`id` must be text, found a list",
    );
}

#[test]
fn wrong_shapes_are_reported() {
    assert_one_error("rules:\n  - just text\n", 2, "a rule must be a mapping, found a scalar");
    assert_one_error("rules: {id: x}\n", 1, "`rules` must be a list, found a mapping");
    assert_one_error("- a\n- b\n", 1, "a rule file must be a mapping, found a list");
    assert_one_error("lists:\n  robots: text\n", 2, "a list must be a list, found a scalar");
    assert_one_error(
        &BASE.replace("title: Base rule", "title: \"\""),
        3,
        "`title` must not be empty",
    );
}

#[test]
fn duplicate_keys_and_aliases_are_refused() {
    let duplicate = BASE.replace("    kind: match\n", "    kind: match\n    severity: low\n");
    assert_one_error(&duplicate, 6, "duplicate key `severity`");
    let alias = "lists:\n  a: &x [1]\n  b: *x\n";
    assert_one_error(alias, 3, "aliases (`*name`) are not supported");
}

#[test]
fn every_error_of_every_rule_and_file_is_reported() {
    let bad = "rules:
  - id: one
    title: One
    severity: severe
    kind: match
    summary: \"{nope}\"
  - id: two
    title: Two
    severity: low
    kind: threshold
    window: 5x
    at_least: 0
    summary: ok
";
    let errors = load_sources([(Path::new("a.yaml"), bad), (Path::new("b.yaml"), "rules: [\n")])
        .unwrap_err();
    let places: Vec<(&str, u32)> =
        errors.iter().map(|error| (error.file.to_str().unwrap(), error.line)).collect();
    assert_eq!(
        places,
        [("a.yaml", 4), ("a.yaml", 6), ("a.yaml", 11), ("a.yaml", 12), ("b.yaml", 2)]
    );
}

#[test]
fn columns_point_at_the_offending_text() {
    let text = BASE.replace(
        "      class: delete\n",
        "      class: delete\n      action: {prefix: x, regex: '('}\n",
    );
    let errors = errors(&text);
    assert_eq!((errors[0].line, errors[0].column), (8, 34), "{errors:?}");
}

#[test]
fn load_reads_yaml_files_of_the_directory_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("b.yml"), BASE.replace("base-rule", "rule-b")).unwrap();
    std::fs::write(dir.path().join("a.yaml"), BASE.replace("base-rule", "rule-a")).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not: [yaml").unwrap();
    std::fs::create_dir(dir.path().join("tests")).unwrap();
    std::fs::write(dir.path().join("tests/fixture.yaml"), "rule: rule-a\ncases: []\n").unwrap();
    let rules = load(dir.path()).unwrap();
    let ids: Vec<_> = rules.rules.iter().map(|rule| rule.id.as_str()).collect();
    assert_eq!(ids, ["rule-a", "rule-b"]);
    assert_eq!(rules.rules[1].source.file, dir.path().join("b.yml"));
}

#[test]
fn load_reports_files_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.yaml"), [0xff, 0xfe, b'a']).unwrap();
    let errors = load(dir.path()).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!((errors[0].line, errors[0].column), (0, 0));
    assert!(errors[0].reason.contains("not valid utf-8"));

    let missing = load(&dir.path().join("missing")).unwrap_err();
    assert!(missing[0].reason.starts_with("cannot read directory"), "{}", missing[0].reason);
}

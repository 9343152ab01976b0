//! Conditions compiled from YAML, evaluated against events: every operator, multi-valued
//! fields, lists, exceptions and class masks.

use mspwatch_event::{
    ActionClass, Actor, ActorType, Event, Outcome, Resource, SourceFormat, SupplierTier,
};
use mspwatch_rules::{class_bit, load_str, Filter, RuleKind, Test, ALL_CLASSES};

fn event() -> Event {
    Event {
        event_id: "ev-1".to_string(),
        time_ms: 1_793_613_600_000,
        msp_id: Some("msp-northwind".to_string()),
        tenant_ids: vec!["tn-acme".to_string(), "tn-globex".to_string()],
        actor: Actor {
            id: "cred-api-3".to_string(),
            kind: ActorType::ApiKey,
            name: Some("deploy key".to_string()),
        },
        action: "backup.delete".to_string(),
        class: ActionClass::Delete,
        resource: Some(Resource { kind: "recovery_point".to_string(), id: "rp-9921".to_string() }),
        outcome: Outcome::Success,
        error: None,
        object_count: Some(40),
        bytes: Some(5_368_709_120),
        source_ip: Some("203.0.113.77".to_string()),
        user_agent: None,
        product: Some("backup".to_string()),
        via_role: None,
        target_accounts: Vec::new(),
        format: SourceFormat::Canonical,
        supplier_tier: Some(SupplierTier::High),
        target_external: false,
    }
}

/// The filter of a match rule with this `where` block (indented YAML) and optional extras.
fn filter_with(where_block: &str, extra: &str) -> Filter {
    let text = format!(
        "lists:\n  robots: [cred-robot, cred-api-3]\n  tiers: [critical]\nrules:\n  - id: r\n    \
         title: t\n    severity: low\n    kind: match\n    summary: s\n    where:\n{where_block}\
         {extra}"
    );
    match load_str("test.yaml", &text) {
        Ok(mut rules) => rules.rules.remove(0).filter,
        Err(errors) => panic!("{text}\n{errors:?}"),
    }
}

fn filter(where_block: &str) -> Filter {
    filter_with(where_block, "")
}

fn passes(where_block: &str) -> bool {
    filter(where_block).matches(&event())
}

#[test]
fn scalar_condition_tests_equality() {
    assert!(passes("      class: delete\n"));
    assert!(!passes("      class: export\n"));
    assert!(passes("      actor.id: cred-api-3\n"));
    assert!(passes("      actor.type: api_key\n"));
    assert!(passes("      resource.type: recovery_point\n"));
    assert!(passes("      supplier_tier: high\n"));
    assert!(passes("      format: canonical\n"));
}

#[test]
fn numbers_and_flags_compare_by_their_text_form() {
    assert!(passes("      object_count: 40\n"));
    assert!(passes("      object_count: 40.0\n"));
    assert!(!passes("      object_count: 41\n"));
    assert!(passes("      target_external: false\n"));
    assert!(!passes("      target_external: true\n"));
    assert!(passes("      object_count: {one_of: [1, 40]}\n"));
}

#[test]
fn sequence_condition_is_one_of() {
    assert!(passes("      class: [export, delete]\n"));
    assert!(!passes("      class: [export, encrypt]\n"));
}

#[test]
fn every_operator_must_hold() {
    assert!(passes("      actor.id: {equals: cred-api-3}\n"));
    assert!(passes("      actor.id: {one_of: [x, cred-api-3]}\n"));
    assert!(passes("      actor.id: {prefix: cred-}\n"));
    assert!(!passes("      actor.id: {prefix: svc-}\n"));
    assert!(passes("      source_ip: {regex: '^203\\.0\\.113\\.'}\n"));
    assert!(!passes("      source_ip: {regex: '^10\\.'}\n"));
    assert!(passes("      object_count: {gt: 39, gte: 40, lt: 41, lte: 40}\n"));
    assert!(!passes("      object_count: {gt: 40}\n"));
    assert!(!passes("      object_count: {lt: 40}\n"));
    assert!(passes("      bytes: {gte: 5GiB}\n"));
    assert!(!passes("      bytes: {gt: 5GiB}\n"));
    assert!(passes("      actor.id: {prefix: cred-, regex: 'api'}\n"));
    assert!(!passes("      actor.id: {prefix: cred-, regex: 'ops'}\n"));
}

#[test]
fn exists_tests_presence() {
    assert!(passes("      source_ip: {exists: true}\n"));
    assert!(passes("      error: {exists: false}\n"));
    assert!(!passes("      error: {exists: true}\n"));
    assert!(!passes("      target_account: {exists: true}\n"));
    assert!(passes("      target_account: {exists: false}\n"));
    assert!(passes("      tenant_id: {exists: true}\n"));
}

#[test]
fn numeric_comparison_fails_on_absent_value() {
    let mut event = event();
    event.bytes = None;
    assert!(!filter("      bytes: {gte: 0}\n").matches(&event));
    assert!(filter("      bytes: {exists: false}\n").matches(&event));
}

#[test]
fn multi_valued_field_passes_when_any_value_passes() {
    assert!(passes("      tenant_id: tn-globex\n"));
    assert!(passes("      tenant_id: {prefix: tn-a}\n"));
    assert!(!passes("      tenant_id: tn-initech\n"));
    let mut event = event();
    event.target_accounts = vec!["111122223333".to_string(), "999988887777".to_string()];
    assert!(filter("      target_account: '999988887777'\n").matches(&event));
    assert!(filter("      target_account: {regex: '^1111'}\n").matches(&event));
}

#[test]
fn in_list_matches_the_list_values() {
    assert!(passes("      actor.id: {in_list: robots}\n"));
    let mut event = event();
    event.actor.id = "cred-ops-17".to_string();
    assert!(!filter("      actor.id: {in_list: robots}\n").matches(&event));
}

#[test]
fn exception_excludes_events_meeting_all_its_conditions() {
    let except_robot = "    except:\n      - actor.id: {in_list: robots}\n";
    assert!(!filter_with("      class: delete\n", except_robot).matches(&event()));

    let except_both = "    except:\n      - actor.id: cred-api-3\n        outcome: failure\n";
    assert!(filter_with("      class: delete\n", except_both).matches(&event()));

    let any_of_two = "    except:\n      - outcome: failure\n      - product: backup\n";
    assert!(!filter_with("      class: delete\n", any_of_two).matches(&event()));
}

#[test]
fn long_value_lists_compile_to_a_set_that_matches_the_same() {
    let values: Vec<String> = (0..40).map(|index| format!("cred-{index}")).collect();
    let block = format!("      actor.id: [{}, cred-api-3]\n", values.join(", "));
    let filter = filter(&block);
    assert!(matches!(filter.all[0].test, Test::OneOfSet(_)));
    assert!(filter.matches(&event()));
    let mut other = event();
    other.actor.id = "cred-99".to_string();
    assert!(!filter.matches(&other));

    let again = crate::filter(&block);
    assert_eq!(format!("{filter:?}"), format!("{again:?}"), "same rule, same debug text");

    let numbers: Vec<String> = (0..39).map(|index| index.to_string()).collect();
    let block = format!("      object_count: [{}, 40]\n", numbers.join(", "));
    assert!(crate::filter(&block).matches(&event()));
}

#[test]
fn class_mask_lists_the_classes_a_filter_can_pass() {
    let delete = class_bit(ActionClass::Delete);
    let encrypt = class_bit(ActionClass::Encrypt);
    assert_eq!(filter("      outcome: success\n").class_mask(), None);
    assert_eq!(filter("      class: delete\n").class_mask(), Some(delete));
    assert_eq!(filter("      class: [delete, encrypt]\n").class_mask(), Some(delete | encrypt));
    assert_eq!(
        filter("      class: {one_of: [delete, encrypt], equals: encrypt}\n").class_mask(),
        Some(encrypt)
    );
    assert_eq!(
        filter("      class: {prefix: e}\n").class_mask(),
        Some(encrypt | class_bit(ActionClass::Export))
    );
    let except_delete = "    except:\n      - class: delete\n";
    let mask = filter_with("      outcome: success\n", except_delete).class_mask();
    assert_eq!(mask, Some(ALL_CLASSES & !delete));
    let except_mixed = "    except:\n      - class: delete\n        outcome: failure\n";
    assert_eq!(filter_with("      outcome: success\n", except_mixed).class_mask(), None);
}

#[test]
fn class_mask_never_hides_an_event_the_filter_passes() {
    let filters = [
        filter("      class: [delete, weaken]\n"),
        filter("      class: {regex: '^(delete|export)$'}\n"),
        filter_with("      outcome: success\n", "    except:\n      - class: [read, run]\n"),
    ];
    for filter in &filters {
        let mask = filter.class_mask().unwrap_or(ALL_CLASSES);
        for class in ActionClass::ALL {
            let mut event = event();
            event.class = class;
            if filter.matches(&event) {
                assert_ne!(mask & class_bit(class), 0, "{class:?} {filter:?}");
            }
        }
    }
}

#[test]
fn sequence_steps_include_the_rule_conditions_and_mask_by_step() {
    let text = "rules:\n  - id: s\n    title: t\n    severity: low\n    kind: sequence\n    \
                summary: s\n    where: {outcome: success}\n    within: 1h\n    steps:\n      \
                - {name: weaken, where: {class: weaken}}\n      \
                - {name: destroy, where: {class: [delete, encrypt]}}\n";
    let rules = load_str("s.yaml", text).unwrap();
    let rule = &rules.rules[0];
    let RuleKind::Sequence { steps, .. } = &rule.kind else { panic!() };
    let mut weaken = event();
    weaken.class = ActionClass::Weaken;
    assert!(steps[0].filter.matches(&weaken));
    weaken.outcome = Outcome::Failure;
    assert!(!steps[0].filter.matches(&weaken), "the rule's own condition applies to steps");
    let expected = class_bit(ActionClass::Weaken)
        | class_bit(ActionClass::Delete)
        | class_bit(ActionClass::Encrypt);
    assert_eq!(rule.class_mask(), Some(expected));
}

#[test]
fn empty_filter_passes_every_event() {
    assert!(Filter::default().matches(&event()));
    assert_eq!(Filter::default().class_mask(), None);
}

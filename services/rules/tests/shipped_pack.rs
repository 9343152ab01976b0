//! The shipped rule pack under `rules/` loads, and its fixtures cover every rule.

use std::path::PathBuf;

use mspwatch_rules::{
    check_coverage, check_fixtures, load, load_fixtures, Aggregate, BaselineMeasure, Expect,
    RuleKind, Severity,
};

fn pack_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rules")
}

fn show(errors: &[mspwatch_rules::RuleError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

#[test]
fn shipped_pack_loads_without_errors() {
    let rules = load(&pack_dir()).unwrap_or_else(|errors| panic!("{}", show(&errors)));
    let ids: Vec<&str> = rules.rules.iter().map(|rule| rule.id.as_str()).collect();
    for id in [
        "cross-tenant-backup-deletion",
        "cross-tenant-encryption-tampering",
        "mass-export-baseline",
        "mass-export-absolute",
        "weaken-then-destroy",
        "new-intermediary-destructive",
        "failed-destructive-probing",
        "backup-shared-externally",
        "cross-tenant-fanout-peers",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    assert_eq!(rules.lists["retention_robots"], ["svc-retention-cleanup"]);
}

#[test]
fn shipped_rules_have_the_documented_parameters() {
    let rules = load(&pack_dir()).unwrap_or_else(|errors| panic!("{}", show(&errors)));
    let rule = |id: &str| rules.rules.iter().find(|rule| rule.id == id).unwrap();

    let deletion = rule("cross-tenant-backup-deletion");
    assert_eq!(deletion.severity, Severity::Critical);
    assert_eq!(deletion.mitre, ["T1490", "T1485"]);
    assert!(matches!(
        deletion.kind,
        RuleKind::Threshold { window_ms: 1_800_000, aggregate: Aggregate::Distinct(_), at_least }
            if at_least == 3.0
    ));
    assert_eq!(deletion.incident_gap_ms, 1_800_000);

    let absolute = rule("mass-export-absolute");
    assert!(matches!(
        absolute.kind,
        RuleKind::Threshold { at_least, .. } if at_least == 200.0 * 1024.0 * 1024.0 * 1024.0
    ));

    let RuleKind::Baseline(baseline) = &rule("mass-export-baseline").kind else { panic!() };
    assert_eq!(baseline.measure, BaselineMeasure::Bytes);
    assert_eq!(baseline.floor, 10.0 * 1024.0 * 1024.0 * 1024.0);
    assert_eq!(baseline.min_history_hours, 24);
    assert_eq!((baseline.zscore, baseline.ratio), (Some(4.0), Some(10.0)));

    let RuleKind::Sequence { within_ms, steps } = &rule("weaken-then-destroy").kind else {
        panic!()
    };
    assert_eq!(*within_ms, 2 * 3_600_000);
    assert_eq!(steps.len(), 2);

    let RuleKind::FirstSeen { horizon_ms, warmup_ms, .. } =
        &rule("new-intermediary-destructive").kind
    else {
        panic!()
    };
    assert_eq!((*horizon_ms, *warmup_ms), (30 * 24 * 3_600_000, 24 * 3_600_000));
}

#[test]
fn shipped_fixtures_name_existing_rules_and_cover_every_rule() {
    let rules = load(&pack_dir()).unwrap_or_else(|errors| panic!("{}", show(&errors)));
    let fixtures = load_fixtures(&pack_dir()).unwrap_or_else(|errors| panic!("{}", show(&errors)));
    assert!(fixtures.len() >= rules.rules.len());
    let errors = check_fixtures(&rules, &fixtures);
    assert!(errors.is_empty(), "{}", show(&errors));
    let errors = check_coverage(&rules, &fixtures);
    assert!(errors.is_empty(), "{}", show(&errors));
    for fixture in &fixtures {
        assert!(fixture.cases.iter().any(|case| case.expect == Expect::Alert), "{}", fixture.rule);
        assert!(fixture.cases.iter().any(|case| !case.events.is_empty()));
    }
}

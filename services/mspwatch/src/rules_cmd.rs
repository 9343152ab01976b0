//! `mspwatch rules check` and `mspwatch rules test`.

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::anyhow;
use mspwatch_alert::Alert;
use mspwatch_engine::{Engine, EngineConfig};
use mspwatch_event::decode::{decode_record, Decoded};
use mspwatch_event::Directory;
use mspwatch_rules::{Expect, FixtureCase, FixtureFile, RuleError, RuleSet};

use crate::cli::{RulesCheckArgs, RulesTestArgs};
use crate::failure::Failure;
use crate::output;

/// Loads the rules under `dir`; on errors prints each as `FILE:LINE:COL: reason`.
pub fn load_rules(dir: &Path) -> Result<RuleSet, Failure> {
    mspwatch_rules::load(dir).map_err(|errors| rule_errors(dir, &errors))
}

/// Loads the fixtures under `dir/tests` and checks that they name existing rules.
fn load_fixtures(dir: &Path, rules: &RuleSet) -> Result<Vec<FixtureFile>, Failure> {
    let fixtures =
        mspwatch_rules::load_fixtures(dir).map_err(|errors| rule_errors(dir, &errors))?;
    let errors = mspwatch_rules::check_fixtures(rules, &fixtures);
    if !errors.is_empty() {
        return Err(rule_errors(dir, &errors));
    }
    Ok(fixtures)
}

/// Prints the errors and makes the failure that ends the command.
fn rule_errors(dir: &Path, errors: &[RuleError]) -> Failure {
    output::rule_problems(errors);
    let count = errors.len();
    let noun = if count == 1 { "error" } else { "errors" };
    Failure::config(format!("{count} {noun} in the rules under {}", dir.display()))
}

/// Runs `mspwatch rules check`: rules, fixtures, and a case of each kind for every rule.
pub fn check(args: &RulesCheckArgs) -> Result<ExitCode, Failure> {
    let rules = load_rules(&args.dir)?;
    let fixtures = load_fixtures(&args.dir, &rules)?;
    let uncovered = mspwatch_rules::check_coverage(&rules, &fixtures);
    if !uncovered.is_empty() {
        return Err(rule_errors(&args.dir, &uncovered));
    }
    output::line(format_args!("{} rules OK", rules.rules.len()))
        .map_err(|error| Failure::Io(anyhow!(error)))?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `mspwatch rules test`.
pub fn test(args: &RulesTestArgs) -> Result<ExitCode, Failure> {
    let rules = load_rules(&args.dir)?;
    let fixtures = load_fixtures(&args.dir, &rules)?;
    let directory = match &args.directory {
        Some(path) => crate::replay::load_directory(path)?,
        None => Directory::default(),
    };

    let mut passed = 0_usize;
    let mut failed = 0_usize;
    for fixture in &fixtures {
        for case in &fixture.cases {
            let line = match run_case(&fixture.rule, case, &rules, &directory) {
                Ok(()) => {
                    passed += 1;
                    format!("ok   {}: {}", fixture.rule, case.name)
                }
                Err(why) => {
                    failed += 1;
                    format!("FAIL {}: {}: {why}", fixture.rule, case.name)
                }
            };
            output::line(line).map_err(|error| Failure::Io(anyhow!(error)))?;
        }
    }
    output::line(format_args!("{passed} passed, {failed} failed"))
        .map_err(|error| Failure::Io(anyhow!(error)))?;
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Feeds the case's events, through the real decoder, to a fresh engine with every rule and
/// compares the alerts of the case's rule with what the case expects.
fn run_case(
    rule_id: &str,
    case: &FixtureCase,
    rules: &RuleSet,
    directory: &Directory,
) -> Result<(), String> {
    let case_directory = match &case.directory {
        Some(yaml) => Directory::from_yaml(yaml)
            .map_err(|error| format!("the case's directory does not load: {error}"))?,
        None => directory.clone(),
    };
    let mut engine = Engine::new(EngineConfig::default(), rules.clone(), case_directory);
    let mut raised = Vec::new();
    for (index, value) in case.events.iter().enumerate() {
        let bytes = serde_json::to_vec(value)
            .map_err(|error| format!("event {} cannot be serialized: {error}", index + 1))?;
        match decode_record(&bytes) {
            Ok(Decoded::Event(event)) => {
                engine.ingest(event, &mut raised);
            }
            Ok(Decoded::Skipped(_)) => {}
            Err(error) => return Err(format!("event {} does not decode: {error}", index + 1)),
        }
    }
    engine.flush(&mut raised);
    compare(case, &final_alerts(raised, rule_id))
}

/// The final version of each alert the rule raised, in (first seen, id) order.
fn final_alerts(raised: Vec<Alert>, rule_id: &str) -> Vec<Alert> {
    let mut latest: HashMap<String, Alert> = HashMap::new();
    for alert in raised.into_iter().filter(|alert| alert.rule_id == rule_id) {
        match latest.get(&alert.id) {
            Some(kept) if kept.version > alert.version => {}
            _ => {
                latest.insert(alert.id.clone(), alert);
            }
        }
    }
    let mut alerts: Vec<Alert> = latest.into_values().collect();
    crate::replay::sort_alerts(&mut alerts);
    alerts
}

/// Checks the alerts against the case: `no_alert` wants none; `alert` wants at least one,
/// exactly `alerts` when given, and `tenants` tenants in the first alert when given.
fn compare(case: &FixtureCase, alerts: &[Alert]) -> Result<(), String> {
    if case.expect == Expect::NoAlert {
        return match alerts.len() {
            0 => Ok(()),
            got => Err(format!("expected no alert, got {}", count(got))),
        };
    }
    let Some(first) = alerts.first() else {
        return Err("expected an alert, got none".to_owned());
    };
    if let Some(expected) = case.alerts {
        if alerts.len() != expected as usize {
            return Err(format!("expected {}, got {}", count(expected as usize), alerts.len()));
        }
    }
    if let Some(expected) = case.tenants {
        let got = first.tenants.len();
        if got != expected as usize {
            return Err(format!("expected an alert naming {expected} tenants, got {got}"));
        }
    }
    Ok(())
}

fn count(alerts: usize) -> String {
    match alerts {
        1 => "1 alert".to_owned(),
        _ => format!("{alerts} alerts"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mspwatch_alert::{AlertActor, Severity};
    use mspwatch_event::ActorType;

    fn alert(id: &str, version: u32, tenants: usize) -> Alert {
        Alert {
            id: id.to_owned(),
            version,
            rule_id: "rule-a".to_owned(),
            title: "A".to_owned(),
            severity: Severity::High,
            score: 70.0,
            msp_id: None,
            supplier_tier: None,
            actor: AlertActor { id: "cred".to_owned(), name: None, kind: ActorType::User },
            tenants: (0..tenants).map(|index| format!("tn-{index}")).collect(),
            first_seen: "2026-11-05T03:10:02Z".to_owned(),
            last_seen: "2026-11-05T03:10:02Z".to_owned(),
            event_count: 1,
            evidence: Vec::new(),
            timeline: Vec::new(),
            mitre: Vec::new(),
            summary: String::new(),
            baseline: None,
            notify_by: "2026-11-08T03:10:02Z".to_owned(),
        }
    }

    #[test]
    fn only_the_latest_version_of_each_alert_of_the_rule_counts() {
        let mut other_rule = alert("b", 1, 1);
        other_rule.rule_id = "rule-b".to_owned();
        let raised = vec![alert("a", 1, 1), alert("a", 3, 4), alert("a", 2, 2), other_rule];
        let kept = final_alerts(raised, "rule-a");
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].version, 3);
    }

    fn case(expect: Expect, alerts: Option<u32>, tenants: Option<u32>) -> FixtureCase {
        FixtureCase {
            name: "case".to_owned(),
            line: 1,
            expect,
            alerts,
            tenants,
            directory: None,
            events: Vec::new(),
        }
    }

    #[test]
    fn expectations_compare_counts_and_tenants() {
        let one = [alert("a", 1, 3)];
        let any = case(Expect::Alert, None, None);
        assert_eq!(compare(&any, &one), Ok(()));
        assert_eq!(compare(&any, &[]), Err("expected an alert, got none".to_owned()));
        let none = case(Expect::NoAlert, None, None);
        assert_eq!(compare(&none, &[]), Ok(()));
        assert_eq!(compare(&none, &one), Err("expected no alert, got 1 alert".to_owned()));
        let two = case(Expect::Alert, Some(2), None);
        assert_eq!(compare(&two, &one), Err("expected 2 alerts, got 1".to_owned()));
        let three_tenants = case(Expect::Alert, Some(1), Some(3));
        assert_eq!(compare(&three_tenants, &one), Ok(()));
        let five_tenants = case(Expect::Alert, None, Some(5));
        assert_eq!(
            compare(&five_tenants, &one),
            Err("expected an alert naming 5 tenants, got 3".to_owned())
        );
    }
}

//! `mspwatch rules check` and `mspwatch rules test` end to end, on the repository's rules and
//! on broken copies of them.

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions panic on broken inputs

mod common;

use std::fs;
use std::path::Path;

use common::*;

/// Copies the repository's rule files and fixtures into `target`.
fn copy_rules(target: &Path) {
    let source = rules_dir();
    for sub in ["", "tests"] {
        fs::create_dir_all(target.join(sub)).unwrap();
        for entry in fs::read_dir(source.join(sub)).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                fs::copy(entry.path(), target.join(sub).join(entry.file_name())).unwrap();
            }
        }
    }
}

fn closing_line(output: &std::process::Output) -> String {
    stdout(output).lines().last().unwrap_or_default().to_owned()
}

/// `N passed, M failed` as (N, M).
fn totals(line: &str) -> (usize, usize) {
    let (passed, failed) = line.split_once(" passed, ").unwrap_or_else(|| panic!("{line}"));
    let failed = failed.strip_suffix(" failed").unwrap_or_else(|| panic!("{line}"));
    (passed.parse().unwrap(), failed.parse().unwrap())
}

#[test]
fn the_repository_rules_check_clean() {
    let rules = rules_dir();
    let output = run(&["rules", "check", rules.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let line = stdout(&output);
    let count = line.trim_end().strip_suffix(" rules OK").unwrap_or_else(|| panic!("{line}"));
    assert!(count.parse::<usize>().unwrap() > 0);
}

#[test]
fn a_rule_error_is_reported_with_file_line_and_column_and_exits_two() {
    let dir = tempfile::tempdir().unwrap();
    copy_rules(dir.path());
    let path = dir.path().join("destruction.yaml");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replacen("window: 30m", "windw: 30m", 1)).unwrap();

    let output = run(&["rules", "check", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let err = stderr(&output);
    let located: Vec<(u32, u32, &str)> = err
        .lines()
        .filter_map(|line| {
            let after = line.split_once("destruction.yaml:")?.1;
            let mut parts = after.splitn(3, ':');
            let line_no = parts.next()?.parse().ok()?;
            let column = parts.next()?.parse().ok()?;
            Some((line_no, column, parts.next()?.trim()))
        })
        .collect();
    assert!(!located.is_empty(), "{}", describe(&output));
    let misspelt = located.iter().find(|(_, _, reason)| reason.contains("windw"));
    let (line_no, column, _) = misspelt.unwrap_or_else(|| panic!("{}", describe(&output)));
    let expected_line = text.lines().position(|line| line.contains("window: 30m")).unwrap() + 1;
    assert_eq!(*line_no as usize, expected_line, "{}", describe(&output));
    assert!(*column > 1);
}

#[test]
fn a_fixture_for_an_unknown_rule_fails_the_check() {
    let dir = tempfile::tempdir().unwrap();
    copy_rules(dir.path());
    let path = dir.path().join("tests/cross-tenant-backup-deletion.yaml");
    let text = fs::read_to_string(&path).unwrap();
    let renamed = text.replacen("rule: cross-tenant-backup-deletion", "rule: no-such-rule", 1);
    fs::write(&path, renamed).unwrap();

    let output = run(&["rules", "check", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        stderr(&output).contains("cross-tenant-backup-deletion.yaml:1:"),
        "{}",
        describe(&output)
    );
}

#[test]
fn a_missing_rules_directory_exits_two() {
    let output = run(&["rules", "check", "/nonexistent/rules"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(stderr(&output).contains("/nonexistent/rules"));
}

#[test]
fn every_fixture_of_the_repository_rules_passes() {
    let rules = rules_dir();
    let output = run(&["rules", "test", rules.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let (passed, failed) = totals(&closing_line(&output));
    assert!(passed > 0);
    assert_eq!(failed, 0);
    let case_lines = stdout(&output).lines().filter(|line| line.starts_with("ok   ")).count();
    assert_eq!(case_lines, passed);
}

#[test]
fn a_case_whose_expectation_does_not_hold_fails_and_exits_one() {
    let dir = tempfile::tempdir().unwrap();
    copy_rules(dir.path());
    let path = dir.path().join("tests/cross-tenant-backup-deletion.yaml");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replacen("expect: no_alert", "expect: alert", 1)).unwrap();

    let output = run(&["rules", "test", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let printed = stdout(&output);
    let failures: Vec<&str> = printed.lines().filter(|line| line.starts_with("FAIL ")).collect();
    assert_eq!(failures.len(), 1, "{printed}");
    assert!(
        failures[0].starts_with("FAIL cross-tenant-backup-deletion: many deletes in two tenants")
            && failures[0].ends_with(": expected an alert, got none"),
        "{}",
        failures[0]
    );
    let (passed, failed) = totals(&closing_line(&output));
    assert_eq!(failed, 1);
    assert!(passed > 0);
}

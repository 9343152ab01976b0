//! Real CloudTrail captures: every record decodes, snapshot sharing is an export, and one
//! user name in ten accounts is ten credentials.

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions panic on broken fixtures

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use mspwatch_event::decode::{decode_record, split_records, Decoded};
use mspwatch_event::{ActionClass, Event};

fn real_files() -> Vec<PathBuf> {
    let dir = common::shared_dir().join("real/stratus-red-team");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

fn decode_file(path: &PathBuf) -> Vec<Event> {
    let input = std::fs::read(path).unwrap();
    split_records(&input)
        .into_iter()
        .map(|item| {
            let record = item.unwrap_or_else(|(line, e)| panic!("{}:{line}: {e}", path.display()));
            match decode_record(record.bytes) {
                Ok(Decoded::Event(event)) => *event,
                other => panic!("{}:{}: {other:?}", path.display(), record.line),
            }
        })
        .collect()
}

#[test]
fn every_real_record_splits_and_decodes_without_a_rejection() {
    let files = real_files();
    assert_eq!(files.len(), 10);
    let total: usize = files.iter().map(|path| decode_file(path).len()).sum();
    assert_eq!(total, 172);
}

#[test]
fn real_records_start_on_the_lines_where_their_objects_open() {
    for path in real_files() {
        let input = std::fs::read(&path).unwrap();
        let lines: Vec<&[u8]> = input.split(|&byte| byte == b'\n').collect();
        for record in split_records(&input).into_iter().map(Result::unwrap) {
            let line = lines[usize::try_from(record.line).unwrap() - 1];
            assert_eq!(line.trim_ascii(), b"{", "{}:{}", path.display(), record.line);
        }
    }
}

#[test]
fn real_snapshot_shares_are_exports_to_the_foreign_account() {
    let dir = common::shared_dir().join("real/stratus-red-team");
    let cases = [
        ("aws.exfiltration.ec2-share-ebs-snapshot.json", "ModifySnapshotAttribute", "098797384747"),
        ("aws.exfiltration.rds-share-snapshot.json", "ModifyDBSnapshotAttribute", "503161813013"),
    ];
    for (file, action, foreign) in cases {
        let events = decode_file(&dir.join(file));
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(event.action, action);
        assert_eq!(event.class, ActionClass::Export);
        assert_eq!(event.target_accounts, [foreign]);
        assert_ne!(event.tenant_ids[0], foreign);
    }
}

#[test]
fn one_user_name_in_ten_accounts_is_ten_credentials() {
    let mut iam_users = BTreeSet::new();
    let mut christophe = BTreeSet::new();
    for path in real_files() {
        let users: BTreeSet<String> = decode_file(&path)
            .into_iter()
            .filter(|event| event.actor.id.contains(":user/"))
            .map(|event| {
                if event.actor.name.as_deref() == Some("christophe") {
                    christophe.insert(event.actor.id.clone());
                }
                event.actor.id
            })
            .collect();
        assert_eq!(users.len(), 1, "{}: {users:?}", path.display());
        iam_users.extend(users);
    }
    assert_eq!(iam_users.len(), 10);
    assert_eq!(christophe.len(), 9);
}

#[test]
fn real_assumed_role_sessions_are_named_by_role_and_session_without_the_account() {
    let dir = common::shared_dir().join("real/stratus-red-team");
    let events = decode_file(&dir.join("aws.credential-access.ec2-get-password-data.json"));
    let role_event = events.iter().find(|event| event.via_role.is_some()).unwrap();
    assert_eq!(
        role_event.actor.id,
        "role/stratus-red-team-ec2-get-password-data-role/aws-go-sdk-1722375070115152000"
    );
    assert_eq!(role_event.via_role.as_deref(), Some("stratus-red-team-ec2-get-password-data-role"));
    assert_eq!(role_event.error.as_deref(), Some("Client.UnauthorizedOperation"));
    assert_eq!(role_event.class, ActionClass::Read);
    assert_eq!(role_event.source_ip.as_deref(), Some("200.249.253.51"));
}

#[test]
fn real_console_login_is_a_login_and_stop_logging_is_config() {
    let dir = common::shared_dir().join("real/stratus-red-team");
    let login = decode_file(&dir.join("aws.initial-access.console-login-without-mfa.json"));
    assert_eq!(login[0].class, ActionClass::Login);
    let stop = decode_file(&dir.join("aws.defense-evasion.cloudtrail-stop.json"));
    assert_eq!(stop[0].class, ActionClass::Config);
    assert_eq!(stop[0].product.as_deref(), Some("cloudtrail"));
}

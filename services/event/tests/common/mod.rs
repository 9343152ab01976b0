//! Helpers shared by the decoder tests.

#![allow(dead_code)]

use std::path::PathBuf;

use mspwatch_event::decode::{decode_record, Decoded};
use mspwatch_event::Event;

/// The shared input examples, beside the repository.
pub fn shared_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// Decodes a record that must yield an event.
pub fn event(record: &str) -> Event {
    match decode_record(record.as_bytes()) {
        Ok(Decoded::Event(event)) => *event,
        other => panic!("expected an event from {record}, got {other:?}"),
    }
}

/// Decodes a record that must be refused, returning the reason and detail.
pub fn reject(record: &[u8]) -> (&'static str, String) {
    match decode_record(record) {
        Err(error) => (error.reason, error.detail),
        Ok(other) => {
            panic!("expected a rejection of {:?}, got {other:?}", String::from_utf8_lossy(record))
        }
    }
}

/// Decodes a value built with `serde_json::json!`.
pub fn event_of(value: &serde_json::Value) -> Event {
    event(&value.to_string())
}

/// A minimal valid canonical record, to modify field by field.
pub fn canonical() -> serde_json::Value {
    serde_json::json!({
        "event_id": "ev-1",
        "time": "2026-11-02T09:00:00Z",
        "msp_id": "msp-northwind",
        "tenant_id": "tn-acme",
        "actor": {"id": "cred-1", "type": "user", "name": "ops17"},
        "action": "backup.delete",
        "resource": {"type": "recovery_point", "id": "rp-1"},
        "outcome": "success"
    })
}

/// A minimal valid CloudTrail record for `source` and `name` made by an MSP role session.
pub fn cloudtrail(source: &str, name: &str, params: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "eventVersion": "1.09",
        "eventTime": "2026-11-02T10:15:02Z",
        "eventSource": source,
        "eventName": name,
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "203.0.113.77",
        "userAgent": "aws-cli/2.15.0",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:ops17",
            "arn": "arn:aws:sts::210987654321:assumed-role/NorthwindMSPAdmin/ops17",
            "accountId": "210987654321",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "arn": "arn:aws:iam::210987654321:role/NorthwindMSPAdmin",
                    "accountId": "210987654321",
                    "userName": "NorthwindMSPAdmin"
                }
            }
        },
        "requestParameters": params,
        "eventID": "5f0c0e2a-0000-4000-8000-000000000001",
        "recipientAccountId": "210987654321"
    })
}

/// A minimal valid OCSF API Activity record.
pub fn ocsf() -> serde_json::Value {
    serde_json::json!({
        "class_uid": 6003,
        "activity_id": 4,
        "status_id": 1,
        "time": 1_793_613_302_000u64,
        "metadata": {"uid": "ocsf-1", "tenant_uid": "tn-acme", "product": {"name": "Backup Console"}},
        "actor": {"user": {"uid": "cred-ops-17", "name": "ops17", "account": {"uid": "msp-northwind"}}},
        "api": {"operation": "DeleteRecoveryPoint", "service": {"name": "backup"}},
        "src_endpoint": {"ip": "203.0.113.77"},
        "resources": [{"type": "recovery_point", "uid": "rp-9921"}]
    })
}

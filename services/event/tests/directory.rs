//! The MSP directory: loading YAML with located errors, and attributing events.

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions panic on broken fixtures

mod common;

use mspwatch_event::directory::directory_reason;
use mspwatch_event::{Attribution, Directory, Msp, SupplierTier};
use serde_json::json;

fn example() -> Directory {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/directory.yaml");
    Directory::from_yaml(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn refused(text: &str) -> (Option<u64>, &'static str, String) {
    let error = Directory::from_yaml(text).unwrap_err();
    (error.line, error.reason, error.detail)
}

#[test]
fn the_example_directory_loads_with_tenants_roles_and_tiers() {
    let directory = example();
    assert_eq!(directory.msps().len(), 2);
    let northwind = directory.msp("msp-northwind").unwrap();
    assert_eq!(northwind.tier, SupplierTier::Critical);
    assert_eq!(northwind.name.as_deref(), Some("Northwind IT"));
    for tenant in
        ["tn-acme", "tn-globex", "tn-initech", "210987654321", "345678901234", "456789012345"]
    {
        assert_eq!(directory.msp_for_tenant(tenant).unwrap().id, "msp-northwind", "{tenant}");
    }
    assert_eq!(directory.msp_for_role("NorthwindMSPAdmin").unwrap().id, "msp-northwind");
    assert_eq!(directory.msp_for_tenant("567890123456").unwrap().id, "msp-contoso");
    assert!(directory.msp_for_tenant("999988887777").is_none());
}

#[test]
fn unquoted_account_ids_keep_their_digits_and_tier_defaults_to_standard() {
    let directory =
        Directory::from_yaml("msps:\n  - id: m\n    tenants: [012345678901]\n").unwrap();
    assert_eq!(directory.msp_for_tenant("012345678901").unwrap().tier, SupplierTier::Standard);
}

#[test]
fn duplicate_msp_ids_are_refused_at_the_second_id() {
    let text = "msps:\n  - id: a\n  - id: b\n  - id: a\n";
    let (line, reason, detail) = refused(text);
    assert_eq!((line, reason), (Some(4), directory_reason::DUPLICATE_MSP));
    assert!(detail.contains("`a`"), "{detail}");
}

#[test]
fn a_tenant_under_two_msps_is_refused_at_its_second_listing() {
    let text = "msps:\n  - id: a\n    tenants: [t1, t2]\n  - id: b\n    tenants:\n      - t3\n      - t2\n";
    let (line, reason, detail) = refused(text);
    assert_eq!((line, reason), (Some(7), directory_reason::DUPLICATE_TENANT));
    assert!(detail.contains("`t2`") && detail.contains("msps[0]"), "{detail}");
}

#[test]
fn a_role_under_two_msps_is_refused() {
    let text =
        "msps:\n  - id: a\n    cloudtrail_roles: [R]\n  - id: b\n    cloudtrail_roles: [R]\n";
    assert_eq!(refused(text).1, directory_reason::DUPLICATE_ROLE);
}

#[test]
fn unknown_keys_are_refused_with_their_line() {
    let (line, reason, detail) = refused("msps:\n  - id: a\n    tennants: [t1]\n");
    assert_eq!((line, reason), (Some(3), directory_reason::UNKNOWN_KEY));
    assert!(detail.contains("tennants"), "{detail}");
    assert_eq!(refused("msps: []\nrules: []\n").1, directory_reason::UNKNOWN_KEY);
}

#[test]
fn malformed_directories_are_refused_with_reasons() {
    let cases = [
        ("msps:\n  - name: no id\n", directory_reason::MISSING_FIELD),
        ("{}\n", directory_reason::MISSING_FIELD),
        ("msps:\n  - id: a\n    tier: platinum\n", directory_reason::INVALID_FIELD),
        ("msps:\n  - id: a\n    tenants: t1\n", directory_reason::INVALID_FIELD),
        ("msps:\n  - id: ''\n", directory_reason::INVALID_FIELD),
        ("msps:\n  - id: a\n    tenants: ['']\n", directory_reason::INVALID_FIELD),
        ("msps:\n  - id: a\n    id: b\n", directory_reason::DUPLICATE_KEY),
        ("msps: []\nmsps: []\n", directory_reason::DUPLICATE_KEY),
        ("msps: [\n", directory_reason::INVALID_YAML),
        ("msps: {a: 1}\n", directory_reason::INVALID_FIELD),
        ("", directory_reason::MISSING_FIELD),
    ];
    for (text, reason) in cases {
        let error = Directory::from_yaml(text).unwrap_err();
        assert_eq!(error.reason, reason, "{text:?}: {error}");
    }
}

#[test]
fn an_empty_list_is_an_empty_directory() {
    assert!(Directory::from_yaml("msps: []\n").unwrap().msps().is_empty());
}

#[test]
fn msps_built_in_code_are_checked_like_yaml() {
    let msp = |id: &str, tenant: &str| Msp {
        id: id.to_owned(),
        name: None,
        tier: SupplierTier::High,
        tenants: vec![tenant.to_owned()],
        cloudtrail_roles: Vec::new(),
    };
    assert!(Directory::from_msps(vec![msp("a", "t1"), msp("b", "t2")]).is_ok());
    let error = Directory::from_msps(vec![msp("a", "t1"), msp("b", "t1")]).unwrap_err();
    assert_eq!((error.line, error.reason), (None, directory_reason::DUPLICATE_TENANT));
}

#[test]
fn attribution_prefers_the_record_then_the_role_then_the_tenant() {
    let directory = example();
    let mut named = common::event_of(&common::canonical());
    named.msp_id = Some("msp-contoso".to_owned());
    assert_eq!(directory.attribute(&mut named), Attribution::Record);
    assert_eq!(named.msp_id.as_deref(), Some("msp-contoso"));
    assert_eq!(named.supplier_tier, Some(SupplierTier::High));

    let mut by_role = common::event_of(&common::cloudtrail(
        "backup.amazonaws.com",
        "DeleteRecoveryPoint",
        json!({}),
    ));
    by_role.tenant_ids = vec!["567890123456".to_owned()];
    assert_eq!(directory.attribute(&mut by_role), Attribution::Role);
    assert_eq!(by_role.msp_id.as_deref(), Some("msp-northwind"));
    assert_eq!(by_role.supplier_tier, Some(SupplierTier::Critical));

    let mut by_tenant = by_role.clone();
    by_tenant.msp_id = None;
    by_tenant.via_role = Some("SomeOtherRole".to_owned());
    assert_eq!(directory.attribute(&mut by_tenant), Attribution::Tenant);
    assert_eq!(by_tenant.msp_id.as_deref(), Some("msp-contoso"));

    let mut unknown = by_tenant.clone();
    unknown.msp_id = None;
    unknown.tenant_ids = vec!["111111111111".to_owned()];
    assert!(directory.attribute(&mut unknown).is_unattributed());
    assert_eq!((unknown.msp_id, unknown.supplier_tier), (None, None));
}

#[test]
fn target_accounts_outside_the_msp_and_the_event_tenants_are_external() {
    let directory = example();
    let mut record = common::canonical();
    record["tenant_id"] = json!("tn-acme");
    let cases = [
        (vec![], false),
        (vec!["tn-acme"], false),
        (vec!["345678901234"], false),
        (vec!["567890123456"], true),
        (vec!["999988887777"], true),
        (vec!["345678901234", "all"], true),
    ];
    for (targets, external) in cases {
        record["target_accounts"] = json!(targets);
        let mut event = common::event_of(&record);
        directory.attribute(&mut event);
        assert_eq!(event.target_external, external, "{targets:?}");
    }

    record["msp_id"] = json!("msp-unknown");
    record["target_accounts"] = json!(["345678901234"]);
    let mut event = common::event_of(&record);
    assert_eq!(directory.attribute(&mut event), Attribution::Record);
    assert!(event.target_external, "an unknown msp has no tenants beyond the event's own");
    assert_eq!(event.supplier_tier, None);
}

#[test]
fn more_than_one_yaml_document_is_invalid_yaml() {
    let error = Directory::from_yaml("msps: []\n---\nmsps: []\n").unwrap_err();
    assert_eq!(error.reason, directory_reason::INVALID_YAML, "{error}");
}

//! Each input quirk, one test each: times, numbers, duplicate keys, missing and wrong fields,
//! bad JSON, deep nesting, invalid UTF-8 and oversized values.

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions panic on broken fixtures

mod common;

use mspwatch_event::decode::{decode_record, MAX_FIELD_BYTES, MAX_RECORD_BYTES};
use serde_json::{json, Value};

const NOV_2_9AM_MS: i64 = 1_793_610_000_000;

fn canonical_with(field: &str, value: Value) -> Value {
    let mut record = common::canonical();
    record[field] = value;
    record
}

fn reason_of(record: &Value) -> &'static str {
    common::reject(record.to_string().as_bytes()).0
}

#[test]
fn times_accept_any_fraction_length_zone_or_none() {
    let cases = [
        (json!("2026-11-02T09:00:00Z"), NOV_2_9AM_MS),
        (json!("2026-11-02T09:00:00.5Z"), NOV_2_9AM_MS + 500),
        (json!("2026-11-02T09:00:00.123456Z"), NOV_2_9AM_MS + 123),
        (json!("2026-11-02T09:00:00.123456789Z"), NOV_2_9AM_MS + 123),
        (json!("2026-11-02T09:00:00.1234567890123Z"), NOV_2_9AM_MS + 123),
        (json!("2026-11-02T10:00:00+01:00"), NOV_2_9AM_MS),
        (json!("2026-11-02T04:00:00.250-05:00"), NOV_2_9AM_MS + 250),
        (json!("2026-11-02T09:00:00"), NOV_2_9AM_MS),
    ];
    for (time, expected) in cases {
        let event = common::event_of(&canonical_with("time", time.clone()));
        assert_eq!(event.time_ms, expected, "{time}");
    }
}

#[test]
fn times_accept_epoch_seconds_and_milliseconds_as_numbers_or_digit_strings() {
    let cases = [
        json!(1_793_610_000u64),
        json!(1_793_610_000_000u64),
        json!(1_793_610_000.0),
        json!(1_793_610_000_000.0),
        json!("1793610000"),
        json!("1793610000000"),
    ];
    for time in cases {
        let event = common::event_of(&canonical_with("time", time.clone()));
        assert_eq!(event.time_ms, NOV_2_9AM_MS, "{time}");
    }
    let fractional = common::event_of(&canonical_with("time", json!(1_793_610_000.25)));
    assert_eq!(fractional.time_ms, NOV_2_9AM_MS + 250);
}

#[test]
fn a_leap_second_is_clamped_not_refused() {
    let event = common::event_of(&canonical_with("time", json!("2016-12-31T23:59:60Z")));
    assert_eq!(event.time_ms, 1_483_228_799_999);
    let mut record = common::cloudtrail("backup.amazonaws.com", "DeleteRecoveryPoint", json!({}));
    record["eventTime"] = json!("2016-12-31T23:59:60.5Z");
    assert_eq!(common::event_of(&record).time_ms, 1_483_228_799_999);
}

#[test]
fn out_of_range_years_and_garbage_times_are_invalid_time() {
    let cases = [
        json!("1969-12-31T23:59:59Z"),
        json!("10000-01-01T00:00:00Z"),
        json!("0000-01-01T00:00:00Z"),
        json!("Nov 2, 2026"),
        json!("2026-02-30T00:00:00Z"),
        json!(""),
        json!(999_999_999_999_999u64),
    ];
    for time in cases {
        assert_eq!(reason_of(&canonical_with("time", time.clone())), "invalid_time", "{time}");
    }
    let mut record = common::ocsf();
    record["time"] = json!("not a time");
    assert_eq!(reason_of(&record), "invalid_time");
    let mut record = common::cloudtrail("backup.amazonaws.com", "DeleteRecoveryPoint", json!({}));
    record["eventTime"] = json!("2026-11-02T09:00:00+99:00");
    assert_eq!(reason_of(&record), "invalid_time");
}

#[test]
fn times_that_are_not_usable_numbers_are_invalid_number() {
    for time in [json!(-1), json!(-1.5), json!(1e30), json!("-5"), json!("99999999999999999999999")]
    {
        assert_eq!(reason_of(&canonical_with("time", time.clone())), "invalid_number", "{time}");
    }
}

#[test]
fn counts_and_bytes_accept_integers_whole_floats_and_strings() {
    for (value, expected) in [
        (json!(40), 40),
        (json!(40.0), 40),
        (json!("40"), 40),
        (json!(52_428_800_000.0), 52_428_800_000),
        (json!("5.24288e10"), 52_428_800_000),
    ] {
        let event = common::event_of(&canonical_with("object_count", value.clone()));
        assert_eq!(event.object_count, Some(expected), "{value}");
        let event = common::event_of(&canonical_with("bytes", value.clone()));
        assert_eq!(event.bytes, Some(expected), "{value}");
    }
}

#[test]
fn negative_fractional_huge_or_unparsable_numbers_are_invalid_number() {
    let cases = [
        json!(-1),
        json!(1.5),
        json!(1e300),
        json!(18_446_744_073_709_551_616.0),
        json!("NaN"),
        json!("Infinity"),
        json!("12 GB"),
        json!("-7"),
        json!("184467440737095516160"),
    ];
    for value in cases {
        for field in ["object_count", "bytes"] {
            let record = canonical_with(field, value.clone());
            assert_eq!(reason_of(&record), "invalid_number", "{field} {value}");
        }
    }
    let mut record =
        common::cloudtrail("s3.amazonaws.com", "GetObject", json!({"bucketName": "b"}));
    record["additionalEventData"] = json!({"bytesTransferredOut": -3.0});
    assert_eq!(reason_of(&record), "invalid_number");
}

#[test]
fn integers_beyond_u64_written_raw_are_refused_without_panic() {
    let record = common::canonical().to_string().replacen(
        "\"outcome\"",
        "\"bytes\":123456789012345678901234567890123456789,\"outcome\"",
        1,
    );
    assert_eq!(common::reject(record.as_bytes()).0, "invalid_number");
    let record = common::canonical().to_string().replacen(
        "\"outcome\"",
        "\"object_count\":1e999,\"outcome\"",
        1,
    );
    assert_eq!(common::reject(record.as_bytes()).0, "invalid_number");
}

#[test]
fn duplicate_keys_are_refused_in_canonical_records_and_their_nested_objects() {
    let base = common::canonical().to_string();
    let top = base.replacen("{", r#"{"action":"backup.run","#, 1);
    let (reason, detail) = common::reject(top.as_bytes());
    assert_eq!(reason, "duplicate_key");
    assert!(detail.contains("`action`"), "{detail}");
    let nested = base.replacen(r#""actor":{"#, r#""actor":{"id":"cred-evil","#, 1);
    let (reason, detail) = common::reject(nested.as_bytes());
    assert_eq!(reason, "duplicate_key", "{nested}");
    assert!(detail.contains("`id`"), "{detail}");
}

#[test]
fn duplicate_keys_are_refused_in_cloudtrail_records_and_their_nested_objects() {
    let base = common::cloudtrail(
        "ec2.amazonaws.com",
        "ModifySnapshotAttribute",
        json!({"createVolumePermission": {"add": {"items": [{"userId": "999988887777"}]}},
            "snapshotId": "snap-1"}),
    )
    .to_string();
    let cases = [
        (r#""eventName":"#, r#""eventName":"DescribeSnapshots","eventName":"#, "eventName"),
        (
            r#""recipientAccountId":"#,
            r#""recipientAccountId":"1","recipientAccountId":"#,
            "recipientAccountId",
        ),
        (r#""userIdentity":{"#, r#""userIdentity":{"arn":"arn:aws:iam::1:user/x","#, "arn"),
        (r#""sessionIssuer":{"#, r#""sessionIssuer":{"userName":"Other","#, "userName"),
        (r#""items":["#, r#""items":[],"items":["#, "items"),
        (r#""snapshotId":"#, r#""snapshotId":"snap-2","snapshotId":"#, "snapshotId"),
    ];
    for (find, replace, key) in cases {
        assert!(base.contains(find), "{find}");
        let record = base.replacen(find, replace, 1);
        let (reason, detail) = common::reject(record.as_bytes());
        assert_eq!(reason, "duplicate_key", "{record}");
        assert!(detail.contains(&format!("`{key}`")), "{detail}");
    }
}

#[test]
fn duplicate_keys_are_refused_in_ocsf_records_and_their_nested_objects() {
    let base = common::ocsf().to_string();
    let cases = [
        (r#""status_id":"#, r#""status_id":2,"status_id":"#, "status_id"),
        (r#""user":{"#, r#""user":{"uid":"someone-else","#, "uid"),
        (r#""metadata":{"#, r#""metadata":{"tenant_uid":"tn-other","#, "tenant_uid"),
    ];
    for (find, replace, key) in cases {
        assert!(base.contains(find), "{find}");
        let record = base.replacen(find, replace, 1);
        let (reason, detail) = common::reject(record.as_bytes());
        assert_eq!(reason, "duplicate_key", "{record}");
        assert!(detail.contains(&format!("`{key}`")), "{detail}");
    }
}

#[test]
fn duplicate_keys_that_mspwatch_does_not_read_are_not_examined() {
    let record = common::canonical().to_string().replacen("{", r#"{"note":1,"note":2,"#, 1);
    assert!(decode_record(record.as_bytes()).is_ok());
}

#[test]
fn missing_required_fields_are_named() {
    let cases = [
        ("event_id", "`event_id`"),
        ("time", "`time`"),
        ("actor", "`actor`"),
        ("action", "`action`"),
        ("outcome", "`outcome`"),
        ("tenant_id", "`tenant_id`"),
    ];
    for (field, named) in cases {
        let mut record = common::canonical();
        record.as_object_mut().unwrap().remove(field);
        let (reason, detail) = common::reject(record.to_string().as_bytes());
        assert_eq!(reason, "missing_field", "{field}");
        assert!(detail.contains(named), "{detail}");
    }
    let mut record = common::canonical();
    record["actor"].as_object_mut().unwrap().remove("id");
    let (reason, detail) = common::reject(record.to_string().as_bytes());
    assert_eq!((reason, detail.contains("`actor.id`")), ("missing_field", true), "{detail}");
    let mut record = common::cloudtrail("backup.amazonaws.com", "DeleteRecoveryPoint", json!({}));
    record.as_object_mut().unwrap().remove("eventName");
    assert_eq!(reason_of(&record), "missing_field");
}

#[test]
fn empty_tenants_and_ids_are_missing_fields() {
    assert_eq!(reason_of(&canonical_with("tenant_id", json!(""))), "missing_field");
    let mut record = common::canonical();
    record.as_object_mut().unwrap().remove("tenant_id");
    record["tenant_ids"] = json!([]);
    assert_eq!(reason_of(&record), "missing_field");
    record["tenant_ids"] = json!(["tn-acme", ""]);
    assert_eq!(reason_of(&record), "missing_field");
    record["tenant_ids"] = json!(["tn-acme", "tn-globex", "tn-acme"]);
    assert_eq!(common::event_of(&record).tenant_ids, ["tn-acme", "tn-globex"]);
    let mut record = common::canonical();
    record["actor"]["id"] = json!("");
    assert_eq!(reason_of(&record), "missing_field");
    let mut record = common::cloudtrail("backup.amazonaws.com", "DeleteRecoveryPoint", json!({}));
    record["recipientAccountId"] = json!("");
    record["userIdentity"]["accountId"] = json!("");
    assert_eq!(reason_of(&record), "missing_field");
}

#[test]
fn wrong_types_and_values_are_invalid_field() {
    let cases = [
        ("event_id", json!(17)),
        ("tenant_id", json!(["tn-acme"])),
        ("tenant_ids", json!("tn-acme")),
        ("actor", json!(["cred-1", "user"])),
        ("actor", json!("cred-1")),
        ("resource", json!(["recovery_point", "rp-1"])),
        ("outcome", json!("succeeded")),
        ("outcome", json!(true)),
        ("bytes", json!({"value": 1})),
        ("time", json!(null)),
    ];
    for (field, value) in cases {
        let expected = if value.is_null() { "missing_field" } else { "invalid_field" };
        let record = canonical_with(field, value.clone());
        assert_eq!(reason_of(&record), expected, "{field} {value}");
    }
    let mut record = common::canonical();
    record["actor"]["type"] = json!("robot");
    assert_eq!(reason_of(&record), "invalid_field");
    let mut record = common::cloudtrail("backup.amazonaws.com", "DeleteRecoveryPoint", json!({}));
    record["userIdentity"] = json!(["AssumedRole"]);
    assert_eq!(reason_of(&record), "invalid_field");
    let mut record = common::ocsf();
    record["class_uid"] = json!("6003");
    assert_eq!(reason_of(&record), "invalid_field");
}

#[test]
fn text_that_is_not_json_is_invalid_json() {
    for text in ["", "   ", "{", "{\"event_id\":", "{\"a\":1}}", "hello", "{'a': 1}", "{\"a\":1,}"]
    {
        let (reason, _) = common::reject(text.as_bytes());
        assert_eq!(reason, "invalid_json", "{text:?}");
    }
}

#[test]
fn json_that_is_not_an_object_is_not_an_object() {
    for text in ["[]", "[{\"event_id\":\"x\"}]", "42", "\"text\"", "null", "true"] {
        let (reason, _) = common::reject(text.as_bytes());
        assert_eq!(reason, "not_an_object", "{text:?}");
    }
}

#[test]
fn invalid_utf8_is_refused_without_panic() {
    let mut record = common::canonical().to_string().into_bytes();
    let at = record.iter().position(|&byte| byte == b'o').unwrap();
    record[at] = 0xFF;
    assert_eq!(common::reject(&record).0, "invalid_utf8");
    assert_eq!(common::reject(b"\xC3\x28").0, "invalid_utf8");
}

#[test]
fn deep_nesting_never_overflows_the_stack() {
    let depth = 200_000;
    let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let unbalanced = "[".repeat(depth);

    let unread = canonical_with("extra", json!(null)).to_string().replacen("null", &deep, 1);
    assert!(decode_record(unread.as_bytes()).is_ok(), "unread values are skipped, not recursed");
    let read = canonical_with("actor", json!(null)).to_string().replacen("null", &deep, 1);
    assert_eq!(common::reject(read.as_bytes()).0, "invalid_field");
    let broken = format!(r#"{{"event_id":"x","extra":{unbalanced}"#);
    assert_eq!(common::reject(broken.as_bytes()).0, "invalid_json");
    assert_eq!(common::reject(deep.as_bytes()).0, "not_an_object");
    assert_eq!(common::reject(unbalanced.as_bytes()).0, "invalid_json");

    let mut record = common::cloudtrail("s3.amazonaws.com", "DeleteObject", json!(null));
    record["additionalEventData"] = json!(null);
    let record = record.to_string().replacen("null", &deep, 2);
    assert!(decode_record(record.as_bytes()).is_ok(), "parameters no refinement reads");
    let record = record.replace("DeleteObject", "GetObject");
    assert_eq!(common::reject(record.as_bytes()).0, "invalid_field", "read by GetObject");
    let objects = format!("{}1{}", r#"{"a":"#.repeat(depth / 2), "}".repeat(depth / 2));
    assert_eq!(common::reject(objects.as_bytes()).0, "missing_field");
}

#[test]
fn nesting_within_the_limit_is_accepted_in_fields_not_read() {
    let nested = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let record = canonical_with("extra", serde_json::from_str(&nested).unwrap());
    assert!(decode_record(record.to_string().as_bytes()).is_ok());
}

#[test]
fn strings_longer_than_the_cap_are_refused_not_cut() {
    let long = "x".repeat(MAX_FIELD_BYTES + 1);
    for field in ["event_id", "tenant_id", "action", "user_agent", "error", "source_ip"] {
        let record = canonical_with(field, json!(long));
        let (reason, detail) = common::reject(record.to_string().as_bytes());
        assert_eq!(reason, "field_too_long", "{field}");
        assert!(detail.contains(field), "{detail}");
    }
    let at_cap = "x".repeat(MAX_FIELD_BYTES);
    assert!(
        decode_record(canonical_with("user_agent", json!(at_cap)).to_string().as_bytes()).is_ok()
    );
    let mut record = common::cloudtrail("backup.amazonaws.com", "DeleteRecoveryPoint", json!({}));
    record["userAgent"] = json!(long);
    assert_eq!(reason_of(&record), "field_too_long");
    let mut record = common::cloudtrail("backup.amazonaws.com", "DeleteRecoveryPoint", json!({}));
    record["userIdentity"]["sessionContext"]["sessionIssuer"]["userName"] = json!(long);
    assert_eq!(reason_of(&record), "field_too_long");
    let many: Vec<String> = (0..2000).map(|n| format!("tn-{n}")).collect();
    let mut record = common::canonical();
    record.as_object_mut().unwrap().remove("tenant_id");
    record["tenant_ids"] = json!(many);
    assert_eq!(reason_of(&record), "field_too_long");
}

#[test]
fn records_over_the_size_cap_are_refused_before_parsing() {
    let padding = "x".repeat(MAX_RECORD_BYTES);
    let record = canonical_with("extra", json!(padding));
    assert_eq!(reason_of(&record), "record_too_large");
}

#[test]
fn a_whole_records_document_given_as_one_record_is_refused() {
    let document = r#"{"Records":[{"eventName":"x"}]}"#;
    assert_eq!(common::reject(document.as_bytes()).0, "records_wrapper");
}

#[test]
fn escaped_strings_decode_like_plain_ones() {
    let record = canonical_with("action", json!("backup.delete")).to_string().replacen(
        "backup.delete",
        r"backup\u002edelete",
        1,
    );
    let event = common::event(&record);
    assert_eq!(event.action, "backup.delete");
    assert_eq!(event.class, mspwatch_event::ActionClass::Delete);
}

#[test]
fn source_addresses_are_kept_as_written_even_when_not_valid_ip() {
    let mut record = common::cloudtrail("backup.amazonaws.com", "DeleteRecoveryPoint", json!({}));
    record["sourceIPAddress"] = json!("225.01.00.16");
    record["awsRegion"] = json!("apiso-northsouth-3r");
    assert_eq!(common::event_of(&record).source_ip.as_deref(), Some("225.01.00.16"));
}

//! Table-driven tests of every vendor mapping: canonical actions, CloudTrail calls with and
//! without parameter refinements, and OCSF operations and activities.

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions panic on broken fixtures

mod common;

use mspwatch_event::{ActionClass, ActorType, Outcome};
use serde_json::{json, Value};
use ActionClass::{Config, Delete, Encrypt, Export, Login, Read, Restore, Run, Weaken};

const BACKUP: &str = "backup.amazonaws.com";
const KMS: &str = "kms.amazonaws.com";
const S3: &str = "s3.amazonaws.com";
const EC2: &str = "ec2.amazonaws.com";
const RDS: &str = "rds.amazonaws.com";

/// The record's tenant, as `common::cloudtrail` writes it.
const TENANT: &str = "210987654321";
const FOREIGN: &str = "999988887777";

#[test]
fn canonical_actions_map_to_their_classes() {
    let cases = [
        ("backup.delete", Delete),
        ("recovery_point.delete", Delete),
        ("snapshot.delete", Delete),
        ("vault.delete", Delete),
        ("plan.delete", Delete),
        ("copy.delete", Delete),
        ("encryption.key_change", Encrypt),
        ("key.delete", Encrypt),
        ("key.disable", Encrypt),
        ("encryption.disable", Encrypt),
        ("backup.reencrypt", Encrypt),
        ("backup.export", Export),
        ("backup.download", Export),
        ("snapshot.share", Export),
        ("backup.share", Export),
        ("restore.foreign", Export),
        ("immutability.disable", Weaken),
        ("vault_lock.remove", Weaken),
        ("retention.shorten", Weaken),
        ("versioning.suspend", Weaken),
        ("approval.disable", Weaken),
        ("mfa.disable", Weaken),
        ("access_policy.open", Weaken),
        ("backup.run", Run),
        ("vault.read", Read),
        ("recovery_point.list", Read),
        ("backup.restore", Restore),
        ("login", Login),
        ("vault.create", Config),
        ("schedule.update", Config),
    ];
    for (action, class) in cases {
        let mut record = common::canonical();
        record["action"] = json!(action);
        assert_eq!(common::event_of(&record).class, class, "{action}");
    }
}

#[test]
fn canonical_class_override_wins_over_the_table() {
    let mut record = common::canonical();
    record["action"] = json!("vendor.purge_everything");
    record["class"] = json!("delete");
    assert_eq!(common::event_of(&record).class, Delete);
    record["class"] = json!("obliterate");
    assert_eq!(common::reject(record.to_string().as_bytes()).0, "invalid_field");
}

#[test]
fn cloudtrail_fixed_calls_map_to_their_classes() {
    let cases = [
        (BACKUP, "DeleteRecoveryPoint", Delete),
        (BACKUP, "DeleteBackupVault", Delete),
        (BACKUP, "DeleteBackupPlan", Delete),
        (BACKUP, "DeleteBackupSelection", Delete),
        (BACKUP, "UpdateRecoveryPointLifecycle", Weaken),
        (BACKUP, "PutBackupVaultAccessPolicy", Weaken),
        (BACKUP, "DeleteBackupVaultLockConfiguration", Weaken),
        (BACKUP, "ExportBackupPlanTemplate", Export),
        (BACKUP, "ListBackupVaults", Read),
        (BACKUP, "ListRecoveryPointsByBackupVault", Read),
        (BACKUP, "DescribeBackupVault", Read),
        (BACKUP, "GetBackupPlan", Read),
        (BACKUP, "StartBackupJob", Run),
        (KMS, "ScheduleKeyDeletion", Encrypt),
        (KMS, "DisableKey", Encrypt),
        (KMS, "PutKeyPolicy", Encrypt),
        (S3, "DeleteObject", Delete),
        (S3, "DeleteObjects", Delete),
        (S3, "DeleteBucket", Delete),
        (S3, "PutObjectLockConfiguration", Weaken),
        (S3, "PutBucketEncryption", Encrypt),
        (S3, "DeleteBucketEncryption", Encrypt),
        (S3, "PutBucketLifecycle", Weaken),
        (S3, "PutBucketLifecycleConfiguration", Weaken),
        (EC2, "DeleteSnapshot", Delete),
        (RDS, "DeleteDBSnapshot", Delete),
        (RDS, "DeleteDBClusterSnapshot", Delete),
    ];
    for (source, name, class) in cases {
        let event = common::event_of(&common::cloudtrail(source, name, json!({})));
        assert_eq!(event.class, class, "{source} {name}");
        assert!(event.target_accounts.is_empty(), "{source} {name}");
    }
}

#[test]
fn cloudtrail_unknown_calls_are_never_rejected() {
    let cases = [
        ("ec2.amazonaws.com", "DescribeInstances", Read),
        ("s3.amazonaws.com", "HeadBucket", Read),
        ("iam.amazonaws.com", "ListUsers", Read),
        ("secretsmanager.amazonaws.com", "GetSecretValue", Read),
        ("signin.amazonaws.com", "ConsoleLogin", Login),
        ("sts.amazonaws.com", "AssumeRole", Login),
        ("sts.amazonaws.com", "AssumeRoleWithSAML", Login),
        ("sts.amazonaws.com", "GetSessionToken", Login),
        ("iam.amazonaws.com", "CreateAccessKey", Config),
        ("example.amazonaws.com", "FrobnicateWidget", Config),
    ];
    for (source, name, class) in cases {
        let event = common::event_of(&common::cloudtrail(source, name, Value::Null));
        assert_eq!(event.class, class, "{source} {name}");
    }
}

/// (source, name, request parameters, additional event data, class, target accounts)
type Refined = (&'static str, &'static str, Value, Value, ActionClass, Vec<&'static str>);

#[test]
fn cloudtrail_parameter_refinements_change_the_class() {
    let vault = |account: &str| format!("arn:aws:backup:eu-west-1:{account}:backup-vault:copy");
    let point = |account: &str| format!("arn:aws:backup:eu-west-1:{account}:recovery-point:rp-1");
    let role = |account: &str| format!("arn:aws:iam::{account}:role/BackupRestore");
    let key = |account: &str| format!("arn:aws:kms:eu-west-1:{account}:key/k-1");
    let cases: Vec<Refined> = vec![
        (
            BACKUP,
            "StartCopyJob",
            json!({"destinationBackupVaultArn": vault(FOREIGN)}),
            Value::Null,
            Export,
            vec![FOREIGN],
        ),
        (
            BACKUP,
            "StartCopyJob",
            json!({"destinationBackupVaultArn": vault(TENANT)}),
            Value::Null,
            Run,
            vec![],
        ),
        (BACKUP, "StartCopyJob", json!({}), Value::Null, Run, vec![]),
        (
            BACKUP,
            "StartRestoreJob",
            json!({"recoveryPointArn": point(TENANT), "iamRoleArn": role(TENANT)}),
            Value::Null,
            Restore,
            vec![],
        ),
        (
            BACKUP,
            "StartRestoreJob",
            json!({"recoveryPointArn": point(TENANT), "iamRoleArn": role(FOREIGN)}),
            Value::Null,
            Export,
            vec![FOREIGN],
        ),
        (
            KMS,
            "CreateGrant",
            json!({"granteePrincipal": FOREIGN}),
            Value::Null,
            Encrypt,
            vec![FOREIGN],
        ),
        (
            KMS,
            "CreateGrant",
            json!({"granteePrincipal": role(FOREIGN)}),
            Value::Null,
            Encrypt,
            vec![FOREIGN],
        ),
        (
            KMS,
            "CreateGrant",
            json!({"granteePrincipal": role(TENANT)}),
            Value::Null,
            Config,
            vec![],
        ),
        (
            KMS,
            "CreateGrant",
            json!({"granteePrincipal": "backup.amazonaws.com"}),
            Value::Null,
            Config,
            vec![],
        ),
        (
            S3,
            "PutBucketVersioning",
            json!({"bucketName": "b", "VersioningConfiguration": {"Status": "Suspended"}}),
            Value::Null,
            Weaken,
            vec![],
        ),
        (
            S3,
            "PutBucketVersioning",
            json!({"bucketName": "b", "VersioningConfiguration": {"Status": "Enabled"}}),
            Value::Null,
            Config,
            vec![],
        ),
        (
            S3,
            "PutBucketVersioning",
            json!({"VersioningConfiguration": {"Status": "Enabled", "MfaDelete": "Disabled"}}),
            Value::Null,
            Weaken,
            vec![],
        ),
        (
            S3,
            "CopyObject",
            json!({"bucketName": "b", "x-amz-server-side-encryption-customer-algorithm": "AES256"}),
            Value::Null,
            Encrypt,
            vec![],
        ),
        (
            S3,
            "CopyObject",
            json!({"bucketName": "b"}),
            json!({"SSEApplied": "SSE_C"}),
            Encrypt,
            vec![],
        ),
        (
            S3,
            "CopyObject",
            json!({"bucketName": "b", "x-amz-server-side-encryption-aws-kms-key-id": key(FOREIGN)}),
            Value::Null,
            Encrypt,
            vec![FOREIGN],
        ),
        (
            S3,
            "CopyObject",
            json!({"bucketName": "b", "x-amz-server-side-encryption-aws-kms-key-id": key(TENANT)}),
            Value::Null,
            Run,
            vec![],
        ),
        (
            S3,
            "CopyObject",
            json!({"bucketName": "b"}),
            json!({"SSEApplied": "SSE_S3"}),
            Run,
            vec![],
        ),
        (
            EC2,
            "ModifySnapshotAttribute",
            json!({"createVolumePermission": {"add": {"items": [{"userId": FOREIGN}]}}}),
            Value::Null,
            Export,
            vec![FOREIGN],
        ),
        (
            EC2,
            "ModifySnapshotAttribute",
            json!({"createVolumePermission": {"add": {"items": [{"group": "all"}]}}}),
            Value::Null,
            Export,
            vec!["all"],
        ),
        (
            EC2,
            "ModifySnapshotAttribute",
            json!({"createVolumePermission": {"remove": {"items": [{"userId": FOREIGN}]}}}),
            Value::Null,
            Config,
            vec![],
        ),
        (
            RDS,
            "ModifyDBSnapshotAttribute",
            json!({"attributeName": "restore", "valuesToAdd": [FOREIGN, "all"]}),
            Value::Null,
            Export,
            vec![FOREIGN, "all"],
        ),
        (
            RDS,
            "ModifyDBSnapshotAttribute",
            json!({"attributeName": "restore", "valuesToRemove": [FOREIGN]}),
            Value::Null,
            Config,
            vec![],
        ),
        (
            RDS,
            "ModifyDBClusterSnapshotAttribute",
            json!({"attributeName": "restore", "valuesToAdd": [FOREIGN]}),
            Value::Null,
            Export,
            vec![FOREIGN],
        ),
        (
            RDS,
            "ModifyDBClusterSnapshotAttribute",
            json!({"valuesToAdd": []}),
            Value::Null,
            Config,
            vec![],
        ),
    ];
    for (source, name, params, additional, class, targets) in cases {
        let mut record = common::cloudtrail(source, name, params.clone());
        record["additionalEventData"] = additional;
        let event = common::event_of(&record);
        assert_eq!(event.class, class, "{name} {params}");
        assert_eq!(event.target_accounts, targets, "{name} {params}");
    }
}

#[test]
fn cloudtrail_get_object_is_an_export_with_bytes_transferred_out() {
    let params = json!({"bucketName": "acme-backups", "key": "full.tar"});
    for (written, bytes) in [
        (json!(52_428_800_000.0), Some(52_428_800_000)),
        (json!("1024"), Some(1024)),
        (json!(7), Some(7)),
        (Value::Null, None),
    ] {
        let mut record = common::cloudtrail(S3, "GetObject", params.clone());
        record["additionalEventData"] = json!({"bytesTransferredOut": written});
        let event = common::event_of(&record);
        assert_eq!((event.class, event.bytes), (Export, bytes), "{written}");
        assert_eq!(event.resource.as_ref().unwrap().kind, "object");
    }
}

#[test]
fn cloudtrail_credential_is_source_identity_then_role_session_then_arn_then_principal() {
    let assumed = json!({
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLE:ops17",
        "arn": "arn:aws:sts::210987654321:assumed-role/NorthwindMSPAdmin/ops17",
        "accountId": "210987654321",
        "accessKeyId": "ASIAEXAMPLE",
        "sessionContext": {"sessionIssuer": {
            "type": "Role", "arn": "arn:aws:iam::210987654321:role/ops/NorthwindMSPAdmin",
            "accountId": "210987654321", "userName": "NorthwindMSPAdmin"}}
    });
    let mut with_source = assumed.clone();
    with_source["sessionContext"]["sourceIdentity"] = json!("ops17@northwind.example");
    let mut no_issuer = assumed.clone();
    no_issuer["sessionContext"] = json!({});
    let cases = [
        (
            with_source,
            "ops17@northwind.example",
            ActorType::User,
            Some("ops17@northwind.example"),
            Some("NorthwindMSPAdmin"),
        ),
        (
            assumed,
            "role/ops/NorthwindMSPAdmin/ops17",
            ActorType::User,
            Some("ops17"),
            Some("NorthwindMSPAdmin"),
        ),
        (
            no_issuer,
            "role/NorthwindMSPAdmin/ops17",
            ActorType::User,
            Some("ops17"),
            Some("NorthwindMSPAdmin"),
        ),
        (
            json!({"type": "IAMUser", "principalId": "AIDA1", "userName": "christophe",
            "arn": "arn:aws:iam::111122223333:user/christophe", "accessKeyId": "AKIAEXAMPLE"}),
            "arn:aws:iam::111122223333:user/christophe",
            ActorType::ApiKey,
            Some("christophe"),
            None,
        ),
        (
            json!({"type": "IAMUser", "principalId": "AIDA1", "userName": "christophe",
            "arn": "arn:aws:iam::111122223333:user/christophe", "accessKeyId": "ASIAEXAMPLE"}),
            "arn:aws:iam::111122223333:user/christophe",
            ActorType::User,
            Some("christophe"),
            None,
        ),
        (
            json!({"type": "AWSAccount", "principalId": "AIDA2", "accountId": "111122223333"}),
            "AIDA2",
            ActorType::User,
            None,
            None,
        ),
        (
            json!({"type": "AWSService", "invokedBy": "backup.amazonaws.com"}),
            "backup.amazonaws.com",
            ActorType::Service,
            None,
            None,
        ),
    ];
    for (identity, id, kind, name, via_role) in cases {
        let mut record = common::cloudtrail(BACKUP, "DeleteRecoveryPoint", json!({}));
        record["userIdentity"] = identity.clone();
        let event = common::event_of(&record);
        assert_eq!(event.actor.id, id, "{identity}");
        assert_eq!(event.actor.kind, kind, "{identity}");
        assert_eq!(event.actor.name.as_deref(), name, "{identity}");
        assert_eq!(event.via_role.as_deref(), via_role, "{identity}");
    }
}

#[test]
fn cloudtrail_user_name_alone_never_identifies_a_credential() {
    let mut record = common::cloudtrail(BACKUP, "DeleteRecoveryPoint", json!({}));
    record["userIdentity"] = json!({"type": "IAMUser", "userName": "christophe"});
    assert_eq!(common::reject(record.to_string().as_bytes()).0, "missing_field");
}

#[test]
fn cloudtrail_tenant_is_the_recipient_else_the_caller_account() {
    let mut record = common::cloudtrail(BACKUP, "DeleteRecoveryPoint", json!({}));
    record["recipientAccountId"] = json!("345678901234");
    assert_eq!(common::event_of(&record).tenant_ids, ["345678901234"]);
    record.as_object_mut().unwrap().remove("recipientAccountId");
    assert_eq!(common::event_of(&record).tenant_ids, [TENANT]);
    record["userIdentity"].as_object_mut().unwrap().remove("accountId");
    assert_eq!(common::reject(record.to_string().as_bytes()).0, "missing_field");
}

#[test]
fn cloudtrail_failure_keeps_the_error_code_and_digest_records_are_skipped() {
    let mut record = common::cloudtrail(BACKUP, "DeleteBackupVault", json!({}));
    record["errorCode"] = json!("AccessDeniedException");
    record["errorMessage"] = json!("User is not authorized");
    let event = common::event_of(&record);
    assert_eq!(
        (event.outcome, event.error.as_deref()),
        (Outcome::Failure, Some("AccessDeniedException"))
    );
    assert_eq!(event.class, Delete);

    let digest = r#"{"awsAccountId":"1","digestStartTime":"2026-11-02T10:00:00Z","logFiles":[]}"#;
    let decoded = mspwatch_event::decode::decode_record(digest.as_bytes()).unwrap();
    assert_eq!(decoded, mspwatch_event::decode::Decoded::Skipped("cloudtrail_digest"));
}

#[test]
fn cloudtrail_event_without_event_id_gets_a_stable_digest_id() {
    let mut record = common::cloudtrail(BACKUP, "DeleteBackupVault", json!({}));
    record.as_object_mut().unwrap().remove("eventID");
    let first = common::event_of(&record);
    let second = common::event_of(&record);
    assert!(first.event_id.starts_with("sha256:"));
    assert_eq!(first.event_id.len(), "sha256:".len() + 64);
    assert_eq!(first.event_id, second.event_id);
}

#[test]
fn ocsf_operations_use_the_cloudtrail_table_and_otherwise_the_activity() {
    let cases = [
        (Some("DeleteRecoveryPoint"), 2, Delete),
        (Some("ExportBackup"), 2, Export),
        (Some("ScheduleKeyDeletion"), 3, Encrypt),
        (Some("CreateWidget"), 1, Config),
        (Some("ReadWidget"), 2, Read),
        (Some("UpdateWidget"), 3, Config),
        (Some("RemoveWidget"), 4, Delete),
        (None, 4, Delete),
        (None, 99, Config),
        (None, 0, Config),
    ];
    for (operation, activity, class) in cases {
        let mut record = common::ocsf();
        record["activity_id"] = json!(activity);
        match operation {
            Some(operation) => record["api"]["operation"] = json!(operation),
            None => drop(record.as_object_mut().unwrap().remove("api")),
        }
        let event = common::event_of(&record);
        assert_eq!(event.class, class, "{operation:?} {activity}");
    }
}

#[test]
fn ocsf_fields_map_to_the_event() {
    let mut record = common::ocsf();
    record["status_id"] = json!(2);
    record["status_detail"] = json!("AccessDenied");
    record["http_request"] = json!({"user_agent": "console/1.0"});
    let event = common::event_of(&record);
    assert_eq!(event.outcome, Outcome::Failure);
    assert_eq!(event.error.as_deref(), Some("AccessDenied"));
    assert_eq!(event.actor.id, "cred-ops-17");
    assert_eq!(event.actor.name.as_deref(), Some("ops17"));
    assert_eq!(event.msp_id.as_deref(), Some("msp-northwind"));
    assert_eq!(event.product.as_deref(), Some("Backup Console"));
    assert_eq!(event.user_agent.as_deref(), Some("console/1.0"));
    assert_eq!(
        event.resource.as_ref().map(|r| (r.kind.as_str(), r.id.as_str())),
        Some(("recovery_point", "rp-9921"))
    );

    let mut record = common::ocsf();
    record["metadata"] = json!({"product": {"name": "Backup Console"}});
    record["cloud"] = json!({"account": {"uid": "210987654321"}});
    record["actor"]["user"]["account"]["uid"] = json!("210987654321");
    let event = common::event_of(&record);
    assert_eq!(event.tenant_ids, ["210987654321"]);
    assert_eq!(event.msp_id, None, "the user's own account is not an msp");
    assert!(event.event_id.starts_with("sha256:"));
}

#[test]
fn ocsf_other_classes_are_skipped_and_a_missing_tenant_is_refused() {
    let mut record = common::ocsf();
    record["class_uid"] = json!(3002);
    let decoded = mspwatch_event::decode::decode_record(record.to_string().as_bytes()).unwrap();
    assert_eq!(decoded, mspwatch_event::decode::Decoded::Skipped("ocsf_other_class"));

    let mut record = common::ocsf();
    record["metadata"] = json!({"uid": "x"});
    assert_eq!(common::reject(record.to_string().as_bytes()).0, "missing_field");
}

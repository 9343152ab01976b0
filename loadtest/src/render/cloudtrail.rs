//! The CloudTrail record: an MSP role session acting in the tenant's account.

use serde::Serialize;
use serde_json::{json, Value};

use super::{Context, RenderError};
use crate::action::Action;
use crate::clock::{rfc3339_seconds, HOUR_MS};
use crate::ids::{event_uuid, mix64};
use crate::world::Role;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    event_version: &'static str,
    user_identity: UserIdentity<'a>,
    event_time: String,
    event_source: &'static str,
    event_name: &'static str,
    aws_region: &'static str,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: &'a str,
    user_agent: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<String>,
    request_parameters: Value,
    response_elements: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_event_data: Option<Value>,
    #[serde(rename = "requestID")]
    request_id: String,
    #[serde(rename = "eventID")]
    event_id: String,
    read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    resources: Option<Value>,
    event_type: &'static str,
    management_event: bool,
    recipient_account_id: &'a str,
    event_category: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    principal_id: String,
    arn: String,
    account_id: &'a str,
    access_key_id: String,
    session_context: SessionContext<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionContext<'a> {
    source_identity: &'a str,
    session_issuer: SessionIssuer<'a>,
    attributes: Attributes,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionIssuer<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    principal_id: String,
    arn: String,
    account_id: &'a str,
    user_name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Attributes {
    creation_date: String,
    mfa_authenticated: &'static str,
}

/// Writes the CloudTrail record.
pub(super) fn write(context: &Context<'_>, out: &mut Vec<u8>) -> Result<(), RenderError> {
    let activity = context.activity;
    let name = activity.action.cloudtrail();
    let account = context.tenant.account.as_str();
    let failed = activity.error.is_some();
    let login = activity.action == Action::Login;
    let record = Record {
        event_version: "1.09",
        user_identity: user_identity(context),
        event_time: rfc3339_seconds(activity.time_ms),
        event_source: name.source,
        event_name: name.name,
        aws_region: context.tenant.region,
        source_ip_address: context.source_ip(),
        user_agent: context.user_agent(),
        error_code: (failed && !login).then_some(error_code(activity.action)),
        error_message: failed.then(|| error_message(context)),
        request_parameters: request_parameters(context),
        response_elements: if failed && !login { Value::Null } else { response_elements(context) },
        additional_event_data: additional_event_data(context),
        request_id: event_uuid(context.world.seed, context.seq, 2),
        event_id: event_uuid(context.world.seed, context.seq, 1),
        read_only: name.read_only,
        resources: resources(context),
        event_type: if login { "AwsConsoleSignIn" } else { "AwsApiCall" },
        management_event: !name.data_event,
        recipient_account_id: account,
        event_category: if name.data_event { "Data" } else { "Management" },
    };
    serde_json::to_writer(out, &record)?;
    Ok(())
}

fn role_name<'a>(context: &Context<'a>) -> &'a str {
    match context.actor.role {
        Role::Human => &context.msp.admin_role,
        _ => &context.msp.automation_role,
    }
}

fn user_identity<'a>(context: &Context<'a>) -> UserIdentity<'a> {
    let role = role_name(context);
    let account = context.tenant.account.as_str();
    let role_id = format!("AROA{:016X}", mix64(hash_text(role) ^ hash_text(account)));
    let session_hour = context.activity.time_ms.div_euclid(HOUR_MS);
    let key_number = mix64(
        (context.activity.actor as u64) << 32
            ^ (context.activity.tenant as u64)
            ^ session_hour as u64,
    );
    UserIdentity {
        kind: "AssumedRole",
        principal_id: format!("{role_id}:{}", context.actor.session),
        arn: format!("arn:aws:sts::{account}:assumed-role/{role}/{}", context.actor.session),
        account_id: account,
        access_key_id: format!("ASIA{key_number:016X}"),
        session_context: SessionContext {
            source_identity: &context.actor.id,
            session_issuer: SessionIssuer {
                kind: "Role",
                principal_id: role_id,
                arn: format!("arn:aws:iam::{account}:role/{role}"),
                account_id: account,
                user_name: role,
            },
            attributes: Attributes {
                creation_date: rfc3339_seconds(session_hour * HOUR_MS),
                mfa_authenticated: if context.actor.role == Role::Human { "true" } else { "false" },
            },
        },
    }
}

fn hash_text(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn recovery_point_arn(context: &Context<'_>) -> String {
    let number = context.resource_number();
    format!(
        "arn:aws:backup:{}:{}:recovery-point:{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        context.tenant.region,
        context.tenant.account,
        number >> 32,
        (number >> 16) & 0xffff,
        number & 0xfff,
        (number >> 20) & 0xfff,
        mix64(number) & 0xffff_ffff_ffff
    )
}

fn key_arn(context: &Context<'_>) -> String {
    let number = mix64(hash_text(&context.tenant.account));
    format!(
        "arn:aws:kms:{}:{}:key/{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        context.tenant.region,
        context.tenant.account,
        number >> 32,
        (number >> 16) & 0xffff,
        number & 0xfff,
        (number >> 20) & 0xfff,
        mix64(number) & 0xffff_ffff_ffff
    )
}

fn object_key(context: &Context<'_>) -> String {
    let number = context.resource_number();
    format!("exports/{}/{:010x}.tar.zst", context.tenant.word, number >> 24)
}

fn request_parameters(context: &Context<'_>) -> Value {
    let vault = context.vault_name();
    match context.activity.action {
        Action::Login => Value::Null,
        Action::BackupList => json!({"backupVaultName": vault, "maxResults": 100}),
        Action::BackupRead | Action::BackupDelete | Action::RecoveryPointDelete => {
            json!({"backupVaultName": vault, "recoveryPointArn": recovery_point_arn(context)})
        }
        Action::BackupRun => json!({
            "backupVaultName": vault,
            "resourceArn": format!(
                "arn:aws:ec2:{}:{}:volume/vol-0{:016x}",
                context.tenant.region, context.tenant.account, context.resource_number()
            ),
            "iamRoleArn": format!(
                "arn:aws:iam::{}:role/service-role/BackupDefaultServiceRole", context.tenant.account
            ),
        }),
        Action::BackupRestore => json!({
            "recoveryPointArn": recovery_point_arn(context),
            "iamRoleArn": format!(
                "arn:aws:iam::{}:role/service-role/BackupDefaultServiceRole", context.tenant.account
            ),
        }),
        Action::RetentionApply => json!({
            "backupPlanId": format!("{:08x}", context.resource_number() >> 32),
            "backupPlan": {"backupPlanName": format!("{}-daily", context.tenant.word)},
        }),
        Action::VaultTag => json!({
            "resourceArn": format!(
                "arn:aws:backup:{}:{}:backup-vault:{vault}", context.tenant.region, context.tenant.account
            ),
            "tags": "HIDDEN_DUE_TO_SECURITY_REASONS",
        }),
        Action::BackupExport | Action::BackupDownload => json!({
            "bucketName": context.bucket_name(),
            "Host": format!("{}.s3.{}.amazonaws.com", context.bucket_name(), context.tenant.region),
            "key": object_key(context),
        }),
        Action::SnapshotShare => {
            let items: Vec<Value> =
                context.target_account().into_iter().map(|user| json!({"userId": user})).collect();
            json!({
                "snapshotId": context.resource_id(),
                "attributeType": "CREATE_VOLUME_PERMISSION",
                "createVolumePermission": {"add": {"items": items}},
            })
        }
        Action::KeyChange => json!({
            "bucketName": context.bucket_name(),
            "Host": format!("{}.s3.{}.amazonaws.com", context.bucket_name(), context.tenant.region),
            "encryption": "",
            "ServerSideEncryptionConfiguration": {"Rule": {
                "ApplyServerSideEncryptionByDefault": {
                    "SSEAlgorithm": "aws:kms",
                    "KMSMasterKeyID": key_arn(context),
                },
                "BucketKeyEnabled": true,
            }},
        }),
        Action::KeyDisable => json!({"keyId": key_arn(context)}),
        Action::KeyDelete => json!({"keyId": key_arn(context), "pendingWindowInDays": 7}),
        Action::ImmutabilityDisable => json!({"backupVaultName": vault}),
    }
}

fn response_elements(context: &Context<'_>) -> Value {
    let number = context.resource_number();
    match context.activity.action {
        Action::Login => json!({
            "ConsoleLogin": if context.activity.error.is_some() { "Failure" } else { "Success" }
        }),
        Action::BackupRun => json!({
            "backupJobId": format!("{:08X}-{:04X}-{:04X}", number >> 32, (number >> 16) & 0xffff, number & 0xffff),
            "recoveryPointArn": recovery_point_arn(context),
            "isParent": false,
        }),
        Action::BackupRestore => json!({"restoreJobId": format!("{:08X}", number >> 32)}),
        Action::SnapshotShare => json!({"_return": true}),
        Action::KeyDelete => json!({
            "keyId": key_arn(context),
            "keyState": "PendingDeletion",
            "pendingWindowInDays": 7,
        }),
        _ => Value::Null,
    }
}

fn additional_event_data(context: &Context<'_>) -> Option<Value> {
    match context.activity.action {
        Action::Login => Some(json!({
            "LoginTo": "https://console.aws.amazon.com/backup/home",
            "MobileVersion": "No",
            "MFAUsed": "Yes",
        })),
        Action::BackupExport | Action::BackupDownload => {
            // CloudTrail writes byte counts as floating-point numbers.
            let bytes = context.activity.bytes.unwrap_or(0) as f64;
            Some(json!({
                "SignatureVersion": "SigV4",
                "bytesTransferredIn": 0.0,
                "bytesTransferredOut": bytes,
                "x-amz-id-2": format!("{:016x}", context.resource_number()),
            }))
        }
        _ => None,
    }
}

fn resources(context: &Context<'_>) -> Option<Value> {
    match context.activity.action {
        Action::BackupExport | Action::BackupDownload => Some(json!([
            {"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::{}/{}", context.bucket_name(), object_key(context))},
            {"accountId": context.tenant.account, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{}", context.bucket_name())},
        ])),
        Action::KeyChange => Some(json!([
            {"accountId": context.tenant.account, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{}", context.bucket_name())},
        ])),
        Action::KeyDelete | Action::KeyDisable => Some(json!([
            {"accountId": context.tenant.account, "type": "AWS::KMS::Key", "ARN": key_arn(context)},
        ])),
        _ => None,
    }
}

fn error_code(action: Action) -> &'static str {
    match action.cloudtrail().source {
        "s3.amazonaws.com" | "ec2.amazonaws.com" => "AccessDenied",
        _ => "AccessDeniedException",
    }
}

fn error_message(context: &Context<'_>) -> String {
    let name = context.activity.action.cloudtrail();
    if context.activity.action == Action::Login {
        return "Failed authentication".to_string();
    }
    let service = name.source.split('.').next().unwrap_or("backup");
    format!(
        "User: arn:aws:sts::{}:assumed-role/{}/{} is not authorized to perform: {service}:{}",
        context.tenant.account,
        role_name(context),
        context.actor.session,
        name.name
    )
}

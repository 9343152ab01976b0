//! AWS CloudTrail records: the credential, tenant and class of each call.
//!
//! The class comes from the tables in [`crate::mapping`]; this module reads the request
//! parameters that a refinement needs, with a typed reader per refinement so that only the
//! calls that use a parameter depend on its shape.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::fields::{self, Num, Obj, Str};
use super::{digest_id, from_json, skip, DecodeError, Decoded};
use crate::event::{Actor, ActorType, Event, Outcome, Resource, SourceFormat};
use crate::mapping::{self, Refinement};

/// A CloudTrail record, with the fields mspwatch reads.
#[derive(Debug, Deserialize)]
struct Record<'a> {
    #[serde(borrow, rename = "eventTime")]
    event_time: Option<Num<'a>>,
    #[serde(borrow, rename = "eventSource")]
    event_source: Option<Str<'a>>,
    #[serde(borrow, rename = "eventName")]
    event_name: Option<Str<'a>>,
    #[serde(borrow, rename = "eventID")]
    event_id: Option<Str<'a>>,
    #[serde(borrow, rename = "sourceIPAddress")]
    source_ip: Option<Str<'a>>,
    #[serde(borrow, rename = "userAgent")]
    user_agent: Option<Str<'a>>,
    #[serde(borrow, rename = "userIdentity")]
    user_identity: Option<Obj<UserIdentity<'a>>>,
    #[serde(borrow, rename = "requestParameters")]
    request_parameters: Option<&'a RawValue>,
    #[serde(borrow, rename = "additionalEventData")]
    additional_event_data: Option<&'a RawValue>,
    #[serde(borrow, rename = "errorCode")]
    error_code: Option<Str<'a>>,
    #[serde(borrow, rename = "errorMessage")]
    error_message: Option<Str<'a>>,
    #[serde(borrow, rename = "recipientAccountId")]
    recipient_account_id: Option<Str<'a>>,
    #[serde(rename = "digestStartTime")]
    digest_start_time: Option<IgnoredAny>,
}

/// `userIdentity`: who made the call.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct UserIdentity<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Str<'a>>,
    #[serde(borrow, rename = "principalId")]
    principal_id: Option<Str<'a>>,
    #[serde(borrow)]
    arn: Option<Str<'a>>,
    #[serde(borrow, rename = "accountId")]
    account_id: Option<Str<'a>>,
    #[serde(borrow, rename = "accessKeyId")]
    access_key_id: Option<Str<'a>>,
    #[serde(borrow, rename = "userName")]
    user_name: Option<Str<'a>>,
    #[serde(borrow, rename = "invokedBy")]
    invoked_by: Option<Str<'a>>,
    #[serde(borrow, rename = "sessionContext")]
    session_context: Option<Obj<SessionContext<'a>>>,
}

/// `userIdentity.sessionContext`.
#[derive(Debug, Default, Deserialize)]
struct SessionContext<'a> {
    #[serde(borrow, rename = "sourceIdentity")]
    source_identity: Option<Str<'a>>,
    #[serde(borrow, rename = "sessionIssuer")]
    session_issuer: Option<Obj<SessionIssuer<'a>>>,
}

/// `userIdentity.sessionContext.sessionIssuer`: the role behind an assumed-role session.
#[derive(Debug, Default, Deserialize)]
struct SessionIssuer<'a> {
    #[serde(borrow)]
    arn: Option<Str<'a>>,
    #[serde(borrow, rename = "userName")]
    user_name: Option<Str<'a>>,
}

/// Decodes a record already detected as CloudTrail.
pub(super) fn decode(text: &str) -> Result<Decoded, DecodeError> {
    let record: Record<'_> = serde_json::from_str(text).map_err(|error| from_json(&error))?;
    let Some(event_name) = record.event_name else {
        if record.digest_start_time.is_some() {
            return Ok(Decoded::Skipped(skip::CLOUDTRAIL_DIGEST));
        }
        return Err(fields::missing("eventName"));
    };
    let action = fields::required_id("eventName", Some(event_name))?;
    let event_source = fields::optional_text("eventSource", record.event_source)?;
    let source = event_source.as_deref().unwrap_or_default();
    let time_ms = fields::time_ms("eventTime", record.event_time)?;
    let identity = record.user_identity.map(|Obj(identity)| identity).unwrap_or_default();
    let tenant = tenant(record.recipient_account_id, identity.account_id.clone())?;
    let event_id = match record.event_id {
        Some(id) => fields::required_id("eventID", Some(id))?,
        None => digest_id(text.as_bytes()),
    };
    let (outcome, error) = outcome(record.error_code, record.error_message)?;
    let resource = match record.request_parameters {
        Some(params) => scan_resource(params, source)?,
        None => None,
    };

    let mut class = mapping::cloudtrail_class(source, &action);
    let mut target_accounts = Vec::new();
    let mut bytes = None;
    if let Some((refinement, refined_class)) = mapping::cloudtrail_refinement(source, &action) {
        let parameters = Parameters {
            tenant: &tenant,
            request: record.request_parameters,
            additional: record.additional_event_data,
        };
        let refined = refine(refinement, &parameters)?;
        if refined.holds {
            class = refined_class;
        }
        target_accounts = refined.target_accounts;
        bytes = refined.bytes;
    }

    let credential = credential(&identity)?;
    Ok(Decoded::Event(Box::new(Event {
        event_id,
        time_ms,
        msp_id: None,
        tenant_ids: vec![tenant],
        actor: credential.actor,
        action,
        class,
        resource,
        outcome,
        error,
        object_count: None,
        bytes,
        source_ip: fields::optional_text("sourceIPAddress", record.source_ip)?,
        user_agent: fields::optional_text("userAgent", record.user_agent)?,
        product: event_source.map(|source| product(&source).to_owned()),
        via_role: credential.via_role,
        target_accounts,
        format: SourceFormat::Cloudtrail,
        supplier_tier: None,
        target_external: false,
    })))
}

/// The service name of an `eventSource`, without `.amazonaws.com`.
fn product(event_source: &str) -> &str {
    event_source.strip_suffix(".amazonaws.com").unwrap_or(event_source)
}

/// The tenant: `recipientAccountId`, else `userIdentity.accountId`.
fn tenant(recipient: Option<Str<'_>>, caller: Option<Str<'_>>) -> Result<String, DecodeError> {
    let recipient = fields::optional_text("recipientAccountId", recipient)?;
    let caller = fields::optional_text("userIdentity.accountId", caller)?;
    recipient.or(caller).ok_or_else(|| fields::missing("recipientAccountId"))
}

/// A call with `errorCode` (or, lacking one, `errorMessage`) failed.
fn outcome(
    code: Option<Str<'_>>,
    message: Option<Str<'_>>,
) -> Result<(Outcome, Option<String>), DecodeError> {
    if let Some(code) = fields::optional_text("errorCode", code)? {
        return Ok((Outcome::Failure, Some(code)));
    }
    if let Some(message) = fields::optional_text("errorMessage", message)? {
        return Ok((Outcome::Failure, Some(message)));
    }
    Ok((Outcome::Success, None))
}

/// The credential behind a call and the role it came through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Credential {
    /// The actor as the event records it.
    pub(crate) actor: Actor,
    /// The role name of an assumed-role session.
    pub(crate) via_role: Option<String>,
}

/// Derives the credential from `userIdentity`.
///
/// The id is, in order: `sessionContext.sourceIdentity`; for an assumed role, the issuer
/// role without its account plus the session name (`role/NorthwindMSPAdmin/ops17`); the
/// principal ARN; `principalId`; `invokedBy`. A bare `userName` is never the id, because the
/// same name exists in unrelated accounts.
pub(crate) fn credential(identity: &UserIdentity<'_>) -> Result<Credential, DecodeError> {
    let kind = identity.kind.as_ref().map(Str::as_str).unwrap_or_default();
    let context = identity.session_context.as_ref().map(|Obj(context)| context);
    let issuer = context.and_then(|context| context.session_issuer.as_ref()).map(|Obj(i)| i);
    let source_identity = text_of(context.and_then(|context| context.source_identity.as_ref()));
    let arn = text_of(identity.arn.as_ref());
    let assumed = (kind == "AssumedRole").then(|| assumed_role(arn, issuer)).flatten();

    let id = source_identity
        .map(str::to_owned)
        .or_else(|| assumed.as_ref().map(|role| format!("{}/{}", role.role_path, role.session)))
        .or_else(|| arn.map(str::to_owned))
        .or_else(|| text_of(identity.principal_id.as_ref()).map(str::to_owned))
        .or_else(|| text_of(identity.invoked_by.as_ref()).map(str::to_owned))
        .ok_or_else(|| fields::missing("userIdentity.arn"))?;
    fields::check_length("userIdentity", &id)?;

    let access_key = text_of(identity.access_key_id.as_ref()).unwrap_or_default();
    let actor_kind = match kind {
        "AWSService" => ActorType::Service,
        "IAMUser" if access_key.starts_with("AKIA") => ActorType::ApiKey,
        _ => ActorType::User,
    };
    let name = source_identity
        .or_else(|| text_of(identity.user_name.as_ref()))
        .or_else(|| assumed.as_ref().map(|role| role.session))
        .map(str::to_owned);
    if let Some(name) = &name {
        fields::check_length("userIdentity.userName", name)?;
    }
    let via_role = assumed.map(|role| role.role_name);
    if let Some(role) = &via_role {
        fields::check_length("sessionContext.sessionIssuer.userName", role)?;
    }
    Ok(Credential { actor: Actor { id, kind: actor_kind, name }, via_role })
}

/// The parts of an assumed-role identity.
struct AssumedRole<'a> {
    /// `role/<path/>Name`, the issuer ARN's resource without the account.
    role_path: String,
    /// The role's name.
    role_name: String,
    /// The session name, the last segment of the assumed-role ARN.
    session: &'a str,
}

fn assumed_role<'a>(
    arn: Option<&'a str>,
    issuer: Option<&SessionIssuer<'_>>,
) -> Option<AssumedRole<'a>> {
    let (session_role, session) =
        arn.and_then(arn_resource)?.strip_prefix("assumed-role/")?.rsplit_once('/')?;
    let issuer_path = issuer.and_then(|issuer| text_of(issuer.arn.as_ref())).and_then(arn_resource);
    let role_path = issuer_path.map_or_else(|| format!("role/{session_role}"), str::to_owned);
    let role_name = issuer
        .and_then(|issuer| text_of(issuer.user_name.as_ref()))
        .or_else(|| issuer_path.and_then(|path| path.rsplit('/').next()))
        .filter(|name| !name.is_empty())
        .unwrap_or(session_role)
        .to_owned();
    Some(AssumedRole { role_path, role_name, session })
}

fn text_of<'s>(value: Option<&'s Str<'_>>) -> Option<&'s str> {
    value.map(Str::as_str).filter(|text| !text.is_empty())
}

/// The resource part of an ARN (`role/Name` in `arn:aws:iam::123:role/Name`).
fn arn_resource(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    (parts.next()? == "arn").then_some(())?;
    parts.nth(4).filter(|resource| !resource.is_empty())
}

/// The account of an ARN (`123` in `arn:aws:iam::123:role/Name`).
fn arn_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    (parts.next()? == "arn").then_some(())?;
    parts.nth(3).filter(|account| !account.is_empty())
}

/// The account of a principal written as an ARN or as a bare twelve-digit account id.
fn principal_account(principal: &str) -> Option<&str> {
    let bare = principal.len() == 12 && principal.bytes().all(|byte| byte.is_ascii_digit());
    if bare {
        return Some(principal);
    }
    arn_account(principal)
}

/// What a refinement reads.
struct Parameters<'a> {
    tenant: &'a str,
    request: Option<&'a RawValue>,
    additional: Option<&'a RawValue>,
}

/// What a refinement found.
#[derive(Debug, Default)]
struct Refined {
    holds: bool,
    target_accounts: Vec<String>,
    bytes: Option<u64>,
}

impl Refined {
    /// Holds when `account` is another account than the tenant, which becomes the target.
    fn foreign(account: Option<&str>, tenant: &str) -> Result<Refined, DecodeError> {
        let mut refined = Refined::default();
        if let Some(account) = account.filter(|account| *account != tenant) {
            refined.holds = true;
            fields::check_length("target account", account)?;
            refined.target_accounts.push(account.to_owned());
        }
        Ok(refined)
    }
}

fn refine(refinement: Refinement, parameters: &Parameters<'_>) -> Result<Refined, DecodeError> {
    let tenant = parameters.tenant;
    let request = parameters.request;
    match refinement {
        Refinement::CopyToForeignVault => {
            let copy: CopyJob<'_> = parse_parameters("requestParameters", request)?;
            let arn = text_of(copy.destination_vault_arn.as_ref());
            Refined::foreign(arn.and_then(arn_account), tenant)
        }
        Refinement::RestoreAcrossAccounts => {
            let restore: RestoreJob<'_> = parse_parameters("requestParameters", request)?;
            let mut refined = Refined::default();
            for arn in [&restore.recovery_point_arn, &restore.iam_role_arn] {
                let account = text_of(arn.as_ref()).and_then(arn_account);
                let found = Refined::foreign(account, tenant)?;
                refined.holds |= found.holds;
                merge(&mut refined.target_accounts, found.target_accounts);
            }
            Ok(refined)
        }
        Refinement::GrantToForeignAccount => {
            let grant: Grant<'_> = parse_parameters("requestParameters", request)?;
            let principal = text_of(grant.grantee_principal.as_ref());
            Refined::foreign(principal.and_then(principal_account), tenant)
        }
        Refinement::VersioningSuspended => {
            let versioning: Versioning<'_> = parse_parameters("requestParameters", request)?;
            let Some(Obj(config)) = versioning.configuration else {
                return Ok(Refined::default());
            };
            let suspended = text_of(config.status.as_ref()) == Some("Suspended")
                || text_of(config.mfa_delete.as_ref()) == Some("Disabled");
            Ok(Refined { holds: suspended, ..Refined::default() })
        }
        Refinement::CopyWithForeignKey => copy_with_foreign_key(parameters),
        Refinement::BytesTransferredOut => {
            let data: Transfer<'_> =
                parse_parameters("additionalEventData", parameters.additional)?;
            let bytes = fields::count("additionalEventData.bytesTransferredOut", data.bytes_out)?;
            Ok(Refined { holds: true, bytes, ..Refined::default() })
        }
        Refinement::Ec2SnapshotShared => {
            let share: SnapshotPermission<'_> = parse_parameters("requestParameters", request)?;
            let mut targets = Vec::new();
            let added = share.permission.and_then(|Obj(permission)| permission.add);
            let items = added.and_then(|Obj(add)| add.items).unwrap_or_default();
            for Obj(item) in items {
                let group = item.group.filter(|group| group.as_str() == "all");
                let target = item.user_id.or(group);
                fields::id_list("createVolumePermission.add.items", target, &mut targets)?;
            }
            Ok(Refined { holds: !targets.is_empty(), target_accounts: targets, bytes: None })
        }
        Refinement::RdsSnapshotShared => {
            let share: SnapshotAttribute<'_> = parse_parameters("requestParameters", request)?;
            let mut targets = Vec::new();
            fields::id_list("valuesToAdd", share.values_to_add.unwrap_or_default(), &mut targets)?;
            Ok(Refined { holds: !targets.is_empty(), target_accounts: targets, bytes: None })
        }
    }
}

fn copy_with_foreign_key(parameters: &Parameters<'_>) -> Result<Refined, DecodeError> {
    let copy: CopyObject<'_> = parse_parameters("requestParameters", parameters.request)?;
    let applied: SseApplied<'_> = parse_parameters("additionalEventData", parameters.additional)?;
    let customer_key = text_of(copy.customer_algorithm.as_ref()).is_some()
        || text_of(applied.sse_applied.as_ref()) == Some("SSE_C");
    let key_account = text_of(copy.kms_key_id.as_ref()).and_then(arn_account);
    let mut refined = Refined::foreign(key_account, parameters.tenant)?;
    refined.holds |= customer_key;
    Ok(refined)
}

fn merge(into: &mut Vec<String>, from: Vec<String>) {
    for account in from {
        if !into.contains(&account) {
            into.push(account);
        }
    }
}

/// Reads a parameters object with a typed reader; absent or null reads as all-absent.
fn parse_parameters<'a, T>(field: &str, raw: Option<&'a RawValue>) -> Result<T, DecodeError>
where
    T: Deserialize<'a> + Default,
{
    let Some(raw) = raw else { return Ok(T::default()) };
    serde_json::from_str::<Option<Obj<T>>>(raw.get())
        .map(|parsed| parsed.map(|Obj(value)| value).unwrap_or_default())
        .map_err(|error| {
            let inner = from_json(&error);
            DecodeError::new(inner.reason, format!("in `{field}`: {}", inner.detail))
        })
}

#[derive(Debug, Default, Deserialize)]
struct CopyJob<'a> {
    #[serde(borrow, rename = "destinationBackupVaultArn")]
    destination_vault_arn: Option<Str<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct RestoreJob<'a> {
    #[serde(borrow, rename = "recoveryPointArn")]
    recovery_point_arn: Option<Str<'a>>,
    #[serde(borrow, rename = "iamRoleArn")]
    iam_role_arn: Option<Str<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct Grant<'a> {
    #[serde(borrow, rename = "granteePrincipal")]
    grantee_principal: Option<Str<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct Versioning<'a> {
    #[serde(borrow, rename = "VersioningConfiguration")]
    configuration: Option<Obj<VersioningConfiguration<'a>>>,
}

#[derive(Debug, Default, Deserialize)]
struct VersioningConfiguration<'a> {
    #[serde(borrow, rename = "Status")]
    status: Option<Str<'a>>,
    #[serde(borrow, rename = "MfaDelete")]
    mfa_delete: Option<Str<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct CopyObject<'a> {
    #[serde(borrow, rename = "x-amz-server-side-encryption-customer-algorithm")]
    customer_algorithm: Option<Str<'a>>,
    #[serde(borrow, rename = "x-amz-server-side-encryption-aws-kms-key-id")]
    kms_key_id: Option<Str<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct SseApplied<'a> {
    #[serde(borrow, rename = "SSEApplied")]
    sse_applied: Option<Str<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct Transfer<'a> {
    #[serde(borrow, rename = "bytesTransferredOut")]
    bytes_out: Option<Num<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct SnapshotPermission<'a> {
    #[serde(borrow, rename = "createVolumePermission")]
    permission: Option<Obj<VolumePermission<'a>>>,
}

#[derive(Debug, Default, Deserialize)]
struct VolumePermission<'a> {
    #[serde(borrow)]
    add: Option<Obj<PermissionItems<'a>>>,
}

#[derive(Debug, Default, Deserialize)]
struct PermissionItems<'a> {
    #[serde(borrow)]
    items: Option<Vec<Obj<PermissionItem<'a>>>>,
}

#[derive(Debug, Default, Deserialize)]
struct PermissionItem<'a> {
    #[serde(borrow, rename = "userId")]
    user_id: Option<Str<'a>>,
    #[serde(borrow)]
    group: Option<Str<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct SnapshotAttribute<'a> {
    #[serde(borrow, rename = "valuesToAdd")]
    values_to_add: Option<Vec<Str<'a>>>,
}

/// Request parameters that name what a call acted on, in order of preference, with the
/// resource type each gives.
const RESOURCE_PARAMETERS: &[(&str, &str)] = &[
    ("recoveryPointArn", "recovery_point"),
    ("backupVaultName", "vault"),
    ("backupPlanId", "plan"),
    ("selectionId", "selection"),
    ("keyId", "key"),
    ("snapshotId", "snapshot"),
    ("dBSnapshotIdentifier", "db_snapshot"),
    ("dBClusterSnapshotIdentifier", "db_cluster_snapshot"),
    ("bucketName", "bucket"),
    ("instanceId", "instance"),
    ("secretId", "secret"),
    ("roleName", "role"),
    ("userName", "user"),
];

/// The S3 object key, joined to `bucketName` as `bucket/key` for S3 calls.
const OBJECT_KEY_PARAMETER: &str = "key";

/// Finds the resource in `requestParameters`: the first of [`RESOURCE_PARAMETERS`] holding a
/// string. Values of other types are passed over, since the same key means different things
/// in different services.
fn scan_resource(params: &RawValue, event_source: &str) -> Result<Option<Resource>, DecodeError> {
    let mut deserializer = serde_json::Deserializer::from_str(params.get());
    let found = deserializer.deserialize_any(ResourceScan).map_err(|error| from_json(&error))?;
    let Some(found) = found else { return Ok(None) };
    let Some((index, id)) = found
        .values
        .iter()
        .enumerate()
        .find_map(|(index, value)| value.as_ref().map(|value| (index, value)))
    else {
        return Ok(None);
    };
    let kind = RESOURCE_PARAMETERS.get(index).map_or("resource", |(_, kind)| kind);
    let object_key = found.object_key.as_ref().filter(|_| kind == "bucket");
    let resource = match object_key {
        Some(key) if event_source == "s3.amazonaws.com" => {
            Resource { kind: "object".to_owned(), id: format!("{}/{}", id.as_str(), key.as_str()) }
        }
        _ => Resource { kind: (*kind).to_owned(), id: id.as_str().to_owned() },
    };
    fields::check_length("requestParameters", &resource.id)?;
    Ok(Some(resource))
}

/// The resource parameters found in one `requestParameters` object.
struct FoundResource<'a> {
    values: Vec<Option<Str<'a>>>,
    object_key: Option<Str<'a>>,
}

/// Reads a `requestParameters` object for [`RESOURCE_PARAMETERS`]; anything else reads as no
/// resource.
struct ResourceScan;

impl<'de> Visitor<'de> for ResourceScan {
    type Value = Option<FoundResource<'de>>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("request parameters")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found =
            FoundResource { values: vec![None; RESOURCE_PARAMETERS.len()], object_key: None };
        let mut seen = vec![false; RESOURCE_PARAMETERS.len() + 1];
        while let Some(key) = map.next_key::<Str<'de>>()? {
            let index = RESOURCE_PARAMETERS
                .iter()
                .position(|(name, _)| *name == key.as_str())
                .or_else(|| (key.as_str() == OBJECT_KEY_PARAMETER).then_some(seen.len() - 1));
            let Some(index) = index else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let already_seen = seen.get_mut(index).map(|seen| std::mem::replace(seen, true));
            if already_seen == Some(true) {
                return Err(de::Error::custom(format_args!("duplicate field `{}`", key.as_str())));
            }
            let value = map.next_value::<Lenient<'de>>()?.0;
            match found.values.get_mut(index) {
                Some(slot) => *slot = value,
                None => found.object_key = value,
            }
        }
        Ok(Some(found))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// A string, or `None` for a value of any other type.
struct Lenient<'a>(Option<Str<'a>>);

impl<'de> Deserialize<'de> for Lenient<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LenientVisitor;

        impl<'de> Visitor<'de> for LenientVisitor {
            type Value = Lenient<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("any value")
            }

            fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
                Ok(Lenient(Some(Str(value.into()))))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                Ok(Lenient(Some(Str(value.to_owned().into()))))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Lenient(None))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Lenient(None))
            }

            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }

            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }

            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }

            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
        }

        deserializer.deserialize_any(LenientVisitor)
    }
}

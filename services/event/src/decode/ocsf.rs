//! OCSF API Activity records (class 6003).

use serde::Deserialize;

use super::fields::{self, Num, Obj, Str};
use super::{digest_id, from_json, skip, DecodeError, Decoded};
use crate::class::ActionClass;
use crate::event::{Actor, ActorType, Event, Outcome, Resource, SourceFormat};
use crate::mapping;

/// The OCSF class mspwatch reads: API Activity.
const API_ACTIVITY_CLASS: i64 = 6003;

/// `status_id` of a failed call.
const STATUS_FAILURE: i64 = 2;

/// An OCSF record, with the fields mspwatch reads.
#[derive(Debug, Deserialize)]
struct Record<'a> {
    class_uid: Option<i64>,
    activity_id: Option<i64>,
    #[serde(borrow)]
    time: Option<Num<'a>>,
    #[serde(borrow)]
    metadata: Option<Obj<Metadata<'a>>>,
    #[serde(borrow)]
    actor: Option<Obj<ActorObject<'a>>>,
    #[serde(borrow)]
    api: Option<Obj<Api<'a>>>,
    #[serde(borrow)]
    cloud: Option<Obj<Cloud<'a>>>,
    status_id: Option<i64>,
    #[serde(borrow)]
    status_detail: Option<Str<'a>>,
    #[serde(borrow)]
    src_endpoint: Option<Obj<Endpoint<'a>>>,
    #[serde(borrow)]
    http_request: Option<Obj<HttpRequest<'a>>>,
    #[serde(borrow)]
    resources: Option<Vec<Obj<ResourceObject<'a>>>>,
}

#[derive(Debug, Deserialize)]
struct Metadata<'a> {
    #[serde(borrow)]
    uid: Option<Str<'a>>,
    #[serde(borrow)]
    tenant_uid: Option<Str<'a>>,
    #[serde(borrow)]
    product: Option<Obj<Named<'a>>>,
}

#[derive(Debug, Deserialize)]
struct Named<'a> {
    #[serde(borrow)]
    name: Option<Str<'a>>,
}

#[derive(Debug, Deserialize)]
struct ActorObject<'a> {
    #[serde(borrow)]
    user: Option<Obj<User<'a>>>,
}

#[derive(Debug, Deserialize)]
struct User<'a> {
    #[serde(borrow)]
    uid: Option<Str<'a>>,
    #[serde(borrow)]
    name: Option<Str<'a>>,
    #[serde(borrow, rename = "type")]
    kind: Option<Str<'a>>,
    type_id: Option<i64>,
    #[serde(borrow)]
    credential_uid: Option<Str<'a>>,
    #[serde(borrow)]
    account: Option<Obj<Account<'a>>>,
}

#[derive(Debug, Deserialize)]
struct Account<'a> {
    #[serde(borrow)]
    uid: Option<Str<'a>>,
}

#[derive(Debug, Deserialize)]
struct Api<'a> {
    #[serde(borrow)]
    operation: Option<Str<'a>>,
    #[serde(borrow)]
    service: Option<Obj<Named<'a>>>,
}

#[derive(Debug, Deserialize)]
struct Cloud<'a> {
    #[serde(borrow)]
    account: Option<Obj<Account<'a>>>,
}

#[derive(Debug, Deserialize)]
struct Endpoint<'a> {
    #[serde(borrow)]
    ip: Option<Str<'a>>,
}

#[derive(Debug, Deserialize)]
struct HttpRequest<'a> {
    #[serde(borrow)]
    user_agent: Option<Str<'a>>,
}

#[derive(Debug, Deserialize)]
struct ResourceObject<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Str<'a>>,
    #[serde(borrow)]
    uid: Option<Str<'a>>,
}

/// Decodes a record already detected as OCSF.
pub(super) fn decode(text: &str) -> Result<Decoded, DecodeError> {
    let record: Record<'_> = serde_json::from_str(text).map_err(|error| from_json(&error))?;
    if record.class_uid != Some(API_ACTIVITY_CLASS) {
        return Ok(Decoded::Skipped(skip::OCSF_OTHER_CLASS));
    }
    let metadata = record.metadata.map(|Obj(metadata)| metadata);
    let (event_id, tenant_uid, product) = match metadata {
        Some(metadata) => {
            let product = metadata.product.and_then(|Obj(product)| product.name);
            (metadata.uid, metadata.tenant_uid, product)
        }
        None => (None, None, None),
    };
    let event_id = match event_id {
        Some(id) => fields::required_id("metadata.uid", Some(id))?,
        None => digest_id(text.as_bytes()),
    };
    let time_ms = fields::time_ms("time", record.time)?;
    let cloud_account = record.cloud.and_then(|Obj(cloud)| cloud.account).and_then(|Obj(a)| a.uid);
    let tenant = match fields::optional_text("metadata.tenant_uid", tenant_uid)? {
        Some(tenant) => tenant,
        None => fields::required_id("cloud.account.uid", cloud_account)?,
    };
    let user = record.actor.and_then(|Obj(actor)| actor.user).map(|Obj(user)| user);
    let Some(user) = user else { return Err(fields::missing("actor.user.uid")) };
    let user_account = user.account.as_ref().and_then(|Obj(account)| account.uid.clone());
    let msp_id = fields::optional_text("actor.user.account.uid", user_account)?
        .filter(|account| *account != tenant);
    let actor = actor(user)?;

    let api = record.api.map(|Obj(api)| api);
    let (operation, service) = match api {
        Some(api) => (api.operation, api.service.and_then(|Obj(service)| service.name)),
        None => (None, None),
    };
    let operation = fields::optional_text("api.operation", operation)?;
    let service = fields::optional_text("api.service.name", service)?;
    let class = operation
        .as_deref()
        .and_then(|operation| mapping::operation_class(operation, service.as_deref()))
        .unwrap_or_else(|| activity_class(record.activity_id));
    let action = operation.unwrap_or_else(|| activity_name(record.activity_id).to_owned());

    let outcome = match record.status_id {
        Some(STATUS_FAILURE) => Outcome::Failure,
        _ => Outcome::Success,
    };
    let error = fields::optional_text("status_detail", record.status_detail)?
        .filter(|_| outcome == Outcome::Failure);
    let resource = record.resources.and_then(|resources| resources.into_iter().next());

    Ok(Decoded::Event(Box::new(Event {
        event_id,
        time_ms,
        msp_id,
        tenant_ids: vec![tenant],
        actor,
        action,
        class,
        resource: resource.map(|Obj(resource)| resource_of(resource)).transpose()?.flatten(),
        outcome,
        error,
        object_count: None,
        bytes: None,
        source_ip: endpoint_ip(record.src_endpoint)?,
        user_agent: user_agent(record.http_request)?,
        product: match fields::optional_text("metadata.product.name", product)? {
            Some(product) => Some(product),
            None => service,
        },
        via_role: None,
        target_accounts: Vec::new(),
        format: SourceFormat::Ocsf,
        supplier_tier: None,
        target_external: false,
    })))
}

/// The class of an `activity_id`: 2 (read) is a read, 4 (delete) a delete, anything else
/// (create, update, unknown, other) a configuration change.
fn activity_class(activity_id: Option<i64>) -> ActionClass {
    match activity_id {
        Some(2) => ActionClass::Read,
        Some(4) => ActionClass::Delete,
        _ => ActionClass::Config,
    }
}

/// The action name used when a record has no `api.operation`.
fn activity_name(activity_id: Option<i64>) -> &'static str {
    match activity_id {
        Some(1) => "create",
        Some(2) => "read",
        Some(3) => "update",
        Some(4) => "delete",
        _ => "other",
    }
}

fn actor(user: User<'_>) -> Result<Actor, DecodeError> {
    let system = user.type_id == Some(3)
        || user.kind.as_ref().is_some_and(|kind| matches!(kind.as_str(), "System" | "Service"));
    let long_lived_key =
        user.credential_uid.as_ref().is_some_and(|key| key.as_str().starts_with("AKIA"));
    let kind = if system {
        ActorType::Service
    } else if long_lived_key {
        ActorType::ApiKey
    } else {
        ActorType::User
    };
    Ok(Actor {
        id: fields::required_id("actor.user.uid", user.uid)?,
        kind,
        name: fields::optional_text("actor.user.name", user.name)?,
    })
}

fn resource_of(resource: ResourceObject<'_>) -> Result<Option<Resource>, DecodeError> {
    let Some(id) = fields::optional_text("resources[0].uid", resource.uid)? else {
        return Ok(None);
    };
    let kind = fields::optional_text("resources[0].type", resource.kind)?;
    Ok(Some(Resource { kind: kind.unwrap_or_else(|| "resource".to_owned()), id }))
}

fn endpoint_ip(endpoint: Option<Obj<Endpoint<'_>>>) -> Result<Option<String>, DecodeError> {
    fields::optional_text("src_endpoint.ip", endpoint.and_then(|Obj(endpoint)| endpoint.ip))
}

fn user_agent(request: Option<Obj<HttpRequest<'_>>>) -> Result<Option<String>, DecodeError> {
    let agent = request.and_then(|Obj(request)| request.user_agent);
    fields::optional_text("http_request.user_agent", agent)
}

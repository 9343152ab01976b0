//! The canonical schema: mspwatch's own event format, read in one borrowing pass.

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::fields::{self, Num, Obj, Str};
use super::{detect, DecodeError, Format};
use crate::class::ActionClass;
use crate::event::{Actor, ActorType, Event, Outcome, Resource, SourceFormat};
use crate::mapping;

/// A canonical record as written, plus the keys that mark the other formats.
#[derive(Debug, Deserialize)]
pub(super) struct Record<'a> {
    #[serde(borrow)]
    event_id: Option<Str<'a>>,
    #[serde(borrow)]
    time: Option<Num<'a>>,
    #[serde(borrow)]
    msp_id: Option<Str<'a>>,
    #[serde(borrow)]
    tenant_id: Option<Str<'a>>,
    #[serde(borrow)]
    tenant_ids: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    actor: Option<Obj<RecordActor<'a>>>,
    #[serde(borrow)]
    action: Option<Str<'a>>,
    #[serde(borrow)]
    class: Option<Str<'a>>,
    #[serde(borrow)]
    resource: Option<Obj<RecordResource<'a>>>,
    #[serde(borrow)]
    outcome: Option<Str<'a>>,
    #[serde(borrow)]
    error: Option<Str<'a>>,
    #[serde(borrow)]
    object_count: Option<Num<'a>>,
    #[serde(borrow)]
    bytes: Option<Num<'a>>,
    #[serde(borrow)]
    source_ip: Option<Str<'a>>,
    #[serde(borrow)]
    user_agent: Option<Str<'a>>,
    #[serde(borrow)]
    product: Option<Str<'a>>,
    #[serde(borrow)]
    target_accounts: Option<Vec<Str<'a>>>,
    #[serde(rename = "eventVersion")]
    event_version: Option<IgnoredAny>,
    #[serde(rename = "eventSource")]
    event_source: Option<IgnoredAny>,
    #[serde(rename = "eventName")]
    event_name: Option<IgnoredAny>,
    #[serde(rename = "digestStartTime")]
    digest_start_time: Option<IgnoredAny>,
    class_uid: Option<IgnoredAny>,
    #[serde(rename = "Records")]
    records: Option<IgnoredAny>,
}

/// The canonical `actor` object.
#[derive(Debug, Deserialize)]
struct RecordActor<'a> {
    #[serde(borrow)]
    id: Option<Str<'a>>,
    #[serde(borrow, rename = "type")]
    kind: Option<Str<'a>>,
    #[serde(borrow)]
    name: Option<Str<'a>>,
}

/// The canonical `resource` object.
#[derive(Debug, Deserialize)]
struct RecordResource<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Str<'a>>,
    #[serde(borrow)]
    id: Option<Str<'a>>,
}

impl Record<'_> {
    /// The format the record's keys mark.
    pub(super) fn format(&self) -> Format {
        let cloudtrail = self.event_version.is_some()
            || self.event_source.is_some()
            || self.event_name.is_some()
            || self.digest_start_time.is_some();
        detect(self.class_uid.is_some(), cloudtrail, self.records.is_some())
    }
}

/// Builds the event of a canonical record, checking every field.
pub(super) fn build(record: Record<'_>) -> Result<Event, DecodeError> {
    let event_id = fields::required_id("event_id", record.event_id)?;
    let time_ms = fields::time_ms("time", record.time)?;
    let tenant_ids = tenants(record.tenant_id, record.tenant_ids)?;
    let actor = actor(record.actor)?;
    let action = fields::required_id("action", record.action)?;
    let class = match record.class {
        None => mapping::canonical_class(&action),
        Some(name) => ActionClass::from_name(name.as_str())
            .ok_or_else(|| fields::invalid("class", format_args!("`{}` is unknown", name.0)))?,
    };
    let outcome = match record.outcome.as_ref().map(Str::as_str) {
        Some("success") => Outcome::Success,
        Some("failure") => Outcome::Failure,
        Some(other) => {
            return Err(fields::invalid(
                "outcome",
                format_args!("`{other}` is not success|failure"),
            ))
        }
        None => return Err(fields::missing("outcome")),
    };
    let mut target_accounts = Vec::new();
    fields::id_list(
        "target_accounts",
        record.target_accounts.into_iter().flatten(),
        &mut target_accounts,
    )?;

    Ok(Event {
        event_id,
        time_ms,
        msp_id: fields::optional_text("msp_id", record.msp_id)?,
        tenant_ids,
        actor,
        action,
        class,
        resource: resource(record.resource)?,
        outcome,
        error: fields::optional_text("error", record.error)?,
        object_count: fields::count("object_count", record.object_count)?,
        bytes: fields::count("bytes", record.bytes)?,
        source_ip: fields::optional_text("source_ip", record.source_ip)?,
        user_agent: fields::optional_text("user_agent", record.user_agent)?,
        product: fields::optional_text("product", record.product)?,
        via_role: None,
        target_accounts,
        format: SourceFormat::Canonical,
        supplier_tier: None,
        target_external: false,
    })
}

/// `tenant_id` followed by `tenant_ids`, de-duplicated; at least one is required.
fn tenants(
    single: Option<Str<'_>>,
    many: Option<Vec<Str<'_>>>,
) -> Result<Vec<String>, DecodeError> {
    let mut tenant_ids = Vec::with_capacity(1);
    if let Some(single) = single {
        tenant_ids.push(fields::required_id("tenant_id", Some(single))?);
    }
    fields::id_list("tenant_ids", many.into_iter().flatten(), &mut tenant_ids)?;
    if tenant_ids.is_empty() {
        return Err(fields::missing("tenant_id"));
    }
    Ok(tenant_ids)
}

fn actor(actor: Option<Obj<RecordActor<'_>>>) -> Result<Actor, DecodeError> {
    let Some(Obj(actor)) = actor else { return Err(fields::missing("actor")) };
    let kind = match actor.kind.as_ref().map(Str::as_str) {
        Some("user") => ActorType::User,
        Some("api_key") => ActorType::ApiKey,
        Some("service") => ActorType::Service,
        Some(other) => {
            let why = format_args!("`{other}` is not user|api_key|service");
            return Err(fields::invalid("actor.type", why));
        }
        None => return Err(fields::missing("actor.type")),
    };
    Ok(Actor {
        id: fields::required_id("actor.id", actor.id)?,
        kind,
        name: fields::optional_text("actor.name", actor.name)?,
    })
}

fn resource(resource: Option<Obj<RecordResource<'_>>>) -> Result<Option<Resource>, DecodeError> {
    let Some(Obj(resource)) = resource else { return Ok(None) };
    Ok(Some(Resource {
        kind: fields::required_id("resource.type", resource.kind)?,
        id: fields::required_id("resource.id", resource.id)?,
    }))
}

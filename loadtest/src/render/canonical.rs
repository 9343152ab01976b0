//! The canonical record: mspwatch's own schema, one JSON object per line.

use serde::Serialize;

use super::{Context, RenderError};
use crate::clock::rfc3339_millis;
use crate::ids::event_id;

#[derive(Serialize)]
struct Record<'a> {
    event_id: String,
    time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    msp_id: Option<&'a str>,
    tenant_id: &'a str,
    actor: Actor<'a>,
    action: &'static str,
    resource: Resource,
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    object_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    target_accounts: Vec<&'a str>,
    source_ip: &'a str,
    user_agent: &'a str,
    product: &'static str,
}

#[derive(Serialize)]
struct Actor<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
}

#[derive(Serialize)]
struct Resource {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
}

/// Writes the canonical record.
pub(super) fn write(context: &Context<'_>, out: &mut Vec<u8>) -> Result<(), RenderError> {
    let activity = context.activity;
    let record = Record {
        event_id: event_id(context.world.seed, context.seq),
        time: rfc3339_millis(activity.time_ms),
        msp_id: context.include_msp.then_some(context.msp.id.as_str()),
        tenant_id: &context.tenant.id,
        actor: Actor {
            id: &context.actor.id,
            kind: context.actor.kind.as_str(),
            name: &context.actor.name,
        },
        action: activity.action.canonical(),
        resource: Resource { kind: activity.action.resource_type(), id: context.resource_id() },
        outcome: if activity.error.is_some() { "failure" } else { "success" },
        error: activity.error,
        object_count: activity.object_count,
        bytes: activity.bytes,
        target_accounts: context.target_account().into_iter().collect(),
        source_ip: context.source_ip(),
        user_agent: context.user_agent(),
        product: context.msp.product,
    };
    serde_json::to_writer(out, &record)?;
    Ok(())
}

//! The OCSF API Activity record (class 6003), times in epoch milliseconds.

use mspwatch_event::ActorType;
use serde::Serialize;

use super::{Context, RenderError};
use crate::ids::{event_uuid, mix64};

#[derive(Serialize)]
struct Record<'a> {
    class_uid: u32,
    category_uid: u32,
    activity_id: u32,
    activity_name: &'static str,
    type_uid: u32,
    severity_id: u32,
    status_id: u32,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_detail: Option<&'static str>,
    time: i64,
    metadata: Metadata<'a>,
    actor: Actor<'a>,
    api: Api,
    #[serde(skip_serializing_if = "Option::is_none")]
    cloud: Option<Cloud<'a>>,
    src_endpoint: Endpoint<'a>,
    http_request: HttpRequest<'a>,
    resources: [ResourceDetail; 1],
}

#[derive(Serialize)]
struct Metadata<'a> {
    uid: String,
    product: Product,
    version: &'static str,
    tenant_uid: &'a str,
}

#[derive(Serialize)]
struct Product {
    name: &'static str,
    vendor_name: &'static str,
}

#[derive(Serialize)]
struct Actor<'a> {
    user: User<'a>,
}

#[derive(Serialize)]
struct User<'a> {
    uid: &'a str,
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    credential_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<Account<'a>>,
}

#[derive(Serialize)]
struct Account<'a> {
    uid: &'a str,
}

#[derive(Serialize)]
struct Api {
    operation: &'static str,
    service: Service,
}

#[derive(Serialize)]
struct Service {
    name: &'static str,
}

#[derive(Serialize)]
struct Cloud<'a> {
    provider: &'static str,
    account: Account<'a>,
    region: &'static str,
}

#[derive(Serialize)]
struct Endpoint<'a> {
    ip: &'a str,
}

#[derive(Serialize)]
struct HttpRequest<'a> {
    user_agent: &'a str,
}

#[derive(Serialize)]
struct ResourceDetail {
    #[serde(rename = "type")]
    kind: &'static str,
    uid: String,
}

/// Writes the OCSF record.
pub(super) fn write(context: &Context<'_>, out: &mut Vec<u8>) -> Result<(), RenderError> {
    let activity = context.activity;
    let (activity_id, activity_name) = activity.action.ocsf_activity();
    let failed = activity.error.is_some();
    let record = Record {
        class_uid: 6003,
        category_uid: 6,
        activity_id,
        activity_name,
        type_uid: 600_300 + activity_id,
        severity_id: 1,
        status_id: if failed { 2 } else { 1 },
        status: if failed { "Failure" } else { "Success" },
        status_detail: activity.error,
        time: activity.time_ms,
        metadata: Metadata {
            uid: event_uuid(context.world.seed, context.seq, 3),
            product: Product { name: context.msp.product, vendor_name: "Example Backup Co" },
            version: "1.3.0",
            tenant_uid: &context.tenant.id,
        },
        actor: Actor {
            user: User {
                uid: &context.actor.id,
                name: &context.actor.name,
                kind: match context.actor.kind {
                    ActorType::User | ActorType::ApiKey => "User",
                    ActorType::Service => "System",
                },
                credential_uid: (context.actor.kind == ActorType::ApiKey).then(|| {
                    format!(
                        "AKIA{:016X}",
                        mix64(context.activity.actor as u64 ^ context.world.seed)
                    )
                }),
                account: context.include_msp.then_some(Account { uid: &context.msp.id }),
            },
        },
        api: Api {
            operation: activity.action.cloudtrail().name,
            service: Service { name: activity.action.ocsf_service() },
        },
        cloud: context.tenant.is_account.then_some(Cloud {
            provider: "AWS",
            account: Account { uid: &context.tenant.account },
            region: context.tenant.region,
        }),
        src_endpoint: Endpoint { ip: context.source_ip() },
        http_request: HttpRequest { user_agent: context.user_agent() },
        resources: [ResourceDetail {
            kind: activity.action.resource_type(),
            uid: context.resource_id(),
        }],
    };
    serde_json::to_writer(out, &record)?;
    Ok(())
}

//! Event fields that rules can name, and how to read them from an [`Event`].

use mspwatch_event::Event;

/// A field of a normalized event, as rules name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// `event_id`
    EventId,
    /// `msp_id`
    MspId,
    /// `tenant_id`: every tenant the event touched (multi-valued).
    TenantId,
    /// `actor.id`: the credential.
    ActorId,
    /// `actor.type`
    ActorType,
    /// `actor.name`
    ActorName,
    /// `action`: the source's own action name.
    Action,
    /// `class`: the action class.
    Class,
    /// `resource.type`
    ResourceType,
    /// `resource.id`
    ResourceId,
    /// `outcome`: `success` or `failure`.
    Outcome,
    /// `error`
    Error,
    /// `object_count`
    ObjectCount,
    /// `bytes`
    Bytes,
    /// `source_ip`
    SourceIp,
    /// `user_agent`
    UserAgent,
    /// `product`
    Product,
    /// `format`: `canonical`, `cloudtrail` or `ocsf`.
    Format,
    /// `via_role`: the CloudTrail role the credential came through.
    ViaRole,
    /// `target_account`: accounts a resource was shared with (multi-valued).
    TargetAccount,
    /// `target_external`: whether a target account lies outside the MSP's tenants.
    TargetExternal,
    /// `supplier_tier`: the MSP's tier from the directory.
    SupplierTier,
}

/// One value of a field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'e> {
    /// Text.
    Str(&'e str),
    /// A number.
    Num(f64),
    /// A flag.
    Bool(bool),
}

/// The values of a field in one event: none, one, or several for multi-valued fields.
#[derive(Debug, Clone, Copy)]
pub enum Values<'e> {
    /// The field is absent.
    None,
    /// The field has one value.
    One(Value<'e>),
    /// A multi-valued field.
    Many(&'e [String]),
}

impl<'e> Values<'e> {
    /// Whether the field has any value.
    pub fn is_present(&self) -> bool {
        match self {
            Values::None => false,
            Values::One(_) => true,
            Values::Many(values) => !values.is_empty(),
        }
    }

    /// Whether any value satisfies `test`.
    pub fn any(&self, mut test: impl FnMut(Value<'e>) -> bool) -> bool {
        match *self {
            Values::None => false,
            Values::One(value) => test(value),
            Values::Many(values) => values.iter().any(|value| test(Value::Str(value))),
        }
    }

    /// Calls `visit` with each value.
    pub fn for_each(&self, mut visit: impl FnMut(Value<'e>)) {
        match *self {
            Values::None => {}
            Values::One(value) => visit(value),
            Values::Many(values) => values.iter().for_each(|value| visit(Value::Str(value))),
        }
    }
}

impl Field {
    /// Every field, for listing and validation.
    pub const ALL: [Field; 22] = [
        Field::EventId,
        Field::MspId,
        Field::TenantId,
        Field::ActorId,
        Field::ActorType,
        Field::ActorName,
        Field::Action,
        Field::Class,
        Field::ResourceType,
        Field::ResourceId,
        Field::Outcome,
        Field::Error,
        Field::ObjectCount,
        Field::Bytes,
        Field::SourceIp,
        Field::UserAgent,
        Field::Product,
        Field::Format,
        Field::ViaRole,
        Field::TargetAccount,
        Field::TargetExternal,
        Field::SupplierTier,
    ];

    /// The name rules use for the field.
    pub fn name(self) -> &'static str {
        match self {
            Field::EventId => "event_id",
            Field::MspId => "msp_id",
            Field::TenantId => "tenant_id",
            Field::ActorId => "actor.id",
            Field::ActorType => "actor.type",
            Field::ActorName => "actor.name",
            Field::Action => "action",
            Field::Class => "class",
            Field::ResourceType => "resource.type",
            Field::ResourceId => "resource.id",
            Field::Outcome => "outcome",
            Field::Error => "error",
            Field::ObjectCount => "object_count",
            Field::Bytes => "bytes",
            Field::SourceIp => "source_ip",
            Field::UserAgent => "user_agent",
            Field::Product => "product",
            Field::Format => "format",
            Field::ViaRole => "via_role",
            Field::TargetAccount => "target_account",
            Field::TargetExternal => "target_external",
            Field::SupplierTier => "supplier_tier",
        }
    }

    /// Looks a field up by the name rules use.
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|field| field.name() == name)
    }

    /// Whether the field can hold several values in one event.
    pub fn is_multi_valued(self) -> bool {
        matches!(self, Field::TenantId | Field::TargetAccount)
    }

    /// Reads the field from an event.
    pub fn values(self, event: &Event) -> Values<'_> {
        fn text(value: Option<&String>) -> Values<'_> {
            match value {
                Some(value) => Values::One(Value::Str(value)),
                None => Values::None,
            }
        }
        fn number<'e>(value: Option<u64>) -> Values<'e> {
            match value {
                Some(value) => Values::One(Value::Num(value as f64)),
                None => Values::None,
            }
        }

        match self {
            Field::EventId => Values::One(Value::Str(&event.event_id)),
            Field::MspId => text(event.msp_id.as_ref()),
            Field::TenantId => Values::Many(&event.tenant_ids),
            Field::ActorId => Values::One(Value::Str(&event.actor.id)),
            Field::ActorType => Values::One(Value::Str(event.actor.kind.as_str())),
            Field::ActorName => text(event.actor.name.as_ref()),
            Field::Action => Values::One(Value::Str(&event.action)),
            Field::Class => Values::One(Value::Str(event.class.as_str())),
            Field::ResourceType => text(event.resource.as_ref().map(|resource| &resource.kind)),
            Field::ResourceId => text(event.resource.as_ref().map(|resource| &resource.id)),
            Field::Outcome => Values::One(Value::Str(event.outcome.as_str())),
            Field::Error => text(event.error.as_ref()),
            Field::ObjectCount => number(event.object_count),
            Field::Bytes => number(event.bytes),
            Field::SourceIp => text(event.source_ip.as_ref()),
            Field::UserAgent => text(event.user_agent.as_ref()),
            Field::Product => text(event.product.as_ref()),
            Field::Format => Values::One(Value::Str(event.format.as_str())),
            Field::ViaRole => text(event.via_role.as_ref()),
            Field::TargetAccount => Values::Many(&event.target_accounts),
            Field::TargetExternal => Values::One(Value::Bool(event.target_external)),
            Field::SupplierTier => match event.supplier_tier {
                Some(tier) => Values::One(Value::Str(tier.as_str())),
                None => Values::None,
            },
        }
    }
}

//! Writing planned activities as records: canonical JSON, CloudTrail or OCSF API Activity.

mod canonical;
mod cloudtrail;
mod ocsf;

use std::fmt;
use std::str::FromStr;

use crate::activity::Activity;
use crate::ids::mix64;
use crate::world::{ActorProfile, Attacker, MspProfile, TenantProfile, World};

/// A record format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// mspwatch's canonical schema.
    Canonical,
    /// AWS CloudTrail, one record per line.
    Cloudtrail,
    /// OCSF API Activity (class 6003).
    Ocsf,
}

impl Format {
    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Canonical => "canonical",
            Format::Cloudtrail => "cloudtrail",
            Format::Ocsf => "ocsf",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Why a format name could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {0:?} (expected canonical, cloudtrail or ocsf)")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "canonical" => Ok(Format::Canonical),
            "cloudtrail" => Ok(Format::Cloudtrail),
            "ocsf" => Ok(Format::Ocsf),
            other => Err(UnknownFormat(other.to_string())),
        }
    }
}

/// Whether a format can carry every field of the activity; when it cannot, the generator
/// writes the record in canonical form instead.
pub fn can_carry(world: &World, activity: &Activity, format: Format) -> bool {
    match format {
        Format::Canonical => true,
        Format::Cloudtrail => world.tenants.get(activity.tenant).is_some_and(|t| t.is_account),
        Format::Ocsf => activity.bytes.is_none() && activity.target.is_none(),
    }
}

/// Why an activity could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The activity names a credential, tenant or MSP the world does not have.
    #[error("activity refers to an unknown {0}")]
    UnknownReference(&'static str),
    /// JSON serialization failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

/// Everything one record needs, resolved from the world.
pub(crate) struct Context<'w> {
    pub world: &'w World,
    pub activity: &'w Activity,
    pub seq: u64,
    pub include_msp: bool,
    pub msp: &'w MspProfile,
    pub tenant: &'w TenantProfile,
    pub actor: &'w ActorProfile,
    pub attacker: Option<&'w Attacker>,
}

impl<'w> Context<'w> {
    fn new(
        world: &'w World,
        activity: &'w Activity,
        seq: u64,
        include_msp: bool,
    ) -> Result<Self, RenderError> {
        let actor =
            world.actors.get(activity.actor).ok_or(RenderError::UnknownReference("actor"))?;
        let tenant =
            world.tenants.get(activity.tenant).ok_or(RenderError::UnknownReference("tenant"))?;
        let msp = world.msps.get(actor.msp).ok_or(RenderError::UnknownReference("msp"))?;
        let attacker = activity.attacker.and_then(|index| world.attackers.get(index));
        Ok(Context { world, activity, seq, include_msp, msp, tenant, actor, attacker })
    }

    pub fn source_ip(&self) -> &'w str {
        self.attacker.map_or(self.actor.source_ip.as_str(), |attacker| &attacker.source_ip)
    }

    pub fn user_agent(&self) -> &'w str {
        self.attacker.map_or(self.actor.user_agent, |attacker| attacker.user_agent)
    }

    /// A number that identifies the resource acted on, stable for a tenant and nonce.
    pub fn resource_number(&self) -> u64 {
        mix64(((self.activity.tenant as u64) << 40) ^ self.activity.resource_nonce)
    }

    pub fn vault_name(&self) -> String {
        format!("{}-backup-vault", self.tenant.word)
    }

    pub fn bucket_name(&self) -> String {
        format!("{}-backup-exports", self.tenant.word)
    }

    /// The canonical resource id of the activity.
    pub fn resource_id(&self) -> String {
        let number = self.resource_number();
        match self.activity.action.resource_type() {
            "vault" => self.vault_name(),
            "recovery_point" => format!("rp-{:010x}", number >> 24),
            "job" => format!("job-{:010x}", number >> 24),
            "backup" => format!("bk-{}-{:08x}", self.tenant.word, number >> 32),
            "snapshot" => format!("snap-0{:016x}", number),
            "key" => {
                format!("key-{}-{:04x}", self.tenant.word, (self.activity.tenant as u64) & 0xffff)
            }
            _ => "console".to_string(),
        }
    }

    /// The account a resource was shared with.
    pub fn target_account(&self) -> Option<&'w str> {
        let index = self.activity.target?;
        if self.activity.target_external {
            self.world.external_accounts.get(index).map(String::as_str)
        } else {
            self.world.tenants.get(index).map(|tenant| tenant.account.as_str())
        }
    }
}

/// Appends one record, without its line break, to `out`.
pub fn render(
    world: &World,
    activity: &Activity,
    seq: u64,
    format: Format,
    include_msp: bool,
    out: &mut Vec<u8>,
) -> Result<(), RenderError> {
    let context = Context::new(world, activity, seq, include_msp)?;
    match format {
        Format::Canonical => canonical::write(&context, out),
        Format::Cloudtrail => cloudtrail::write(&context, out),
        Format::Ocsf => ocsf::write(&context, out),
    }
}

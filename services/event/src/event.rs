//! The normalized event: one audit record, whatever format it arrived in.

use serde::{Deserialize, Serialize};

use crate::class::ActionClass;
use crate::directory::SupplierTier;

/// One audit record after decoding, in the detector's own terms.
///
/// Decoders fill the observed fields; the engine fills the enrichment fields
/// (`msp_id` when absent, `supplier_tier`, `target_external`) from the directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Identifier unique to the record at its source (canonical `event_id`, CloudTrail
    /// `eventID`, OCSF `metadata.uid`, or a digest of the record when it has none).
    pub event_id: String,
    /// Event time in milliseconds since the Unix epoch, UTC.
    pub time_ms: i64,
    /// The MSP whose credential acted, when the record or the directory says.
    pub msp_id: Option<String>,
    /// Every tenant the action touched; never empty.
    pub tenant_ids: Vec<String>,
    /// The credential that acted.
    pub actor: Actor,
    /// The source's own action name (`backup.delete`, `DeleteRecoveryPoint`, ...).
    pub action: String,
    /// What kind of action this is, for detection.
    pub class: ActionClass,
    /// What was acted on, when known.
    pub resource: Option<Resource>,
    /// Whether the call succeeded; a failure is an attempt.
    pub outcome: Outcome,
    /// The error code or message of a failed call.
    pub error: Option<String>,
    /// Number of objects affected, when the source says.
    pub object_count: Option<u64>,
    /// Bytes moved or affected, when the source says.
    pub bytes: Option<u64>,
    /// Address the call came from, as the source wrote it (not necessarily valid IP).
    pub source_ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Product or service that logged the event (`backup`, `kms`, `s3`, a vendor product).
    pub product: Option<String>,
    /// CloudTrail: the role through which the credential reached the tenant, for MSP lookup.
    pub via_role: Option<String>,
    /// Accounts that a resource was shared with, granted to, or copied towards.
    pub target_accounts: Vec<String>,
    /// The format the record arrived in.
    pub format: SourceFormat,
    /// Enrichment: the MSP's supplier tier, from the directory.
    pub supplier_tier: Option<SupplierTier>,
    /// Enrichment: whether any of `target_accounts` lies outside the MSP's tenants.
    pub target_external: bool,
}

/// The credential behind an action.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    /// Stable identifier of the credential (see the README for how each format derives it).
    pub id: String,
    /// What kind of credential it is.
    #[serde(rename = "type")]
    pub kind: ActorType,
    /// Human-readable name, when known.
    pub name: Option<String>,
}

/// The kind of credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorType {
    /// A person, possibly through an assumed role.
    User,
    /// A long-lived API key.
    ApiKey,
    /// A service or automation identity.
    Service,
}

impl ActorType {
    /// The name used in rules and alerts.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorType::User => "user",
            ActorType::ApiKey => "api_key",
            ActorType::Service => "service",
        }
    }
}

/// What an action touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// Resource kind (`recovery_point`, `vault`, `key`, `bucket`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Resource identifier.
    pub id: String,
}

/// Whether the call succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The call did what it asked.
    Success,
    /// The call was refused or failed: an attempt.
    Failure,
}

impl Outcome {
    /// The name used in rules and alerts.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// The input format a record arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceFormat {
    /// mspwatch's own schema.
    Canonical,
    /// AWS CloudTrail.
    Cloudtrail,
    /// OCSF API Activity (class 6003).
    Ocsf,
}

impl SourceFormat {
    /// The name used in rules and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceFormat::Canonical => "canonical",
            SourceFormat::Cloudtrail => "cloudtrail",
            SourceFormat::Ocsf => "ocsf",
        }
    }
}

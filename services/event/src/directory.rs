//! The directory of MSPs, their supplier tier, their tenants and the roles their staff use.
//!
//! The directory is read from YAML (see `docs/directory.md`) and attributes events: it finds
//! the MSP of an event that does not name one, and says whether the accounts an event shared
//! with lie outside that MSP's tenants.

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::event::Event;

/// How critical a supplier the MSP is to its customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupplierTier {
    /// Compromise halts customers' operations.
    Critical,
    /// Compromise seriously harms customers.
    High,
    /// Everything else.
    Standard,
}

/// One MSP as the directory describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Msp {
    /// The MSP's identifier, as events carry it in `msp_id`.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Supplier tier.
    #[serde(default = "default_tier")]
    pub tier: SupplierTier,
    /// Tenant ids and cloud account ids the MSP manages.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// CloudTrail role names through which the MSP's staff reach tenants.
    #[serde(default)]
    pub cloudtrail_roles: Vec<String>,
}

fn default_tier() -> SupplierTier {
    SupplierTier::Standard
}

/// All MSPs, indexed for attribution.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    msps: Vec<Msp>,
    by_id: HashMap<String, usize>,
    by_tenant: HashMap<String, usize>,
    by_role: HashMap<String, usize>,
}

/// Why a directory was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DirectoryError {
    /// 1-based line of the directory text where the problem is, when known.
    pub line: Option<u64>,
    /// Short, stable reason code (see [`directory_reason`]).
    pub reason: &'static str,
    /// Human-readable detail.
    pub detail: String,
}

impl fmt::Display for DirectoryError {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        if let Some(line) = self.line {
            write!(formatter, "line {line}: ")?;
        }
        write!(formatter, "{}: {}", self.reason, self.detail)
    }
}

/// The stable codes of [`DirectoryError::reason`].
pub mod directory_reason {
    /// Not YAML, or not the directory's shape (a mapping with `msps`, a list of mappings).
    pub const INVALID_YAML: &str = "invalid_yaml";
    /// A key the directory does not define.
    pub const UNKNOWN_KEY: &str = "unknown_key";
    /// A key written twice in one mapping.
    pub const DUPLICATE_KEY: &str = "duplicate_key";
    /// A required key (`msps`, an MSP's `id`) is absent.
    pub const MISSING_FIELD: &str = "missing_field";
    /// A value of the wrong type, an unknown tier, or an empty id, tenant or role.
    pub const INVALID_FIELD: &str = "invalid_field";
    /// Two MSPs with the same id.
    pub const DUPLICATE_MSP: &str = "duplicate_msp";
    /// A tenant listed twice, under one MSP or two.
    pub const DUPLICATE_TENANT: &str = "duplicate_tenant";
    /// A CloudTrail role listed twice, under one MSP or two.
    pub const DUPLICATE_ROLE: &str = "duplicate_role";

    /// Every reason.
    pub const ALL: [&str; 8] = [
        INVALID_YAML,
        UNKNOWN_KEY,
        DUPLICATE_KEY,
        MISSING_FIELD,
        INVALID_FIELD,
        DUPLICATE_MSP,
        DUPLICATE_TENANT,
        DUPLICATE_ROLE,
    ];
}

/// How [`Directory::attribute`] found an event's MSP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attribution {
    /// The record named its MSP.
    Record,
    /// The directory knows the role the credential came through.
    Role,
    /// The directory knows one of the event's tenants.
    Tenant,
    /// Neither the record nor the directory says which MSP acted.
    Unattributed,
}

impl Attribution {
    /// Whether the event has no MSP.
    pub fn is_unattributed(self) -> bool {
        self == Attribution::Unattributed
    }
}

impl Directory {
    /// Reads a directory from YAML: a mapping with `msps`, a list of MSPs with `id`, `name`,
    /// `tier`, `tenants` and `cloudtrail_roles`.
    ///
    /// Unknown keys, duplicate MSP ids, and a tenant or role listed twice are refused, with
    /// the line where they are written.
    pub fn from_yaml(text: &str) -> Result<Directory, DirectoryError> {
        let mut seen = Seen::default();
        let deserializer = serde_yaml_ng::Deserializer::from_str(text);
        let msps = FileSeed { seen: &mut seen }
            .deserialize(deserializer)
            .map_err(|error| yaml_error(&error))?;
        Directory::from_msps(msps)
    }

    /// Builds a directory from MSPs, refusing the same duplicates as [`Directory::from_yaml`]
    /// (with no line).
    pub fn from_msps(msps: Vec<Msp>) -> Result<Directory, DirectoryError> {
        let mut directory = Directory::default();
        for (index, msp) in msps.iter().enumerate() {
            let mut check = Check { seen: &mut directory, index };
            check.insert(Kind::MspId, &msp.id)?;
            for tenant in &msp.tenants {
                check.insert(Kind::Tenant, tenant)?;
            }
            for role in &msp.cloudtrail_roles {
                check.insert(Kind::Role, role)?;
            }
        }
        directory.msps = msps;
        Ok(directory)
    }

    /// Every MSP, in file order.
    pub fn msps(&self) -> &[Msp] {
        &self.msps
    }

    /// The MSP with this id.
    pub fn msp(&self, msp_id: &str) -> Option<&Msp> {
        self.by_id.get(msp_id).and_then(|&index| self.msps.get(index))
    }

    /// The MSP that manages this tenant or cloud account.
    pub fn msp_for_tenant(&self, tenant_id: &str) -> Option<&Msp> {
        self.by_tenant.get(tenant_id).and_then(|&index| self.msps.get(index))
    }

    /// The MSP whose staff use this CloudTrail role name.
    pub fn msp_for_role(&self, role_name: &str) -> Option<&Msp> {
        self.by_role.get(role_name).and_then(|&index| self.msps.get(index))
    }

    /// Fills an event's enrichment fields and says how its MSP was found.
    ///
    /// `msp_id`, when the record gave none, comes from `via_role`, then from the first tenant
    /// the directory knows. `supplier_tier` is the MSP's tier when the directory knows it.
    /// `target_external` is true when any target account is neither one of the event's own
    /// tenants nor (when the directory knows the MSP) one of the MSP's tenants.
    pub fn attribute(&self, event: &mut Event) -> Attribution {
        let attribution = if event.msp_id.is_some() {
            Attribution::Record
        } else if let Some(index) = event.via_role.as_ref().and_then(|r| self.by_role.get(r)) {
            event.msp_id = self.msps.get(*index).map(|msp| msp.id.clone());
            Attribution::Role
        } else if let Some(index) = event.tenant_ids.iter().find_map(|t| self.by_tenant.get(t)) {
            event.msp_id = self.msps.get(*index).map(|msp| msp.id.clone());
            Attribution::Tenant
        } else {
            Attribution::Unattributed
        };

        let msp_index = event.msp_id.as_ref().and_then(|id| self.by_id.get(id)).copied();
        event.supplier_tier = msp_index.and_then(|index| self.msps.get(index)).map(|m| m.tier);
        event.target_external = event.target_accounts.iter().any(|account| {
            let own_tenant = event.tenant_ids.contains(account);
            let msp_tenant =
                msp_index.is_some() && self.by_tenant.get(account) == msp_index.as_ref();
            !own_tenant && !msp_tenant
        });
        attribution
    }
}

impl SupplierTier {
    /// The name used in the directory, rules and alerts.
    pub fn as_str(self) -> &'static str {
        match self {
            SupplierTier::Critical => "critical",
            SupplierTier::High => "high",
            SupplierTier::Standard => "standard",
        }
    }
}

/// The three kinds of names that must be unique across the directory.
#[derive(Debug, Clone, Copy)]
enum Kind {
    MspId,
    Tenant,
    Role,
}

/// Inserts names into a directory's indexes, refusing repeats.
struct Check<'d> {
    seen: &'d mut Directory,
    index: usize,
}

impl Check<'_> {
    fn insert(&mut self, kind: Kind, name: &str) -> Result<(), DirectoryError> {
        let (map, reason, what) = match kind {
            Kind::MspId => (&mut self.seen.by_id, directory_reason::DUPLICATE_MSP, "msp id"),
            Kind::Tenant => {
                (&mut self.seen.by_tenant, directory_reason::DUPLICATE_TENANT, "tenant")
            }
            Kind::Role => (&mut self.seen.by_role, directory_reason::DUPLICATE_ROLE, "role"),
        };
        if name.is_empty() {
            let detail = format!("an empty {what} in msps[{}]", self.index);
            return Err(DirectoryError {
                line: None,
                reason: directory_reason::INVALID_FIELD,
                detail,
            });
        }
        if let Some(previous) = map.insert(name.to_owned(), self.index) {
            let detail = format!(
                "{what} `{name}` is listed twice (msps[{previous}] and msps[{}])",
                self.index
            );
            return Err(DirectoryError { line: None, reason, detail });
        }
        Ok(())
    }
}

/// Marks a custom error message with its reason, for [`yaml_error`] to read back.
const REASON_TAG: &str = "mspwatch-reason=";

fn tagged<E: de::Error>(reason: &str, detail: fmt::Arguments<'_>) -> E {
    E::custom(format_args!("{REASON_TAG}{reason};{detail}"))
}

/// Maps a YAML error to a directory error with its line.
fn yaml_error(error: &serde_yaml_ng::Error) -> DirectoryError {
    let line = error.location().and_then(|location| u64::try_from(location.line()).ok());
    let message = error.to_string();
    let message = match message.rfind(" at line ") {
        Some(end) => message.get(..end).unwrap_or(&message).to_owned(),
        None => message,
    };
    let (reason, detail) = if let Some(tag_at) = message.find(REASON_TAG) {
        let tagged = message.get(tag_at + REASON_TAG.len()..).unwrap_or_default();
        let (reason, detail) = tagged.split_once(';').unwrap_or((tagged, ""));
        let reason = directory_reason::ALL
            .into_iter()
            .find(|known| *known == reason)
            .unwrap_or(directory_reason::INVALID_YAML);
        (reason, detail.to_owned())
    } else if message.contains("unknown field `") {
        (directory_reason::UNKNOWN_KEY, message)
    } else if message.contains("duplicate field `") {
        (directory_reason::DUPLICATE_KEY, message)
    } else if message.contains("missing field `") {
        (directory_reason::MISSING_FIELD, message)
    } else if message.contains("invalid type") || message.contains("unknown variant") {
        (directory_reason::INVALID_FIELD, message)
    } else {
        (directory_reason::INVALID_YAML, message)
    };
    DirectoryError { line, reason, detail }
}

/// Names seen so far while reading YAML, with the index of the MSP that listed each.
#[derive(Default)]
struct Seen {
    msp_ids: HashMap<String, usize>,
    tenants: HashMap<String, usize>,
    roles: HashMap<String, usize>,
}

/// The directory file: a mapping whose only key is `msps`.
struct FileSeed<'s> {
    seen: &'s mut Seen,
}

impl<'de> DeserializeSeed<'de> for FileSeed<'_> {
    type Value = Vec<Msp>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<Msp>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FileSeed<'_> {
    type Value = Vec<Msp>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a mapping with `msps`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<Msp>, A::Error> {
        let mut msps = None;
        let mut keys = Vec::new();
        while map.next_key_seed(KeySeed { allowed: FILE_KEYS, seen: &mut keys })?.is_some() {
            msps = Some(map.next_value_seed(MspListSeed { seen: &mut *self.seen })?);
        }
        msps.ok_or_else(|| de::Error::missing_field("msps"))
    }
}

/// The `msps` list.
struct MspListSeed<'s> {
    seen: &'s mut Seen,
}

impl<'de> DeserializeSeed<'de> for MspListSeed<'_> {
    type Value = Vec<Msp>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<Msp>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for MspListSeed<'_> {
    type Value = Vec<Msp>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a list of msps")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Msp>, A::Error> {
        let mut msps = Vec::new();
        loop {
            let index = msps.len();
            let seed = MspSeed { seen: &mut *self.seen, index };
            let Some(msp) = seq.next_element_seed(seed)? else { break };
            msps.push(msp);
        }
        Ok(msps)
    }
}

/// The keys of the directory file.
const FILE_KEYS: &[&str] = &["msps"];

/// The keys of one MSP.
const MSP_KEYS: &[&str] = &["id", "name", "tier", "tenants", "cloudtrail_roles"];

/// A mapping key: one of `allowed`, not seen before in the same mapping. Checked while the key
/// is read, so that errors point at the key's line.
struct KeySeed<'s> {
    allowed: &'static [&'static str],
    seen: &'s mut Vec<&'static str>,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = &'static str;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<&'static str, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = &'static str;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<&'static str, E> {
        let Some(known) = self.allowed.iter().copied().find(|allowed| *allowed == key) else {
            return Err(de::Error::unknown_field(key, self.allowed));
        };
        if self.seen.contains(&known) {
            return Err(de::Error::duplicate_field(known));
        }
        self.seen.push(known);
        Ok(known)
    }
}

/// One MSP mapping; names are checked as they are read, so errors point at their line.
struct MspSeed<'s> {
    seen: &'s mut Seen,
    index: usize,
}

impl<'de> DeserializeSeed<'de> for MspSeed<'_> {
    type Value = Msp;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Msp, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MspSeed<'_> {
    type Value = Msp;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an msp mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Msp, A::Error> {
        let index = self.index;
        let mut id = None;
        let mut name = None;
        let mut tier = None;
        let mut tenants = None;
        let mut roles = None;
        let mut keys = Vec::new();
        while let Some(key) = map.next_key_seed(KeySeed { allowed: MSP_KEYS, seen: &mut keys })? {
            match key {
                "id" => {
                    let seed = NameSeed { names: &mut self.seen.msp_ids, index, kind: Kind::MspId };
                    id = Some(map.next_value_seed(seed)?);
                }
                "name" => name = Some(map.next_value::<Option<String>>()?),
                "tier" => tier = Some(map.next_value::<SupplierTier>()?),
                "tenants" => {
                    let names = &mut self.seen.tenants;
                    tenants = Some(map.next_value_seed(NameListSeed {
                        names,
                        index,
                        kind: Kind::Tenant,
                    })?);
                }
                _ => {
                    let names = &mut self.seen.roles;
                    roles = Some(map.next_value_seed(NameListSeed {
                        names,
                        index,
                        kind: Kind::Role,
                    })?);
                }
            }
        }
        Ok(Msp {
            id: id.ok_or_else(|| de::Error::missing_field("id"))?,
            name: name.flatten(),
            tier: tier.unwrap_or_else(default_tier),
            tenants: tenants.unwrap_or_default(),
            cloudtrail_roles: roles.unwrap_or_default(),
        })
    }
}

/// A list of tenants or roles, each checked as it is read.
struct NameListSeed<'s> {
    names: &'s mut HashMap<String, usize>,
    index: usize,
    kind: Kind,
}

impl<'de> DeserializeSeed<'de> for NameListSeed<'_> {
    type Value = Vec<String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<String>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for NameListSeed<'_> {
    type Value = Vec<String>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a list of names")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut names = Vec::new();
        loop {
            let seed = NameSeed { names: &mut *self.names, index: self.index, kind: self.kind };
            let Some(name) = seq.next_element_seed(seed)? else { break };
            names.push(name);
        }
        Ok(names)
    }
}

/// One MSP id, tenant or role: a non-empty string not seen before.
struct NameSeed<'s> {
    names: &'s mut HashMap<String, usize>,
    index: usize,
    kind: Kind,
}

impl<'de> DeserializeSeed<'de> for NameSeed<'_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for NameSeed<'_> {
    type Value = String;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<String, E> {
        let (reason, what) = match self.kind {
            Kind::MspId => (directory_reason::DUPLICATE_MSP, "msp id"),
            Kind::Tenant => (directory_reason::DUPLICATE_TENANT, "tenant"),
            Kind::Role => (directory_reason::DUPLICATE_ROLE, "role"),
        };
        if name.is_empty() {
            let reason = directory_reason::INVALID_FIELD;
            return Err(tagged(reason, format_args!("an empty {what} in msps[{}]", self.index)));
        }
        if let Some(previous) = self.names.insert(name.to_owned(), self.index) {
            let detail = format_args!(
                "{what} `{name}` is listed twice (msps[{previous}] and msps[{}])",
                self.index
            );
            return Err(tagged(reason, detail));
        }
        Ok(name.to_owned())
    }
}

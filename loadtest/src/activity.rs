//! One generated action before it is written in a particular format.

use crate::action::Action;

/// Bytes in a gibibyte.
pub const GIB: u64 = 1 << 30;

/// One action by one credential on one tenant, as the generator planned it.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    /// Event time, milliseconds since the epoch.
    pub time_ms: i64,
    /// The credential (index into `World::actors`).
    pub actor: usize,
    /// The tenant (index into `World::tenants`).
    pub tenant: usize,
    /// What was done.
    pub action: Action,
    /// Whether the call failed, and with which error code.
    pub error: Option<&'static str>,
    /// Objects affected.
    pub object_count: Option<u64>,
    /// Bytes moved or affected.
    pub bytes: Option<u64>,
    /// Varies the resource id between actions on the same tenant.
    pub resource_nonce: u64,
    /// Account a resource was shared with (index into `World::external_accounts` when
    /// `target_external`, else into `World::tenants`).
    pub target: Option<usize>,
    /// Whether `target` indexes the external accounts.
    pub target_external: bool,
    /// The attacker whose address and client the call came from (index into
    /// `World::attackers`), when the credential was stolen.
    pub attacker: Option<usize>,
    /// The injected scenario the action belongs to (index into the plan).
    pub scenario: Option<usize>,
}

impl Activity {
    /// A successful action with no counts, on the credential's own address.
    pub fn new(time_ms: i64, actor: usize, tenant: usize, action: Action, nonce: u64) -> Self {
        Activity {
            time_ms,
            actor,
            tenant,
            action,
            error: None,
            object_count: None,
            bytes: None,
            resource_nonce: nonce,
            target: None,
            target_external: false,
            attacker: None,
            scenario: None,
        }
    }

    /// Sets the object count.
    pub fn objects(mut self, count: u64) -> Self {
        self.object_count = Some(count);
        self
    }

    /// Sets the bytes.
    pub fn bytes(mut self, bytes: u64) -> Self {
        self.bytes = Some(bytes);
        self
    }

    /// Marks the call as failed with an error code.
    pub fn failed(mut self, error: &'static str) -> Self {
        self.error = Some(error);
        self
    }
}

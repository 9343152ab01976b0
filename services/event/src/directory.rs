//! The directory of MSPs, their supplier tier, their tenants and the roles their staff use.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

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

impl Directory {
    /// Every MSP, in file order.
    pub fn msps(&self) -> &[Msp] {
        &self.msps
    }

    /// The MSP with this id.
    pub fn msp(&self, msp_id: &str) -> Option<&Msp> {
        self.by_id.get(msp_id).map(|&index| &self.msps[index])
    }

    /// The MSP that manages this tenant or cloud account.
    pub fn msp_for_tenant(&self, tenant_id: &str) -> Option<&Msp> {
        self.by_tenant.get(tenant_id).map(|&index| &self.msps[index])
    }

    /// The MSP whose staff use this CloudTrail role name.
    pub fn msp_for_role(&self, role_name: &str) -> Option<&Msp> {
        self.by_role.get(role_name).map(|&index| &self.msps[index])
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

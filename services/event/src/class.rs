//! Action classes: what an action means for backups, whatever vendor named it.

use serde::{Deserialize, Serialize};

/// The detection meaning of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionClass {
    /// Destroys backups, recovery points, snapshots, vaults, plans or copies.
    Delete,
    /// Deletes, disables or changes keys or encryption; re-encrypts with a foreign key.
    Encrypt,
    /// Moves data out: exports, downloads, foreign restores, sharing with another account.
    Export,
    /// Removes a protection: immutability, vault lock, retention, versioning, approval, MFA.
    Weaken,
    /// Runs a backup job.
    Run,
    /// Reads or lists.
    Read,
    /// Restores in place.
    Restore,
    /// Signs in or assumes a role.
    Login,
    /// Any other change of configuration.
    Config,
}

impl ActionClass {
    /// Every class, in declaration order.
    pub const ALL: [ActionClass; 9] = [
        ActionClass::Delete,
        ActionClass::Encrypt,
        ActionClass::Export,
        ActionClass::Weaken,
        ActionClass::Run,
        ActionClass::Read,
        ActionClass::Restore,
        ActionClass::Login,
        ActionClass::Config,
    ];

    /// The name used in rules, alerts and the canonical schema.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionClass::Delete => "delete",
            ActionClass::Encrypt => "encrypt",
            ActionClass::Export => "export",
            ActionClass::Weaken => "weaken",
            ActionClass::Run => "run",
            ActionClass::Read => "read",
            ActionClass::Restore => "restore",
            ActionClass::Login => "login",
            ActionClass::Config => "config",
        }
    }

    /// Parses a class name as written in rules.
    pub fn from_name(name: &str) -> Option<ActionClass> {
        ActionClass::ALL.into_iter().find(|class| class.as_str() == name)
    }

    /// Position in [`ActionClass::ALL`], for per-class arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the class is one of the four that threaten backups.
    pub fn is_harmful(self) -> bool {
        matches!(
            self,
            ActionClass::Delete | ActionClass::Encrypt | ActionClass::Export | ActionClass::Weaken
        )
    }
}

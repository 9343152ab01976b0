//! The actions the generator emits, with their canonical names, classes and vendor spellings.

use mspwatch_event::ActionClass;

/// An action the generator can emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// `login`: a console sign-in.
    Login,
    /// `backup.list`: lists the recovery points of a vault.
    BackupList,
    /// `backup.read`: describes one recovery point.
    BackupRead,
    /// `backup.run`: starts a backup job.
    BackupRun,
    /// `backup.restore`: restores a recovery point in place.
    BackupRestore,
    /// `retention.apply`: applies a backup plan's retention settings.
    RetentionApply,
    /// `vault.tag`: tags a vault.
    VaultTag,
    /// `backup.delete`: deletes a backup.
    BackupDelete,
    /// `recovery_point.delete`: deletes recovery points.
    RecoveryPointDelete,
    /// `backup.export`: exports a backup out of the platform.
    BackupExport,
    /// `backup.download`: downloads a backup.
    BackupDownload,
    /// `snapshot.share`: shares a snapshot with other accounts.
    SnapshotShare,
    /// `encryption.key_change`: points a backup bucket's encryption at another key.
    KeyChange,
    /// `key.delete`: schedules a key for deletion.
    KeyDelete,
    /// `key.disable`: disables a key.
    KeyDisable,
    /// `immutability.disable`: removes a vault's lock.
    ImmutabilityDisable,
}

/// How an action is spelled in CloudTrail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloudTrailName {
    /// `eventSource`.
    pub source: &'static str,
    /// `eventName`.
    pub name: &'static str,
    /// `readOnly`.
    pub read_only: bool,
    /// `eventCategory`: `Data` for object reads, `Management` otherwise.
    pub data_event: bool,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 16] = [
        Action::Login,
        Action::BackupList,
        Action::BackupRead,
        Action::BackupRun,
        Action::BackupRestore,
        Action::RetentionApply,
        Action::VaultTag,
        Action::BackupDelete,
        Action::RecoveryPointDelete,
        Action::BackupExport,
        Action::BackupDownload,
        Action::SnapshotShare,
        Action::KeyChange,
        Action::KeyDelete,
        Action::KeyDisable,
        Action::ImmutabilityDisable,
    ];

    /// The canonical action name.
    pub fn canonical(self) -> &'static str {
        match self {
            Action::Login => "login",
            Action::BackupList => "backup.list",
            Action::BackupRead => "backup.read",
            Action::BackupRun => "backup.run",
            Action::BackupRestore => "backup.restore",
            Action::RetentionApply => "retention.apply",
            Action::VaultTag => "vault.tag",
            Action::BackupDelete => "backup.delete",
            Action::RecoveryPointDelete => "recovery_point.delete",
            Action::BackupExport => "backup.export",
            Action::BackupDownload => "backup.download",
            Action::SnapshotShare => "snapshot.share",
            Action::KeyChange => "encryption.key_change",
            Action::KeyDelete => "key.delete",
            Action::KeyDisable => "key.disable",
            Action::ImmutabilityDisable => "immutability.disable",
        }
    }

    /// The detection class the detector gives the action.
    pub fn class(self) -> ActionClass {
        match self {
            Action::Login => ActionClass::Login,
            Action::BackupList | Action::BackupRead => ActionClass::Read,
            Action::BackupRun => ActionClass::Run,
            Action::BackupRestore => ActionClass::Restore,
            Action::RetentionApply | Action::VaultTag => ActionClass::Config,
            Action::BackupDelete | Action::RecoveryPointDelete => ActionClass::Delete,
            Action::BackupExport | Action::BackupDownload | Action::SnapshotShare => {
                ActionClass::Export
            }
            Action::KeyChange | Action::KeyDelete | Action::KeyDisable => ActionClass::Encrypt,
            Action::ImmutabilityDisable => ActionClass::Weaken,
        }
    }

    /// The kind of resource the action touches, as the canonical schema names it.
    pub fn resource_type(self) -> &'static str {
        match self {
            Action::Login => "console",
            Action::BackupList | Action::RetentionApply | Action::VaultTag => "vault",
            Action::ImmutabilityDisable => "vault",
            Action::BackupRead | Action::BackupRestore | Action::RecoveryPointDelete => {
                "recovery_point"
            }
            Action::BackupRun => "job",
            Action::BackupDelete | Action::BackupExport | Action::BackupDownload => "backup",
            Action::SnapshotShare => "snapshot",
            Action::KeyChange | Action::KeyDelete | Action::KeyDisable => "key",
        }
    }

    /// The CloudTrail spelling of the action.
    pub fn cloudtrail(self) -> CloudTrailName {
        let (source, name, read_only, data_event) = match self {
            Action::Login => ("signin.amazonaws.com", "ConsoleLogin", false, false),
            Action::BackupList => {
                ("backup.amazonaws.com", "ListRecoveryPointsByBackupVault", true, false)
            }
            Action::BackupRead => ("backup.amazonaws.com", "DescribeRecoveryPoint", true, false),
            Action::BackupRun => ("backup.amazonaws.com", "StartBackupJob", false, false),
            Action::BackupRestore => ("backup.amazonaws.com", "StartRestoreJob", false, false),
            Action::RetentionApply => ("backup.amazonaws.com", "UpdateBackupPlan", false, false),
            Action::VaultTag => ("backup.amazonaws.com", "TagResource", false, false),
            Action::BackupDelete | Action::RecoveryPointDelete => {
                ("backup.amazonaws.com", "DeleteRecoveryPoint", false, false)
            }
            Action::BackupExport | Action::BackupDownload => {
                ("s3.amazonaws.com", "GetObject", true, true)
            }
            Action::SnapshotShare => ("ec2.amazonaws.com", "ModifySnapshotAttribute", false, false),
            Action::KeyChange => ("s3.amazonaws.com", "PutBucketEncryption", false, false),
            Action::KeyDelete => ("kms.amazonaws.com", "ScheduleKeyDeletion", false, false),
            Action::KeyDisable => ("kms.amazonaws.com", "DisableKey", false, false),
            Action::ImmutabilityDisable => {
                ("backup.amazonaws.com", "DeleteBackupVaultLockConfiguration", false, false)
            }
        };
        CloudTrailName { source, name, read_only, data_event }
    }

    /// The OCSF API Activity `activity_id` and `activity_name`.
    pub fn ocsf_activity(self) -> (u32, &'static str) {
        match self {
            Action::BackupRun | Action::BackupRestore => (1, "Create"),
            Action::BackupList | Action::BackupRead => (2, "Read"),
            Action::BackupExport | Action::BackupDownload => (2, "Read"),
            Action::RetentionApply | Action::VaultTag | Action::SnapshotShare => (3, "Update"),
            Action::KeyChange | Action::KeyDisable | Action::ImmutabilityDisable => (3, "Update"),
            Action::BackupDelete | Action::RecoveryPointDelete | Action::KeyDelete => (4, "Delete"),
            Action::Login => (99, "Other"),
        }
    }

    /// The short service name OCSF records carry in `api.service.name`.
    pub fn ocsf_service(self) -> &'static str {
        match self.cloudtrail().source {
            "signin.amazonaws.com" => "signin",
            "s3.amazonaws.com" => "s3",
            "ec2.amazonaws.com" => "ec2",
            "kms.amazonaws.com" => "kms",
            _ => "backup",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The detector's table for canonical names, restated independently of `Action::class`.
    fn canonical_class(name: &str) -> ActionClass {
        match name {
            "backup.delete"
            | "recovery_point.delete"
            | "snapshot.delete"
            | "vault.delete"
            | "plan.delete"
            | "copy.delete" => ActionClass::Delete,
            "encryption.key_change"
            | "key.delete"
            | "key.disable"
            | "encryption.disable"
            | "backup.reencrypt" => ActionClass::Encrypt,
            "backup.export" | "backup.download" | "snapshot.share" | "backup.share"
            | "restore.foreign" => ActionClass::Export,
            "immutability.disable"
            | "vault_lock.remove"
            | "retention.shorten"
            | "versioning.suspend"
            | "approval.disable"
            | "mfa.disable"
            | "access_policy.open" => ActionClass::Weaken,
            "backup.run" => ActionClass::Run,
            "backup.restore" => ActionClass::Restore,
            "login" => ActionClass::Login,
            other if other.ends_with(".read") || other.ends_with(".list") => ActionClass::Read,
            _ => ActionClass::Config,
        }
    }

    #[test]
    fn every_action_has_the_class_the_detector_gives_its_canonical_name() {
        for action in Action::ALL {
            assert_eq!(action.class(), canonical_class(action.canonical()), "{action:?}");
        }
    }

    #[test]
    fn canonical_names_are_unique() {
        let names: std::collections::HashSet<&str> =
            Action::ALL.iter().map(|action| action.canonical()).collect();
        assert_eq!(names.len(), Action::ALL.len());
    }
}

//! The tables that give every vendor action name its [`ActionClass`].
//!
//! The mappings are data: sorted static slices searched by binary search, plus a short list of
//! CloudTrail calls whose class depends on their request parameters.

use crate::class::ActionClass;
use ActionClass::{Config, Delete, Encrypt, Export, Login, Read, Restore, Run, Weaken};

/// Canonical actions with a fixed class, sorted by action name.
///
/// Actions not listed here are classified by [`canonical_class`]'s fallback rules.
pub const CANONICAL_ACTIONS: &[(&str, ActionClass)] = &[
    ("access_policy.open", Weaken),
    ("approval.disable", Weaken),
    ("backup.delete", Delete),
    ("backup.download", Export),
    ("backup.export", Export),
    ("backup.reencrypt", Encrypt),
    ("backup.restore", Restore),
    ("backup.run", Run),
    ("backup.share", Export),
    ("copy.delete", Delete),
    ("encryption.disable", Encrypt),
    ("encryption.key_change", Encrypt),
    ("immutability.disable", Weaken),
    ("key.delete", Encrypt),
    ("key.disable", Encrypt),
    ("login", Login),
    ("mfa.disable", Weaken),
    ("plan.delete", Delete),
    ("recovery_point.delete", Delete),
    ("restore.foreign", Export),
    ("retention.shorten", Weaken),
    ("snapshot.delete", Delete),
    ("snapshot.share", Export),
    ("vault.delete", Delete),
    ("vault_lock.remove", Weaken),
    ("versioning.suspend", Weaken),
];

/// The class of a canonical action (`backup.delete`, `snapshot.share`, ...).
///
/// Listed actions take their class from [`CANONICAL_ACTIONS`]; otherwise an action ending in
/// `.read` or `.list` is a read, and anything else is a configuration change.
pub fn canonical_class(action: &str) -> ActionClass {
    if let Ok(index) = CANONICAL_ACTIONS.binary_search_by(|(name, _)| name.cmp(&action)) {
        if let Some((_, class)) = CANONICAL_ACTIONS.get(index) {
            return *class;
        }
    }
    if action.ends_with(".read") || action.ends_with(".list") {
        return Read;
    }
    Config
}

/// CloudTrail calls with a fixed class, sorted by (`eventSource`, `eventName`).
///
/// For calls also listed in [`CLOUDTRAIL_REFINEMENTS`], this is the class when the parameter
/// condition does not hold.
/// `ExportBackup` is not an AWS API; it is the generic backup export operation that OCSF
/// producers name, kept here so that OCSF `api.operation` finds it.
pub const CLOUDTRAIL_CALLS: &[(&str, &str, ActionClass)] = &[
    ("backup.amazonaws.com", "DeleteBackupPlan", Delete),
    ("backup.amazonaws.com", "DeleteBackupSelection", Delete),
    ("backup.amazonaws.com", "DeleteBackupVault", Delete),
    ("backup.amazonaws.com", "DeleteBackupVaultLockConfiguration", Weaken),
    ("backup.amazonaws.com", "DeleteRecoveryPoint", Delete),
    ("backup.amazonaws.com", "DescribeBackupVault", Read),
    ("backup.amazonaws.com", "DescribeRecoveryPoint", Read),
    ("backup.amazonaws.com", "ExportBackup", Export),
    ("backup.amazonaws.com", "ExportBackupPlanTemplate", Export),
    ("backup.amazonaws.com", "GetBackupPlan", Read),
    ("backup.amazonaws.com", "GetBackupVaultAccessPolicy", Read),
    ("backup.amazonaws.com", "GetRecoveryPointRestoreMetadata", Read),
    ("backup.amazonaws.com", "ListBackupPlans", Read),
    ("backup.amazonaws.com", "ListBackupVaults", Read),
    ("backup.amazonaws.com", "ListRecoveryPointsByBackupVault", Read),
    ("backup.amazonaws.com", "ListRecoveryPointsByResource", Read),
    ("backup.amazonaws.com", "PutBackupVaultAccessPolicy", Weaken),
    ("backup.amazonaws.com", "StartBackupJob", Run),
    ("backup.amazonaws.com", "StartCopyJob", Run),
    ("backup.amazonaws.com", "StartRestoreJob", Restore),
    ("backup.amazonaws.com", "UpdateRecoveryPointLifecycle", Weaken),
    ("ec2.amazonaws.com", "DeleteSnapshot", Delete),
    ("ec2.amazonaws.com", "ModifySnapshotAttribute", Config),
    ("kms.amazonaws.com", "CreateGrant", Config),
    ("kms.amazonaws.com", "DisableKey", Encrypt),
    ("kms.amazonaws.com", "PutKeyPolicy", Encrypt),
    ("kms.amazonaws.com", "ScheduleKeyDeletion", Encrypt),
    ("rds.amazonaws.com", "DeleteDBClusterSnapshot", Delete),
    ("rds.amazonaws.com", "DeleteDBSnapshot", Delete),
    ("rds.amazonaws.com", "ModifyDBClusterSnapshotAttribute", Config),
    ("rds.amazonaws.com", "ModifyDBSnapshotAttribute", Config),
    ("s3.amazonaws.com", "CopyObject", Run),
    ("s3.amazonaws.com", "DeleteBucket", Delete),
    ("s3.amazonaws.com", "DeleteBucketEncryption", Encrypt),
    ("s3.amazonaws.com", "DeleteObject", Delete),
    ("s3.amazonaws.com", "DeleteObjects", Delete),
    ("s3.amazonaws.com", "GetObject", Export),
    ("s3.amazonaws.com", "PutBucketEncryption", Encrypt),
    ("s3.amazonaws.com", "PutBucketLifecycle", Weaken),
    ("s3.amazonaws.com", "PutBucketLifecycleConfiguration", Weaken),
    ("s3.amazonaws.com", "PutBucketVersioning", Config),
    ("s3.amazonaws.com", "PutObjectLockConfiguration", Weaken),
    ("signin.amazonaws.com", "ConsoleLogin", Login),
];

/// A check on a CloudTrail call's parameters that can change its class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refinement {
    /// `destinationBackupVaultArn` is in another account than the tenant.
    CopyToForeignVault,
    /// `recoveryPointArn` or `iamRoleArn` is in another account than the tenant.
    RestoreAcrossAccounts,
    /// `granteePrincipal` is in another account than the tenant.
    GrantToForeignAccount,
    /// `VersioningConfiguration.Status` is `Suspended` or `MfaDelete` is `Disabled`.
    VersioningSuspended,
    /// The copy uses a customer-supplied key (SSE-C) or a KMS key of another account.
    CopyWithForeignKey,
    /// Always holds; takes `bytes` from `additionalEventData.bytesTransferredOut`.
    BytesTransferredOut,
    /// `createVolumePermission.add` names accounts or the group `all`.
    Ec2SnapshotShared,
    /// `valuesToAdd` names accounts or `all`.
    RdsSnapshotShared,
}

/// CloudTrail calls whose class depends on parameters, sorted by (`eventSource`, `eventName`):
/// when the refinement's condition holds the call takes the class given here, otherwise the
/// class in [`CLOUDTRAIL_CALLS`].
pub const CLOUDTRAIL_REFINEMENTS: &[(&str, &str, Refinement, ActionClass)] = &[
    ("backup.amazonaws.com", "StartCopyJob", Refinement::CopyToForeignVault, Export),
    ("backup.amazonaws.com", "StartRestoreJob", Refinement::RestoreAcrossAccounts, Export),
    ("ec2.amazonaws.com", "ModifySnapshotAttribute", Refinement::Ec2SnapshotShared, Export),
    ("kms.amazonaws.com", "CreateGrant", Refinement::GrantToForeignAccount, Encrypt),
    (
        "rds.amazonaws.com",
        "ModifyDBClusterSnapshotAttribute",
        Refinement::RdsSnapshotShared,
        Export,
    ),
    ("rds.amazonaws.com", "ModifyDBSnapshotAttribute", Refinement::RdsSnapshotShared, Export),
    ("s3.amazonaws.com", "CopyObject", Refinement::CopyWithForeignKey, Encrypt),
    ("s3.amazonaws.com", "GetObject", Refinement::BytesTransferredOut, Export),
    ("s3.amazonaws.com", "PutBucketVersioning", Refinement::VersioningSuspended, Weaken),
];

/// Call names that sign in or obtain session credentials, whatever their service.
const LOGIN_CALLS: &[&str] = &["ConsoleLogin", "GetFederationToken", "GetSessionToken"];

/// Call name prefixes that only read, whatever their service.
const READ_PREFIXES: &[&str] = &["Describe", "Get", "Head", "List"];

/// The class of a CloudTrail call before any parameter refinement.
///
/// Listed calls take their class from [`CLOUDTRAIL_CALLS`]; otherwise sign-in calls
/// (`ConsoleLogin`, `AssumeRole*`, `GetSessionToken`, `GetFederationToken`) are logins,
/// `Describe*`, `Get*`, `List*` and `Head*` are reads, and anything else is configuration.
pub fn cloudtrail_class(event_source: &str, event_name: &str) -> ActionClass {
    cloudtrail_listed_class(event_source, event_name).unwrap_or_else(|| fallback_class(event_name))
}

/// The class of a call listed in [`CLOUDTRAIL_CALLS`], if it is listed.
pub fn cloudtrail_listed_class(event_source: &str, event_name: &str) -> Option<ActionClass> {
    let index = CLOUDTRAIL_CALLS
        .binary_search_by(|(source, name, _)| (*source, *name).cmp(&(event_source, event_name)))
        .ok()?;
    CLOUDTRAIL_CALLS.get(index).map(|(_, _, class)| *class)
}

/// The refinement for a call, with the class it takes when the condition holds.
pub fn cloudtrail_refinement(
    event_source: &str,
    event_name: &str,
) -> Option<(Refinement, ActionClass)> {
    let index = CLOUDTRAIL_REFINEMENTS
        .binary_search_by(|(source, name, _, _)| (*source, *name).cmp(&(event_source, event_name)))
        .ok()?;
    CLOUDTRAIL_REFINEMENTS.get(index).map(|(_, _, refinement, class)| (*refinement, *class))
}

/// The class of an operation named without its service (OCSF `api.operation`): the listed
/// CloudTrail call of that name, preferring the one whose source starts with `service_hint`.
pub fn operation_class(operation: &str, service_hint: Option<&str>) -> Option<ActionClass> {
    let mut found = None;
    for (source, name, class) in CLOUDTRAIL_CALLS {
        if *name != operation {
            continue;
        }
        let hinted = service_hint
            .is_some_and(|hint| !hint.is_empty() && source.split('.').next() == Some(hint));
        if hinted {
            return Some(*class);
        }
        found = found.or(Some(*class));
    }
    found
}

fn fallback_class(event_name: &str) -> ActionClass {
    if LOGIN_CALLS.contains(&event_name) || event_name.starts_with("AssumeRole") {
        return Login;
    }
    if READ_PREFIXES.iter().any(|prefix| event_name.starts_with(prefix)) {
        return Read;
    }
    Config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_unique_so_binary_search_finds_every_entry() {
        assert!(CANONICAL_ACTIONS.windows(2).all(|pair| pair[0].0 < pair[1].0));
        assert!(CLOUDTRAIL_CALLS.windows(2).all(|p| (p[0].0, p[0].1) < (p[1].0, p[1].1)));
        assert!(CLOUDTRAIL_REFINEMENTS.windows(2).all(|p| (p[0].0, p[0].1) < (p[1].0, p[1].1)));
        for (action, class) in CANONICAL_ACTIONS {
            assert_eq!(canonical_class(action), *class, "{action}");
        }
        for (source, name, class) in CLOUDTRAIL_CALLS {
            assert_eq!(cloudtrail_class(source, name), *class, "{source} {name}");
        }
    }

    #[test]
    fn every_refined_call_also_has_a_base_class() {
        for (source, name, _, _) in CLOUDTRAIL_REFINEMENTS {
            assert!(cloudtrail_listed_class(source, name).is_some(), "{source} {name}");
            assert!(cloudtrail_refinement(source, name).is_some(), "{source} {name}");
        }
    }

    #[test]
    fn canonical_fallbacks_classify_reads_and_everything_else_as_config() {
        let cases = [
            ("vault.read", Read),
            ("recovery_point.list", Read),
            ("login", Login),
            ("vault.create", Config),
            ("backup.delete.extra", Config),
            ("", Config),
        ];
        for (action, class) in cases {
            assert_eq!(canonical_class(action), class, "{action}");
        }
    }

    #[test]
    fn unlisted_cloudtrail_calls_fall_back_by_name() {
        let cases = [
            ("ec2.amazonaws.com", "DescribeInstances", Read),
            ("ec2.amazonaws.com", "GetPasswordData", Read),
            ("s3.amazonaws.com", "HeadObject", Read),
            ("s3.amazonaws.com", "ListBuckets", Read),
            ("sts.amazonaws.com", "AssumeRole", Login),
            ("sts.amazonaws.com", "AssumeRoleWithWebIdentity", Login),
            ("sts.amazonaws.com", "GetSessionToken", Login),
            ("signin.amazonaws.com", "ConsoleLogin", Login),
            ("iam.amazonaws.com", "CreateUser", Config),
            ("cloudtrail.amazonaws.com", "StopLogging", Config),
            ("", "", Config),
        ];
        for (source, name, class) in cases {
            assert_eq!(cloudtrail_class(source, name), class, "{source} {name}");
        }
    }

    #[test]
    fn operation_names_resolve_without_a_service_and_prefer_the_hinted_one() {
        assert_eq!(operation_class("DeleteRecoveryPoint", None), Some(Delete));
        assert_eq!(operation_class("ExportBackup", Some("backup")), Some(Export));
        assert_eq!(operation_class("GetObject", Some("s3")), Some(Export));
        assert_eq!(operation_class("CreateWidget", None), None);
    }
}

//! Saving and loading what the engine has learned, so a replay can warm up on an earlier
//! period and a restarted detector keeps its baselines.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::baseline::{CredentialBaseline, SubjectBaseline};
use crate::Engine;

/// The format version this build writes and reads.
const FORMAT_VERSION: u32 = 1;

/// The marker that identifies a baseline snapshot.
const FORMAT_NAME: &str = "mspwatch-baselines";

/// Why a saved snapshot could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The bytes are not a snapshot, or were cut short.
    #[error("not a valid mspwatch baseline snapshot: {0}")]
    Corrupt(String),
    /// The snapshot was written by an incompatible version.
    #[error("baseline snapshot format version {found} is not supported (expected {expected})")]
    Version {
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        expected: u32,
    },
    /// The saved state was made under engine settings other than this engine's (a checkpoint
    /// records them, since windows, held events and key bounds depend on them).
    #[error("saved state does not fit this engine: {0}")]
    Incompatible(String),
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    format: String,
    version: u32,
    observed_from_ms: Option<i64>,
    observed_to_ms: Option<i64>,
    credentials: Vec<(String, i64, CredentialBaseline)>,
    tenants: Vec<(String, i64, SubjectBaseline)>,
    msps: Vec<(String, i64, SubjectBaseline)>,
    /// First-seen combinations per rule id, with the event times each was last and first seen.
    first_seen: BTreeMap<String, Vec<(String, i64, i64)>>,
}

impl Engine {
    /// Serializes the learned baselines and first-seen memory (not open windows).
    pub fn save_baselines(&self) -> Vec<u8> {
        let mut snapshot = Snapshot {
            format: FORMAT_NAME.to_owned(),
            version: FORMAT_VERSION,
            observed_from_ms: self.observed_from_ms,
            observed_to_ms: self.observed_to_ms,
            credentials: sorted(self.baselines.credentials.iter()),
            tenants: sorted(self.baselines.tenants.iter()),
            msps: sorted(self.baselines.msps.iter()),
            first_seen: BTreeMap::new(),
        };
        for rule in &self.rules {
            let mut known = rule.known_combinations();
            if !known.is_empty() {
                known.sort();
                snapshot.first_seen.insert(rule.rule.id.clone(), known);
            }
        }
        // Serializing plain data into memory cannot fail.
        serde_json::to_vec(&snapshot).unwrap_or_default()
    }

    /// Loads baselines saved by `save_baselines`, replacing the current ones.
    pub fn load_baselines(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        let header: Header = serde_json::from_slice(bytes)
            .map_err(|error| SnapshotError::Corrupt(error.to_string()))?;
        if header.format != FORMAT_NAME {
            return Err(SnapshotError::Corrupt(format!("unknown format {:?}", header.format)));
        }
        if header.version != FORMAT_VERSION {
            return Err(SnapshotError::Version { found: header.version, expected: FORMAT_VERSION });
        }
        let snapshot: Snapshot = serde_json::from_slice(bytes)
            .map_err(|error| SnapshotError::Corrupt(error.to_string()))?;
        let max_keys = self.config.max_tracked_keys;
        let half_life = self.config.baseline_half_life_hours;
        self.baselines = crate::baseline::Baselines::new(max_keys, half_life);
        for (key, last_active, value) in snapshot.credentials {
            self.baselines.credentials.insert(key.into_boxed_str(), last_active, value);
        }
        for (key, last_active, value) in snapshot.tenants {
            self.baselines.tenants.insert(key.into_boxed_str(), last_active, value);
        }
        for (key, last_active, value) in snapshot.msps {
            self.baselines.msps.insert(key.into_boxed_str(), last_active, value);
        }
        let mut first_seen = snapshot.first_seen;
        for rule in &mut self.rules {
            if let Some(known) = first_seen.remove(&rule.rule.id) {
                rule.restore_combinations(known);
            }
        }
        self.observed_from_ms = snapshot.observed_from_ms;
        self.observed_to_ms = snapshot.observed_to_ms;
        self.enforce_budgets();
        Ok(())
    }
}

fn sorted<'a, V: Clone + 'a>(
    entries: impl Iterator<Item = (&'a Box<str>, i64, &'a V)>,
) -> Vec<(String, i64, V)> {
    let mut entries: Vec<(String, i64, V)> = entries
        .map(|(key, last_active, value)| (key.to_string(), last_active, value.clone()))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries
}

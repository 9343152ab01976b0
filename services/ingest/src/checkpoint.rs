//! Partition state checkpoints: each assigned partition's detector state saved in a file with
//! the offset it covers, so a restarted detector, or the next owner of a partition, carries on
//! where the last one stopped instead of starting empty.
//!
//! - [`CheckpointStore`]: the files. One directory per consumer group under the configured
//!   directory; per partition the newest checkpoint and the one before it. Files are written
//!   atomically (temporary file, fsync, rename, fsync of the directory) and checked on reading
//!   (magic, layout version, group, topic, partition, length, CRC-32), so a torn or damaged
//!   file is detected and the previous one used.
//! - [`Checkpointing`]: a [`DetectorFactory`](crate::DetectorFactory) that restores detectors
//!   from the store on assignment and saves them as the pipeline settles, commits and releases
//!   partitions.
//!
//! What a checkpoint guarantees: it is written only after the group's commit covers its offset,
//! and only for a state whose alerts are all durable, so restoring it never loses an alert and
//! never skips an event; the events between it and the committed offset are read again and
//! raise the same alert versions, which readers of the alerts topic already skip.

mod factory;
mod frame;
mod writer;

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub use factory::{Checkpointing, CheckpointingSettings};
pub use frame::FrameError;

use crate::detector::PartitionId;
use frame::Frame;

/// The suffix of checkpoint files.
const SUFFIX: &str = "ckpt";

/// A temporary file this old is left from an interrupted write, not one in progress.
const STALE_TEMPORARY: std::time::Duration = std::time::Duration::from_secs(600);

/// Which of a partition's two checkpoint files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// The last one written.
    Newest,
    /// The one before it, kept for when the newest is unusable.
    Previous,
}

impl Generation {
    /// `newest` or `previous`, for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Generation::Newest => "newest",
            Generation::Previous => "previous",
        }
    }
}

/// A checkpoint read back and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The first offset the state has not seen: consumption resumes here.
    pub next_offset: i64,
    /// When it was written (wall clock, epoch milliseconds).
    pub written_ms: i64,
    /// The detector's state.
    pub state: Vec<u8>,
    /// Size of the file.
    pub file_bytes: u64,
}

/// Why a checkpoint could not be written or used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file or directory operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is torn, damaged or of another layout.
    #[error("{}: {source}", path.display())]
    Frame {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: FrameError,
    },
    /// The file is whole but belongs to another consumer group, topic or partition.
    #[error("{}: belongs to group {group:?}, {topic}/{partition}", path.display())]
    Foreign {
        /// The file.
        path: PathBuf,
        /// Its group.
        group: String,
        /// Its topic.
        topic: String,
        /// Its partition.
        partition: i32,
    },
}

impl CheckpointError {
    /// A short reason code for metrics: `io`, `torn`, `corrupt`, `version` or `foreign`.
    pub fn reason(&self) -> &'static str {
        match self {
            CheckpointError::Io { .. } => "io",
            CheckpointError::Frame { source: FrameError::Torn(_), .. } => "torn",
            CheckpointError::Frame { source: FrameError::Corrupt(_), .. } => "corrupt",
            CheckpointError::Frame { source: FrameError::Version { .. }, .. } => "version",
            CheckpointError::Foreign { .. } => "foreign",
        }
    }
}

/// The checkpoint files of one consumer group.
#[derive(Debug)]
pub struct CheckpointStore {
    directory: PathBuf,
    group: String,
    temporary: AtomicU64,
}

impl CheckpointStore {
    /// Opens (creating it when needed) the directory of `group`'s checkpoints under `root`,
    /// checks that files can be written there, and removes temporary files that a crash
    /// left behind.
    pub fn open(root: &Path, group: &str) -> Result<CheckpointStore, CheckpointError> {
        let directory = root.join(file_component(group));
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| CheckpointError::Io { path, source }
        };
        fs::create_dir_all(&directory).map_err(io(&directory))?;
        sync_directory(root).map_err(io(root))?;
        let store = CheckpointStore { directory, group: group.to_owned(), temporary: 0.into() };
        let probe = store.temporary_path("write-check");
        File::options()
            .write(true)
            .create_new(true)
            .open(&probe)
            .and_then(|mut file| file.write_all(b"mspwatch").and_then(|()| file.sync_all()))
            .map_err(io(&probe))?;
        fs::remove_file(&probe).map_err(io(&probe))?;
        store.remove_temporary_files();
        Ok(store)
    }

    /// The directory holding this group's files.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// The newest and the previous checkpoint file of `partition`.
    pub fn paths(&self, partition: &PartitionId) -> (PathBuf, PathBuf) {
        let base = format!("{}.{}.{SUFFIX}", file_component(&partition.topic), partition.partition);
        (self.directory.join(&base), self.directory.join(format!("{base}.prev")))
    }

    /// Writes `state`, which has seen every event of `partition` before `next_offset`, as the
    /// newest checkpoint; the newest so far becomes the previous one. Returns the file's size.
    pub fn save(
        &self,
        partition: &PartitionId,
        next_offset: i64,
        state: &[u8],
    ) -> Result<u64, CheckpointError> {
        let bytes = frame::encode(&Frame {
            group: &self.group,
            topic: &partition.topic,
            partition: partition.partition,
            next_offset,
            written_ms: now_ms(),
            state,
        });
        let (newest, previous) = self.paths(partition);
        let temporary = self.temporary_path(&partition.to_string());
        let written = write_new_file(&temporary, &bytes);
        if let Err(error) = written {
            let _ = fs::remove_file(&temporary);
            return Err(error);
        }
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| CheckpointError::Io { path, source }
        };
        match fs::rename(&newest, &previous) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                let _ = fs::remove_file(&temporary);
                return Err(io(&newest)(error));
            }
        }
        fs::rename(&temporary, &newest).map_err(io(&newest))?;
        sync_directory(&self.directory).map_err(io(&self.directory))?;
        Ok(bytes.len() as u64)
    }

    /// Reads `partition`'s checkpoints, newest first; files that do not exist are left out.
    ///
    /// A newest file that is unreadable as a checkpoint (torn, damaged, another partition's)
    /// while the previous one is good is set aside as `<file>.bad`, so that the next save does
    /// not make it the previous checkpoint in place of the good one.
    pub fn load(
        &self,
        partition: &PartitionId,
    ) -> Vec<(Generation, Result<StoredCheckpoint, CheckpointError>)> {
        let (newest, previous) = self.paths(partition);
        let mut found = Vec::new();
        for (generation, path) in [(Generation::Newest, newest), (Generation::Previous, previous)] {
            let bytes = match fs::read(&path) {
                Ok(bytes) => bytes,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => {
                    found.push((generation, Err(CheckpointError::Io { path, source })));
                    continue;
                }
            };
            found.push((generation, self.check(partition, &path, &bytes)));
        }
        if let [(Generation::Newest, Err(error)), (Generation::Previous, Ok(_))] = found.as_slice()
        {
            if !matches!(error, CheckpointError::Io { .. }) {
                let (newest, _) = self.paths(partition);
                let mut bad = newest.clone().into_os_string();
                bad.push(".bad");
                if let Err(error) = fs::rename(&newest, &bad) {
                    tracing::warn!(path = %newest.display(), %error, "cannot set aside a bad checkpoint");
                }
            }
        }
        found
    }

    fn check(
        &self,
        partition: &PartitionId,
        path: &Path,
        bytes: &[u8],
    ) -> Result<StoredCheckpoint, CheckpointError> {
        let frame = frame::decode(bytes)
            .map_err(|source| CheckpointError::Frame { path: path.to_owned(), source })?;
        if !frame.belongs_to(&self.group, partition) {
            return Err(CheckpointError::Foreign {
                path: path.to_owned(),
                group: frame.group.to_owned(),
                topic: frame.topic.to_owned(),
                partition: frame.partition,
            });
        }
        Ok(StoredCheckpoint {
            next_offset: frame.next_offset,
            written_ms: frame.written_ms,
            state: frame.state.to_vec(),
            file_bytes: bytes.len() as u64,
        })
    }

    fn temporary_path(&self, label: &str) -> PathBuf {
        let number = self.temporary.fetch_add(1, Ordering::Relaxed);
        let name = format!(".tmp-{}-{number}-{}", std::process::id(), file_component(label));
        self.directory.join(name)
    }

    /// Removes temporary files left by an interrupted write: those of an earlier process with
    /// this one's id, and any older than [`STALE_TEMPORARY`] (another instance sharing the
    /// directory may be writing a younger one right now).
    fn remove_temporary_files(&self) {
        let Ok(entries) = fs::read_dir(&self.directory) else { return };
        let own = format!(".tmp-{}-", std::process::id());
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with(".tmp-") {
                continue;
            }
            let age = entry
                .metadata()
                .and_then(|metadata| metadata.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok());
            if name.starts_with(&own) || age.is_some_and(|age| age > STALE_TEMPORARY) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// Writes `bytes` to a new file and flushes it to the device.
fn write_new_file(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let io = |source| CheckpointError::Io { path: path.to_owned(), source };
    let mut file = File::options().write(true).create_new(true).open(path).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)
}

/// Flushes a directory's entries (a rename is durable once its directory is).
fn sync_directory(path: &Path) -> std::io::Result<()> {
    File::open(path)?.sync_all()
}

/// `name` as one safe file name component: letters, digits, `-`, `_` and `.` stay, every other
/// byte (and a leading dot) becomes `%XX`.
fn file_component(name: &str) -> String {
    let mut component = String::with_capacity(name.len());
    for (index, byte) in name.bytes().enumerate() {
        let keep = byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' || byte == b'.';
        if keep && !(index == 0 && byte == b'.') {
            component.push(char::from(byte));
        } else {
            component.push_str(&format!("%{byte:02X}"));
        }
    }
    if component.is_empty() {
        component.push('%');
    }
    component
}

fn now_ms() -> i64 {
    let since_epoch =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;

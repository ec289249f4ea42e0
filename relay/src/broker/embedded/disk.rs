//! The free-space floor of the data dir: below it, sends are refused with
//! [`crate::broker::BrokerError::StorageFull`] before they reach the writer, instead of
//! SQLite failing mid-transaction later. Free space comes from `statvfs(3)` (the `nix`
//! crate), asked at most once per [`RECHECK`] and cached in between.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a free-space reading is trusted. `statvfs` is cheap, but not free at thousands
/// of sends a second; a second is short next to how fast a disk fills.
const RECHECK: Duration = Duration::from_secs(1);

/// The data dir's free-space floor and the last reading.
pub(super) struct DiskFloor {
    dir: PathBuf,
    /// Bytes that must stay free for sends to be stored; 0 turns the check off.
    floor: u64,
    /// When space was last read, and the bytes then available to the relay.
    last: Mutex<Option<(Instant, u64)>>,
}

impl DiskFloor {
    /// A floor of `floor` bytes on the file system holding `dir`.
    pub(super) fn new(dir: PathBuf, floor: u64) -> DiskFloor {
        DiskFloor {
            dir,
            floor,
            last: Mutex::new(None),
        }
    }

    /// `Err` with a sentence for people when the free space is below the floor. A file
    /// system that cannot be asked counts as having room: the writer reports real failures.
    pub(super) fn check(&self) -> Result<(), String> {
        if self.floor == 0 {
            return Ok(());
        }
        let free = {
            let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
            match *last {
                Some((at, free)) if at.elapsed() < RECHECK => free,
                _ => {
                    let free = match nix::sys::statvfs::statvfs(&self.dir) {
                        Ok(stat) => stat.blocks_available().saturating_mul(stat.fragment_size()),
                        Err(err) => {
                            tracing::warn!(dir = %self.dir.display(), error = %err,
                                "cannot read the data dir's free space");
                            u64::MAX
                        }
                    };
                    *last = Some((Instant::now(), free));
                    free
                }
            }
        };
        if free < self.floor {
            return Err(format!(
                "the relay's disk is nearly full ({} MB free, {} MB must stay free); \
                 nothing was stored",
                free / MB,
                self.floor / MB
            ));
        }
        Ok(())
    }
}

/// Bytes in the megabytes the flag and messages speak of.
pub(super) const MB: u64 = 1024 * 1024;

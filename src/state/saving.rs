//! The state of RDB saves (SAVE, BGSAVE), as INFO persistence and LASTSAVE report it.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};

use crossbeam::utils::CachePadded;

/// Slots of the change counter: each thread counts in its own, so event loops writing at once do
/// not bounce one cache line per write command.
const CHANGE_SLOTS: usize = 8;

/// Counters and flags of the saves; the save itself is `engine::rdb::snapshot`.
pub struct Saving {
    /// Write commands that changed data since start-up, summed over the slots.
    changes: [CachePadded<AtomicU64>; CHANGE_SLOTS],
    /// The change count a successful save covered: `rdb_changes_since_last_save` is what came after.
    saved_through: AtomicU64,
    /// Unix seconds of the last successful save (LASTSAVE; start-up time before any).
    pub last_save_unix: AtomicU64,
    in_progress: AtomicBool,
    /// When the running BGSAVE started (Unix ms).
    started_ms: AtomicU64,
    /// The change count when the running save started: what it will cover.
    changes_at_start: AtomicU64,
    last_ok: AtomicBool,
    /// Seconds the last BGSAVE took; -1 before any.
    last_duration_secs: AtomicI64,
    /// Successful saves since start-up (`rdb_saves`).
    saves: AtomicU64,
    /// A BGSAVE asked for inside EXEC, which the cron starts once the transaction is over.
    pub scheduled: AtomicBool,
}

impl Saving {
    pub fn new(now_unix: u64) -> Saving {
        Saving {
            changes: Default::default(),
            saved_through: AtomicU64::new(0),
            last_save_unix: AtomicU64::new(now_unix),
            in_progress: AtomicBool::new(false),
            started_ms: AtomicU64::new(0),
            changes_at_start: AtomicU64::new(0),
            last_ok: AtomicBool::new(true),
            last_duration_secs: AtomicI64::new(-1),
            saves: AtomicU64::new(0),
            scheduled: AtomicBool::new(false),
        }
    }

    /// Marks a save as started at `now_ms`; false when one is already running.
    pub fn begin(&self, now_ms: u64) -> bool {
        if self.in_progress.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.started_ms.store(now_ms, Ordering::Relaxed);
        self.changes_at_start.store(self.total_changes(), Ordering::Relaxed);
        true
    }

    /// Ends the running save at `now_ms`.
    pub fn end(&self, ok: bool, now_ms: u64) {
        let started = self.started_ms.load(Ordering::Relaxed);
        self.last_duration_secs.store((now_ms.saturating_sub(started) / 1000) as i64, Ordering::Relaxed);
        self.last_ok.store(ok, Ordering::Relaxed);
        if ok {
            self.saved_through.fetch_max(self.changes_at_start.load(Ordering::Relaxed), Ordering::Relaxed);
            self.last_save_unix.store(now_ms / 1000, Ordering::Relaxed);
            self.saves.fetch_add(1, Ordering::Relaxed);
        }
        self.in_progress.store(false, Ordering::Release);
    }

    /// Counts one write command that changed data.
    pub fn count_change(&self) {
        thread_local! {
            static SLOT: usize = {
                static NEXT: AtomicUsize = AtomicUsize::new(0);
                NEXT.fetch_add(1, Ordering::Relaxed) % CHANGE_SLOTS
            };
        }
        SLOT.with(|slot| self.changes[*slot].fetch_add(1, Ordering::Relaxed));
    }

    fn total_changes(&self) -> u64 {
        self.changes.iter().map(|slot| slot.load(Ordering::Relaxed)).sum()
    }

    /// Changes since the last successful save (`rdb_changes_since_last_save`).
    pub fn changes(&self) -> u64 {
        self.total_changes().saturating_sub(self.saved_through.load(Ordering::Relaxed))
    }

    /// When the last save started (Unix ms; 0 before any).
    pub fn last_attempt_ms(&self) -> u64 {
        self.started_ms.load(Ordering::Relaxed)
    }

    pub fn in_progress(&self) -> bool {
        self.in_progress.load(Ordering::Acquire)
    }

    pub fn last_ok(&self) -> bool {
        self.last_ok.load(Ordering::Relaxed)
    }

    pub fn last_duration_secs(&self) -> i64 {
        self.last_duration_secs.load(Ordering::Relaxed)
    }

    /// Seconds the running save has taken so far; -1 when none runs.
    pub fn current_duration_secs(&self, now_ms: u64) -> i64 {
        if !self.in_progress() {
            return -1;
        }
        (now_ms.saturating_sub(self.started_ms.load(Ordering::Relaxed)) / 1000) as i64
    }

    pub fn saves(&self) -> u64 {
        self.saves.load(Ordering::Relaxed)
    }
}

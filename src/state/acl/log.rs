//! ACL LOG: the recent permission denials and failed authentications, newest first. A denial like one
//! of the last ten entries (same reason, context, object and user, within a minute) counts into it
//! instead of adding one, as Redis groups them.

use std::collections::VecDeque;

use parking_lot::Mutex;

/// Entries within this many milliseconds of each other may be grouped.
const GROUPING_WINDOW_MS: u64 = 60_000;
/// How many recent entries a new one is compared with.
const GROUPING_SCAN: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Command,
    Key,
    Channel,
    Auth,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Channel => "channel",
            Reason::Auth => "auth",
        }
    }
}

/// Where the denied command ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Toplevel,
    Multi,
    Lua,
}

impl Context {
    pub fn name(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub count: u64,
    pub reason: Reason,
    pub context: Context,
    /// The command's full name, the key or channel, or the AUTH command as typed.
    pub object: Vec<u8>,
    pub username: Vec<u8>,
    /// Unix milliseconds of the latest occurrence.
    pub at_ms: u64,
    /// The CLIENT LIST line of the latest client that caused it.
    pub client_info: String,
}

impl Entry {
    fn same_event(&self, other: &Entry) -> bool {
        self.reason == other.reason
            && self.context == other.context
            && self.at_ms.abs_diff(other.at_ms) <= GROUPING_WINDOW_MS
            && self.object == other.object
            && self.username == other.username
    }
}

#[derive(Default)]
pub struct Log {
    entries: Mutex<VecDeque<Entry>>,
}

impl Log {
    /// Records `entry` (its count is ignored), keeping at most `max_len` entries.
    pub fn add(&self, mut entry: Entry, max_len: usize) {
        let mut entries = self.entries.lock();
        let similar = entries.iter().take(GROUPING_SCAN).position(|old| old.same_event(&entry));
        if let Some(at) = similar.and_then(|at| entries.remove(at)) {
            entry.count = at.count + 1;
        } else {
            entry.count = 1;
        }
        entries.push_front(entry);
        entries.truncate(max_len);
    }

    /// The `count` newest entries.
    pub fn recent(&self, count: usize) -> Vec<Entry> {
        self.entries.lock().iter().take(count).cloned().collect()
    }

    pub fn reset(&self) {
        self.entries.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denial(object: &str, at_ms: u64) -> Entry {
        Entry {
            count: 0,
            reason: Reason::Key,
            context: Context::Toplevel,
            object: object.as_bytes().to_vec(),
            username: b"u".to_vec(),
            at_ms,
            client_info: String::new(),
        }
    }

    #[test]
    fn like_denials_within_a_minute_are_counted_together() {
        let log = Log::default();
        log.add(denial("a", 1_000), 128);
        log.add(denial("b", 2_000), 128);
        log.add(denial("a", 3_000), 128);
        let entries = log.recent(10);
        assert_eq!(entries.iter().map(|e| (e.object.clone(), e.count)).collect::<Vec<_>>(), [(b"a".to_vec(), 2), (b"b".to_vec(), 1)]);
        log.add(denial("a", 100_000), 128);
        assert_eq!(log.recent(10).len(), 3, "more than a minute later it is a new entry");
        log.add(denial("c", 100_001), 2);
        assert_eq!(log.recent(10).len(), 2, "acllog-max-len keeps the newest");
        log.reset();
        assert!(log.recent(10).is_empty());
    }
}

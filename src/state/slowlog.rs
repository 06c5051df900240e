//! SLOWLOG: the most recent commands that ran longer than `slowlog-log-slower-than` microseconds.

use std::collections::VecDeque;
use std::sync::Mutex;

/// Redis keeps at most this many arguments of a logged command...
const MAX_ARGS: usize = 32;
/// ...and at most this many bytes of each.
const MAX_ARG_LEN: usize = 128;

#[derive(Clone, Debug)]
pub struct SlowEntry {
    pub id: u64,
    pub unix_secs: u64,
    pub micros: u64,
    pub args: Vec<Vec<u8>>,
    pub client_addr: String,
    pub client_name: String,
}

#[derive(Default)]
pub struct SlowLog {
    inner: Mutex<(u64, VecDeque<SlowEntry>)>,
}

impl SlowLog {
    /// Logs a command, trimming arguments as Redis does.
    pub fn push<'a>(
        &self,
        args: impl ExactSizeIterator<Item = &'a [u8]>,
        micros: u64,
        unix_secs: u64,
        client_addr: String,
        client_name: String,
        max_len: usize,
    ) {
        let total = args.len();
        let mut kept: Vec<Vec<u8>> = Vec::with_capacity(total.min(MAX_ARGS));
        for (i, arg) in args.enumerate() {
            if i == MAX_ARGS - 1 && total > MAX_ARGS {
                kept.push(format!("... ({} more arguments)", total - MAX_ARGS + 1).into_bytes());
                break;
            }
            if arg.len() > MAX_ARG_LEN {
                let mut cut = arg[..MAX_ARG_LEN].to_vec();
                cut.extend_from_slice(format!("... ({} more bytes)", arg.len() - MAX_ARG_LEN).as_bytes());
                kept.push(cut);
            } else {
                kept.push(arg.to_vec());
            }
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let (next_id, entries) = &mut *inner;
        entries.push_front(SlowEntry { id: *next_id, unix_secs, micros, args: kept, client_addr, client_name });
        *next_id += 1;
        entries.truncate(max_len);
    }

    /// The newest `count` entries, newest first.
    pub fn newest(&self, count: usize) -> Vec<SlowEntry> {
        self.inner.lock().map(|inner| inner.1.iter().take(count).cloned().collect()).unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map(|inner| inner.1.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn reset(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.1.clear();
        }
    }

    pub fn trim(&self, max_len: usize) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.1.truncate(max_len);
        }
    }
}

//! MONITOR: every command processed is copied to the clients that asked for it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::mpsc;

/// Lines queued to one monitor before it counts as too slow and stops receiving.
pub const MONITOR_QUEUE: usize = 10_000;

#[derive(Default)]
pub struct Monitors {
    count: AtomicUsize,
    senders: Mutex<Vec<(u64, mpsc::Sender<Bytes>)>>,
}

impl Monitors {
    pub fn add(&self, client_id: u64, sender: mpsc::Sender<Bytes>) {
        if let Ok(mut senders) = self.senders.lock() {
            senders.push((client_id, sender));
            self.count.store(senders.len(), Ordering::Relaxed);
        }
    }

    pub fn remove(&self, client_id: u64) {
        if let Ok(mut senders) = self.senders.lock() {
            senders.retain(|(id, _)| *id != client_id);
            self.count.store(senders.len(), Ordering::Relaxed);
        }
    }

    /// Cheap check before formatting a line.
    pub fn active(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    /// Sends `+<time> [<db> <addr>] "arg" ...` to every monitor; a monitor whose queue is full is
    /// dropped, which closes it, as Redis does for clients past their output buffer limit.
    pub fn feed<'a>(&self, unix_micros: u64, db: usize, addr: &str, args: impl Iterator<Item = &'a [u8]>) {
        let mut line = format!("+{}.{:06} [{} {}]", unix_micros / 1_000_000, unix_micros % 1_000_000, db, addr);
        for arg in args {
            line.push_str(" \"");
            line.push_str(&escape(arg));
            line.push('"');
        }
        line.push_str("\r\n");
        let line = Bytes::from(line);
        if let Ok(mut senders) = self.senders.lock() {
            senders.retain(|(_, sender)| sender.try_send(line.clone()).is_ok());
            self.count.store(senders.len(), Ordering::Relaxed);
        }
    }
}

/// Redis's `sdscatrepr` quoting, without the surrounding quotes.
pub fn escape(arg: &[u8]) -> String {
    let mut out = String::with_capacity(arg.len());
    for &b in arg {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            b if b.is_ascii_graphic() || b == b' ' => out.push(b as char),
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

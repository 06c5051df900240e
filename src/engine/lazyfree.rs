//! Freeing large values off the request path (UNLINK), like Redis's lazyfree thread: a collection
//! with millions of elements takes a while to drop, and neither a shard lock nor the client should
//! wait for it.

use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, OnceLock};

use super::value::Value;

/// Values owning less than this are dropped in place: a channel send costs more.
const THRESHOLD_BYTES: usize = 64 * 1024;

static FREER: OnceLock<Mutex<Sender<Vec<Value>>>> = OnceLock::new();

fn freer() -> &'static Mutex<Sender<Vec<Value>>> {
    FREER.get_or_init(|| {
        let (tx, rx) = channel::<Vec<Value>>();
        let spawned = std::thread::Builder::new().name("lazyfree".into()).spawn(move || {
            for values in rx {
                drop(values);
            }
        });
        if let Err(e) = spawned {
            tracing::warn!("lazyfree thread not started, values are freed inline: {e}");
        }
        Mutex::new(tx)
    })
}

/// Drops `values`, on the background thread when they own much memory.
pub fn free(values: Vec<Value>) {
    if values.iter().map(Value::heap_size).sum::<usize>() < THRESHOLD_BYTES {
        return;
    }
    let sender = freer().lock().unwrap_or_else(|p| p.into_inner()).clone();
    // A failed send hands the values back inside the error, and they are dropped here instead.
    let _ = sender.send(values);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Limits, Set};

    #[test]
    fn large_values_go_to_the_background() {
        let limits = Limits::default();
        let mut set = Set::new();
        for i in 0..20_000 {
            set.insert(format!("member-{i}").as_bytes(), &limits);
        }
        free(vec![Value::Set(Box::new(crate::engine::value::Versioned::new(set))), Value::string(b"small")]);
        free(vec![Value::string(b"small")]);
    }
}

//! Snowflake IDs: 41 bits of milliseconds since [`EPOCH_MS`], 10 bits of node id, 12 bits of sequence.
//!
//! IDs from one generator strictly increase, even when the wall clock steps back: the generator keeps
//! the last (milliseconds, sequence) it issued and never goes below it. When a millisecond's 4096
//! sequence numbers run out, it borrows the next millisecond instead of waiting, so a burst never
//! blocks and never repeats an ID.

use std::sync::atomic::{AtomicU64, Ordering};

/// 2024-01-01T00:00:00Z in Unix milliseconds.
pub const EPOCH_MS: u64 = 1_704_067_200_000;
const SEQUENCE_BITS: u32 = 12;
const NODE_BITS: u32 = 10;
pub const MAX_NODE: u64 = (1 << NODE_BITS) - 1;
const TIMESTAMP_MAX: u64 = (1 << 41) - 1;

/// The parts of an ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnowflakeParts {
    pub unix_ms: u64,
    pub node: u64,
    pub sequence: u64,
}

/// A lock-free generator.
#[derive(Default)]
pub struct Snowflake {
    /// `(milliseconds since EPOCH_MS) << 12 | sequence` of the last ID issued.
    last: AtomicU64,
}

impl Snowflake {
    /// Reserves `count` consecutive IDs for `node` and returns the first; the rest follow it by
    /// sequence (carrying into the millisecond field).
    pub fn next(&self, node: u64, count: u64, now_unix_ms: u64) -> Result<Vec<u64>, &'static str> {
        let first = self.reserve(count, now_unix_ms)?;
        let node = (node & MAX_NODE) << SEQUENCE_BITS;
        Ok((first..first + count).map(|stamp| compose(stamp, node)).collect())
    }

    /// One ID, without the vector of [`Snowflake::next`] (a queue push takes one per message).
    pub fn one(&self, node: u64, now_unix_ms: u64) -> Result<u64, &'static str> {
        let first = self.reserve(1, now_unix_ms)?;
        Ok(compose(first, (node & MAX_NODE) << SEQUENCE_BITS))
    }

    /// Makes later IDs greater than `id` (one read back from disk), whatever the clock says.
    pub fn after(&self, id: u64) {
        let millis = id >> (NODE_BITS + SEQUENCE_BITS);
        let sequence = id & ((1 << SEQUENCE_BITS) - 1);
        self.last.fetch_max(millis << SEQUENCE_BITS | sequence, Ordering::AcqRel);
    }

    /// Reserves `count` stamps (`millis << 12 | sequence`); the first.
    fn reserve(&self, count: u64, now_unix_ms: u64) -> Result<u64, &'static str> {
        let now = now_unix_ms.saturating_sub(EPOCH_MS) << SEQUENCE_BITS;
        let mut last = self.last.load(Ordering::Relaxed);
        let first = loop {
            let first = if now > last { now } else { last + 1 };
            let end = first + count - 1;
            if end >> SEQUENCE_BITS > TIMESTAMP_MAX {
                return Err("ERR snowflake timestamp space exhausted");
            }
            match self.last.compare_exchange_weak(last, end, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => break first,
                Err(actual) => last = actual,
            }
        };
        Ok(first)
    }
}

fn compose(stamp: u64, node: u64) -> u64 {
    let millis = stamp >> SEQUENCE_BITS;
    let sequence = stamp & ((1 << SEQUENCE_BITS) - 1);
    millis << (NODE_BITS + SEQUENCE_BITS) | node | sequence
}

pub fn parse(id: u64) -> SnowflakeParts {
    SnowflakeParts {
        unix_ms: (id >> (NODE_BITS + SEQUENCE_BITS)) + EPOCH_MS,
        node: (id >> SEQUENCE_BITS) & MAX_NODE,
        sequence: id & ((1 << SEQUENCE_BITS) - 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increasing_even_when_clock_steps_back() {
        let ids = Snowflake::default();
        let t = EPOCH_MS + 1_000_000;
        let a = ids.next(7, 1, t).unwrap()[0];
        let b = ids.next(7, 1, t - 500).unwrap()[0];
        let burst = ids.next(7, 5000, t).unwrap();
        assert!(b > a);
        assert!(burst.windows(2).all(|w| w[1] > w[0]));
        assert!(burst[0] > b);
        let parts = parse(a);
        assert_eq!(parts, SnowflakeParts { unix_ms: t, node: 7, sequence: 0 });
        assert_eq!(parse(*burst.last().unwrap()).node, 7);
        let restarted = Snowflake::default();
        restarted.after(*burst.last().unwrap());
        assert!(restarted.one(7, t - 10_000).unwrap() > *burst.last().unwrap(), "not below what is on disk");
    }
}

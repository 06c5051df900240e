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

/// How far past the clock a reservation reaches: one reservation record per two seconds of IDs (and a restart within them starts at most that far ahead of the clock).
const RESERVE_AHEAD_MS: u64 = 2_000;

/// A lock-free generator.
///
/// With persistence, a generator keeps a reservation: a stamp at or above every ID it issued,
/// written to the store before those IDs are acknowledged. A restart starts above it, so IDs keep
/// increasing across restarts even when the clock went back meanwhile.
#[derive(Default)]
pub struct Snowflake {
    /// `(milliseconds since EPOCH_MS) << 12 | sequence` of the last ID issued.
    last: AtomicU64,
    /// The stamp IDs may reach before a new reservation must be persisted.
    reserved: AtomicU64,
}

/// IDs issued by [`Snowflake::next`], and the reservation to persist before they are acknowledged
/// when they went past the previous one.
pub struct Issued {
    pub ids: Vec<u64>,
    pub reservation: Option<u64>,
}

impl Snowflake {
    /// A generator that issues only stamps above `reserved` (what a restart found persisted).
    pub fn resume_above(&self, reserved: u64) {
        self.last.fetch_max(reserved, Ordering::AcqRel);
        self.reserved.fetch_max(reserved, Ordering::AcqRel);
    }

    /// Issues `count` consecutive IDs for `node`; the rest follow the first by sequence (carrying
    /// into the millisecond field).
    pub fn next(&self, node: u64, count: u64, now_unix_ms: u64) -> Result<Issued, &'static str> {
        let (first, end) = self.stamps(count, now_unix_ms)?;
        let mut reservation = None;
        let mut reserved = self.reserved.load(Ordering::Acquire);
        while end > reserved {
            let ahead = end.max((now_unix_ms.saturating_sub(EPOCH_MS) + RESERVE_AHEAD_MS) << SEQUENCE_BITS);
            match self.reserved.compare_exchange_weak(reserved, ahead, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => reservation = Some(ahead),
                Err(actual) => reserved = actual,
            }
        }
        let node = (node & MAX_NODE) << SEQUENCE_BITS;
        Ok(Issued { ids: (first..=end).map(|stamp| compose(stamp, node)).collect(), reservation })
    }

    /// The first and last stamp of `count` new IDs.
    fn stamps(&self, count: u64, now_unix_ms: u64) -> Result<(u64, u64), &'static str> {
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
        Ok((first, first + count - 1))
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
        let a = ids.next(7, 1, t).unwrap().ids[0];
        let b = ids.next(7, 1, t - 500).unwrap().ids[0];
        let burst = ids.next(7, 5000, t).unwrap().ids;
        assert!(b > a);
        assert!(burst.windows(2).all(|w| w[1] > w[0]));
        assert!(burst[0] > b);
        let parts = parse(a);
        assert_eq!(parts, SnowflakeParts { unix_ms: t, node: 7, sequence: 0 });
        assert_eq!(parse(*burst.last().unwrap()).node, 7);
    }

    #[test]
    fn a_reservation_covers_every_id_and_a_restart_above_it_keeps_increasing() {
        let ids = Snowflake::default();
        let t = EPOCH_MS + 1_000_000;
        let first = ids.next(1, 1, t).unwrap();
        let reserved = first.reservation.expect("the first IDs reserve");
        assert_eq!(parse(first.ids[0]).unix_ms, t);
        // Within the reservation: nothing more to persist.
        assert!(ids.next(1, 100, t + 1_000).unwrap().reservation.is_none());
        // Past it: a new one, ahead of the clock.
        let later = ids.next(1, 1, t + 20_000).unwrap();
        let reserved_again = later.reservation.expect("past the reservation");
        assert!(reserved_again > reserved);

        // A restart whose clock went back an hour.
        let restarted = Snowflake::default();
        restarted.resume_above(reserved_again);
        let after = restarted.next(1, 1, t - 3_600_000).unwrap().ids[0];
        assert!(after > later.ids[0] && after > compose(reserved_again, 1 << SEQUENCE_BITS));
    }
}

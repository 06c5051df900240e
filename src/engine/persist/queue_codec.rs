//! How a queue is written as records: its head (config, counters, rank counters) is the body of
//! its metadata record, and each message is one member record keyed by its ID. So a push, pop or
//! ack writes one message record and the small head, whatever the queue's length.
//!
//! Big-endian throughout. Head: `lease u64 | max deliveries u32 | max len u64 (u64::MAX: none) |
//! overflow u8 | ttl u64 (0: none) | tail i64 | front i64 | 8 counters u64 | dead-letter queue`
//! (the rest of the body, empty: none). Message: `priority u8 | deliveries u32 | state u8 | a u64 |
//! b u64 | expire at u64 (0: none) | dedup length u32 (u32::MAX: none) | dedup | payload`, where
//! the state is 0 ready (a = rank), 1 delayed (a = due), 2 leased (a = deadline), 3 dead (a = rank).
//! The lease holder is not written: after a restart no client holds anything, and the lease ends
//! at its deadline.

use crate::engine::queue::{Counters, Message, Overflow, QueueConfig, QueueHead, State};

pub fn encode_head(head: &QueueHead, out: &mut Vec<u8>) {
    let config = &head.config;
    out.extend_from_slice(&config.lease_ms.to_be_bytes());
    out.extend_from_slice(&config.max_deliveries.to_be_bytes());
    out.extend_from_slice(&config.max_len.unwrap_or(u64::MAX).to_be_bytes());
    out.push(u8::from(config.overflow == Overflow::DropOldest));
    out.extend_from_slice(&config.ttl_ms.unwrap_or(0).to_be_bytes());
    out.extend_from_slice(&head.tail.to_be_bytes());
    out.extend_from_slice(&head.front.to_be_bytes());
    let c = &head.counters;
    for n in [c.pushed, c.delivered, c.redelivered, c.acked, c.nacked, c.expired, c.dead_lettered, c.dropped] {
        out.extend_from_slice(&n.to_be_bytes());
    }
    if let Some(queue) = &config.dead_letter {
        out.extend_from_slice(queue);
    }
}

/// Reads fixed-size big-endian fields off the front of a record.
pub(super) struct Reader<'a>(pub(super) &'a [u8]);

impl<'a> Reader<'a> {
    pub(super) fn bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    pub(super) fn u64(&mut self) -> Option<u64> {
        self.bytes().map(u64::from_be_bytes)
    }

    pub(super) fn i64(&mut self) -> Option<i64> {
        self.bytes().map(i64::from_be_bytes)
    }

    pub(super) fn u32(&mut self) -> Option<u32> {
        self.bytes().map(u32::from_be_bytes)
    }

    pub(super) fn u8(&mut self) -> Option<u8> {
        self.bytes::<1>().map(|[b]| b)
    }

    pub(super) fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(len)?;
        self.0 = rest;
        Some(head)
    }
}

pub fn decode_head(body: &[u8]) -> Option<QueueHead> {
    let mut r = Reader(body);
    let lease_ms = r.u64()?;
    let max_deliveries = r.u32()?;
    let max_len = Some(r.u64()?).filter(|&n| n != u64::MAX);
    let overflow = if r.u8()? == 1 { Overflow::DropOldest } else { Overflow::Reject };
    let ttl_ms = Some(r.u64()?).filter(|&n| n != 0);
    let (tail, front) = (r.i64()?, r.i64()?);
    let mut n = [0u64; 8];
    for slot in &mut n {
        *slot = r.u64()?;
    }
    let [pushed, delivered, redelivered, acked, nacked, expired, dead_lettered, dropped] = n;
    let dead_letter = (!r.0.is_empty()).then(|| r.0.into());
    Some(QueueHead {
        config: QueueConfig { lease_ms, max_deliveries, dead_letter, max_len, overflow, ttl_ms },
        counters: Counters { pushed, delivered, redelivered, acked, nacked, expired, dead_lettered, dropped },
        tail,
        front,
    })
}

pub fn encode_message(message: &Message, out: &mut Vec<u8>) {
    out.clear();
    out.push(message.priority);
    out.extend_from_slice(&message.deliveries.to_be_bytes());
    let (tag, a) = match message.state {
        State::Ready { rank } => (0, rank as u64),
        State::Delayed { due } => (1, due),
        State::Leased { deadline, .. } => (2, deadline),
        State::Dead { rank } => (3, rank as u64),
    };
    out.push(tag);
    out.extend_from_slice(&a.to_be_bytes());
    out.extend_from_slice(&0u64.to_be_bytes());
    out.extend_from_slice(&message.expire_at.unwrap_or(0).to_be_bytes());
    match &message.dedup {
        Some(token) => {
            out.extend_from_slice(&(token.len() as u32).to_be_bytes());
            out.extend_from_slice(token);
        }
        None => out.extend_from_slice(&u32::MAX.to_be_bytes()),
    }
    out.extend_from_slice(&message.payload);
}

pub fn decode_message(bytes: &[u8]) -> Option<Message> {
    let mut r = Reader(bytes);
    let priority = r.u8()?.min(9);
    let deliveries = r.u32()?;
    let tag = r.u8()?;
    let a = r.u64()?;
    let _reserved = r.u64()?;
    let state = match tag {
        0 => State::Ready { rank: a as i64 },
        1 => State::Delayed { due: a },
        2 => State::Leased { deadline: a, holder: 0 },
        3 => State::Dead { rank: a as i64 },
        _ => return None,
    };
    let expire_at = Some(r.u64()?).filter(|&at| at != 0);
    let dedup = match r.u32()? {
        u32::MAX => None,
        len => Some(r.take(len as usize)?.into()),
    };
    Some(Message { payload: r.0.into(), priority, deliveries, state, expire_at, dedup })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_damage() {
        let head = QueueHead {
            config: QueueConfig { dead_letter: Some((*b"dlq").into()), max_len: Some(5), ttl_ms: Some(9), ..QueueConfig::default() },
            counters: Counters { pushed: 3, dropped: 1, ..Counters::default() },
            tail: 7,
            front: -2,
        };
        let mut out = Vec::new();
        encode_head(&head, &mut out);
        assert_eq!(decode_head(&out), Some(head));
        for state in
            [State::Ready { rank: -4 }, State::Delayed { due: 9 }, State::Leased { deadline: 3, holder: 0 }, State::Dead { rank: 2 }]
        {
            let message = Message {
                payload: (*b"any\0bytes").into(),
                priority: 7,
                deliveries: 2,
                state,
                expire_at: Some(4),
                dedup: Some((*b"t").into()),
            };
            encode_message(&message, &mut out);
            assert_eq!(decode_message(&out), Some(message));
            for cut in 0..22 {
                assert!(decode_message(&out[..cut]).is_none());
            }
        }
        assert!(decode_head(&out[..10]).is_none());
    }
}

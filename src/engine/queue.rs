//! Durable work queues (the `queue` type behind `Q.*`): messages with leases, delays, priorities,
//! TTLs, delivery limits and dead letters. Knows no RESP and no clock of its own: every operation is
//! given `now` (Unix ms), so the policy is testable with a fake clock.
//!
//! A message lives in `messages` by its ID (a snowflake, so IDs grow with push order) and in exactly
//! one of the per-state indexes: the ready line (by priority, then rank), the delayed set (by due
//! time), the leased set (by lease deadline) or the dead letters (by rank). A rank orders a ready
//! line: pushes take increasing ranks from `tail`, a message going back to the head (NACK, a lease
//! that ran out, a consumer that went away) takes decreasing ones from `front`. Ranks are stored
//! with the message, so persistence writes one record per changed message and recovery rebuilds the
//! indexes from those records alone.
//!
//! Every change is a [`Queue::put`] (a message in its new state) or a [`Queue::take`] (a message
//! gone), plus the head ([`QueueHead`]: config, counters, rank counters); the seam mutators in
//! `tracked` record exactly those three, so replay and persistence need nothing else.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What a push does when the queue holds MAXLEN messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Overflow {
    /// The push is refused.
    #[default]
    Reject,
    /// The oldest ready message is dropped to make room.
    DropOldest,
}

/// A queue's policy, set by Q.CONFIG.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    pub lease_ms: u64,
    pub max_deliveries: u32,
    /// Where messages go past MAXDELIVERIES or their TTL (`None`: the queue's own dead letters, and
    /// TTL drops).
    pub dead_letter: Option<Box<[u8]>>,
    pub max_len: Option<u64>,
    pub overflow: Overflow,
    /// The TTL of messages pushed without one.
    pub ttl_ms: Option<u64>,
}

/// Lease 30 s, 20 deliveries (RabbitMQ quorum queues' default delivery limit).
impl Default for QueueConfig {
    fn default() -> QueueConfig {
        QueueConfig { lease_ms: 30_000, max_deliveries: 20, dead_letter: None, max_len: None, overflow: Overflow::Reject, ttl_ms: None }
    }
}

/// Q.STATS counters; they only grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Counters {
    pub pushed: u64,
    pub delivered: u64,
    pub redelivered: u64,
    pub acked: u64,
    pub nacked: u64,
    pub expired: u64,
    pub dead_lettered: u64,
    /// Dropped by MAXLEN ... OVERFLOW drop-oldest.
    pub dropped: u64,
}

/// Everything of a queue that is not a message: one small record.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct QueueHead {
    pub config: QueueConfig,
    pub counters: Counters,
    /// The next rank at the tail of a ready line (grows).
    pub tail: i64,
    /// The next rank at the head of a ready line (shrinks below 0).
    pub front: i64,
}

/// Where a message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Ready {
        rank: i64,
    },
    Delayed {
        due: u64,
    },
    /// Leased to client `holder` until `deadline` (holder 0: nobody connected, after a restart).
    Leased {
        deadline: u64,
        holder: u64,
    },
    Dead {
        rank: i64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub payload: Box<[u8]>,
    /// 0..=9, 9 delivered first.
    pub priority: u8,
    /// How many times it was handed to a consumer.
    pub deliveries: u32,
    pub state: State,
    /// When it expires if not delivered by then (TTL).
    pub expire_at: Option<u64>,
    pub dedup: Option<Box<[u8]>>,
}

/// What a push asks for beyond the payload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushOptions {
    pub delay_ms: u64,
    pub priority: u8,
    pub ttl_ms: Option<u64>,
    pub dedup: Option<Box<[u8]>>,
}

/// The result of a push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    Added,
    /// A message with the same DEDUP token is in the queue: this ID, nothing added.
    Duplicate(u64),
    /// MAXLEN reached with OVERFLOW reject.
    Full,
}

/// A queue. Equality compares messages and head (the indexes follow from them).
#[derive(Clone, Default, PartialEq)]
pub struct Queue {
    head: QueueHead,
    messages: HashMap<u64, Message>,
    /// (9 - priority, rank) → id.
    ready: BTreeMap<(u8, i64), u64>,
    /// The ready IDs by age (IDs grow with push time): the oldest ready message.
    ready_by_age: BTreeSet<u64>,
    /// (due, id).
    delayed: BTreeSet<(u64, u64)>,
    /// (deadline, id).
    leased: BTreeSet<(u64, u64)>,
    /// rank → id.
    dead: BTreeMap<i64, u64>,
    /// (expire_at, id) of ready and delayed messages with a TTL.
    ttl: BTreeSet<(u64, u64)>,
    dedup: HashMap<Box<[u8]>, u64>,
}

/// The head, then the messages by ID: the same for equal queues (a `HashMap`'s order is not).
impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut messages: Vec<_> = self.messages.iter().collect();
        messages.sort_by_key(|(id, _)| **id);
        f.debug_struct("Queue").field("head", &self.head).field("messages", &messages).finish()
    }
}

/// Counts by state, for Q.STATS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Sizes {
    pub ready: usize,
    pub delayed: usize,
    pub leased: usize,
    pub dead: usize,
}

impl Queue {
    pub fn new() -> Queue {
        Queue::default()
    }

    /// Rebuilds a queue from its head and its messages (recovery).
    pub fn restore(head: QueueHead, messages: impl IntoIterator<Item = (u64, Message)>) -> Queue {
        let mut queue = Queue { head, ..Queue::default() };
        for (id, message) in messages {
            queue.put(id, message);
        }
        queue
    }

    pub fn head(&self) -> &QueueHead {
        &self.head
    }

    pub fn config(&self) -> &QueueConfig {
        &self.head.config
    }

    pub fn counters(&self) -> &Counters {
        &self.head.counters
    }

    pub fn message(&self, id: u64) -> Option<&Message> {
        self.messages.get(&id)
    }

    pub fn messages(&self) -> impl Iterator<Item = (u64, &Message)> {
        self.messages.iter().map(|(id, m)| (*id, m))
    }

    pub fn sizes(&self) -> Sizes {
        Sizes { ready: self.ready.len(), delayed: self.delayed.len(), leased: self.leased.len(), dead: self.dead.len() }
    }

    /// Ready message IDs in delivery order.
    pub fn ready_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.ready.values().copied()
    }

    /// Dead letters, oldest first.
    pub fn dead_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.dead.values().copied()
    }

    /// The oldest ready message's ID (IDs grow with push time).
    pub fn oldest_ready(&self) -> Option<u64> {
        self.ready_by_age.first().copied()
    }

    /// The earliest time something changes by itself: a delay ends, a lease runs out, a TTL passes.
    pub fn next_due(&self) -> Option<u64> {
        let times = [self.delayed.first().map(|d| d.0), self.leased.first().map(|l| l.0), self.ttl.first().map(|t| t.0)];
        times.into_iter().flatten().min()
    }

    /// Heap bytes, roughly (payloads plus a fixed cost per message).
    pub fn heap_size(&self) -> usize {
        self.messages.values().map(|m| m.payload.len() + 96 + m.dedup.as_ref().map_or(0, |d| d.len() * 2)).sum()
    }

    /// Places `message` under `id`, replacing (and unindexing) any message there.
    pub(super) fn put(&mut self, id: u64, message: Message) {
        self.unindex(id);
        self.index_state(id, &message);
        if let Some(token) = &message.dedup {
            self.dedup.insert(token.clone(), id);
        }
        self.messages.insert(id, message);
    }

    /// Changes message `id` in place (its payload is not copied) and moves it between the
    /// indexes; `change` must leave its DEDUP token alone. False when there is no such message.
    pub(super) fn modify(&mut self, id: u64, change: impl FnOnce(&mut Message)) -> bool {
        let Some(mut message) = self.messages.remove(&id) else {
            return false;
        };
        self.unindex_state(id, &message);
        change(&mut message);
        self.index_state(id, &message);
        self.messages.insert(id, message);
        true
    }

    fn index_state(&mut self, id: u64, message: &Message) {
        match message.state {
            State::Ready { rank } => {
                self.ready.insert((9 - message.priority.min(9), rank), id);
                self.ready_by_age.insert(id);
            }
            State::Delayed { due } => {
                self.delayed.insert((due, id));
            }
            State::Leased { deadline, .. } => {
                self.leased.insert((deadline, id));
            }
            State::Dead { rank } => {
                self.dead.insert(rank, id);
            }
        }
        if let (Some(at), State::Ready { .. } | State::Delayed { .. }) = (message.expire_at, message.state) {
            self.ttl.insert((at, id));
        }
    }

    fn unindex_state(&mut self, id: u64, message: &Message) {
        match message.state {
            State::Ready { rank } => {
                self.ready.remove(&(9 - message.priority.min(9), rank));
                self.ready_by_age.remove(&id);
            }
            State::Delayed { due } => {
                self.delayed.remove(&(due, id));
            }
            State::Leased { deadline, .. } => {
                self.leased.remove(&(deadline, id));
            }
            State::Dead { rank } => {
                self.dead.remove(&rank);
            }
        }
        if let Some(at) = message.expire_at {
            self.ttl.remove(&(at, id));
        }
    }

    /// Removes the message `id` from the queue and every index.
    pub(super) fn take(&mut self, id: u64) -> Option<Message> {
        self.unindex(id)
    }

    /// Takes message `id` out of `messages` and every index.
    fn unindex(&mut self, id: u64) -> Option<Message> {
        let old = self.messages.remove(&id)?;
        self.unindex_state(id, &old);
        if let Some(token) = &old.dedup {
            if self.dedup.get(token) == Some(&id) {
                self.dedup.remove(token);
            }
        }
        Some(old)
    }

    /// The leased messages of client `holder`.
    fn leased_by(&self, holder: u64) -> Vec<u64> {
        self.leased
            .iter()
            .filter(|(_, id)| matches!(self.messages.get(id), Some(Message { state: State::Leased { holder: h, .. }, .. }) if *h == holder))
            .map(|(_, id)| *id)
            .collect()
    }
}

/// Takes the first element of an ordered set when it satisfies `due`.
trait TakeFirstDue<T> {
    fn take_first_due(&mut self, due: impl FnOnce(&T) -> bool) -> Option<T>;
}

impl<T: Ord> TakeFirstDue<T> for BTreeSet<T> {
    fn take_first_due(&mut self, due: impl FnOnce(&T) -> bool) -> Option<T> {
        if self.first().is_some_and(due) {
            self.pop_first()
        } else {
            None
        }
    }
}

/// A message leaving its queue for a dead-letter queue (past MAXDELIVERIES, or its TTL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forward {
    pub id: u64,
    pub payload: Box<[u8]>,
    pub priority: u8,
}

mod tracked {
    use super::super::mutation::Mutation;
    use super::super::write::Tracked;
    use super::*;

    /// The mutators of a stored queue: each records the messages it changed and the head.
    impl Tracked<'_, Queue> {
        fn put_logged(&mut self, id: u64, message: Message) {
            self.value.put(id, message);
            if let Some(message) = self.value.messages.get(&id) {
                self.log.member(|key| Mutation::QueueMessage { key, id, message });
            }
        }

        fn take_logged(&mut self, id: u64) -> Option<Message> {
            let message = self.value.take(id)?;
            self.log.member(|key| Mutation::QueueRemove { key, id });
            Some(message)
        }

        /// Records the head; every command that changed the queue calls it once at its end.
        pub fn commit_head(&mut self) {
            let head = &self.value.head;
            self.log.member(|key| Mutation::QueueHead { key, head });
        }

        /// Applies what time did by `now`: delays that ended (to the tail of their line), leases
        /// that ran out (back to the head, or dead past MAXDELIVERIES), TTLs that passed (dropped,
        /// or forwarded when a dead-letter queue is set). Messages for the dead-letter queue are
        /// appended to `forward`. Whether anything changed.
        pub fn settle(&mut self, now: u64, forward: &mut Vec<Forward>) -> bool {
            let mut changed = false;
            // Each loop takes the index entry first, so it ends even if an entry had no message.
            while let Some((_, id)) = self.value.delayed.take_first_due(|&(due, _)| due <= now) {
                self.ready_at_tail(id);
                changed = true;
            }
            while let Some((_, id)) = self.value.leased.take_first_due(|&(deadline, _)| deadline <= now) {
                self.give_back(id, forward);
                changed = true;
            }
            while let Some((_, id)) = self.value.ttl.take_first_due(|&(at, _)| at <= now) {
                let Some(message) = self.take_logged(id) else {
                    continue;
                };
                if self.value.head.config.dead_letter.is_some() {
                    self.value.head.counters.dead_lettered += 1;
                    forward.push(Forward { id, payload: message.payload, priority: message.priority });
                } else {
                    self.value.head.counters.expired += 1;
                }
                changed = true;
            }
            changed
        }

        /// A leased message whose lease ended without an ack: back to the head of its line, or to
        /// the dead letters once it was delivered MAXDELIVERIES times.
        fn give_back(&mut self, id: u64, forward: &mut Vec<Forward>) {
            let Some(message) = self.value.messages.get(&id) else {
                return;
            };
            if message.deliveries >= self.value.head.config.max_deliveries {
                self.kill(id, forward);
            } else {
                self.ready_at_front(id);
            }
        }

        fn ready_at_tail(&mut self, id: u64) {
            let rank = self.value.head.tail;
            self.value.head.tail += 1;
            self.restate(id, State::Ready { rank });
        }

        fn ready_at_front(&mut self, id: u64) {
            self.value.head.front -= 1;
            let rank = self.value.head.front;
            self.restate(id, State::Ready { rank });
        }

        fn restate(&mut self, id: u64, state: State) {
            self.modify_logged(id, |message| message.state = state);
        }

        /// [`Queue::modify`], recorded.
        fn modify_logged(&mut self, id: u64, change: impl FnOnce(&mut Message)) {
            if self.value.modify(id, change) {
                if let Some(message) = self.value.messages.get(&id) {
                    self.log.member(|key| Mutation::QueueMessage { key, id, message });
                }
            }
        }

        /// Moves a message to the dead letters, or out to the dead-letter queue.
        fn kill(&mut self, id: u64, forward: &mut Vec<Forward>) {
            self.value.head.counters.dead_lettered += 1;
            if self.value.head.config.dead_letter.is_some() {
                if let Some(message) = self.take_logged(id) {
                    forward.push(Forward { id, payload: message.payload, priority: message.priority });
                }
            } else {
                let rank = self.value.head.tail;
                self.value.head.tail += 1;
                self.restate(id, State::Dead { rank });
            }
        }

        /// Adds a message under `id` (a new snowflake, or a forwarded message's own ID).
        pub fn push(&mut self, id: u64, payload: &[u8], options: &PushOptions, now: u64) -> Pushed {
            if let Some(token) = &options.dedup {
                if let Some(existing) = self.value.dedup.get(token) {
                    return Pushed::Duplicate(*existing);
                }
            }
            if let Some(max) = self.value.head.config.max_len {
                let waiting = (self.value.ready.len() + self.value.delayed.len()) as u64;
                if waiting >= max {
                    match self.value.head.config.overflow {
                        Overflow::Reject => return Pushed::Full,
                        Overflow::DropOldest => {
                            let oldest = self.value.oldest_ready().or_else(|| self.value.delayed.first().map(|d| d.1));
                            match oldest {
                                Some(oldest) if max > 0 => {
                                    self.take_logged(oldest);
                                    self.value.head.counters.dropped += 1;
                                }
                                _ => return Pushed::Full,
                            }
                        }
                    }
                }
            }
            let state = if options.delay_ms > 0 {
                State::Delayed { due: now.saturating_add(options.delay_ms) }
            } else {
                let rank = self.value.head.tail;
                self.value.head.tail += 1;
                State::Ready { rank }
            };
            let ttl = options.ttl_ms.or(self.value.head.config.ttl_ms);
            let message = Message {
                payload: payload.into(),
                priority: options.priority.min(9),
                deliveries: 0,
                state,
                expire_at: ttl.map(|ttl| now.saturating_add(options.delay_ms).saturating_add(ttl)),
                dedup: options.dedup.clone(),
            };
            self.put_logged(id, message);
            self.value.head.counters.pushed += 1;
            Pushed::Added
        }

        /// Leases up to `count` ready messages to `holder` for `lease_ms`: their IDs, in delivery
        /// order (read them back with [`Queue::message`]).
        pub fn pop(&mut self, count: usize, lease_ms: u64, holder: u64, now: u64) -> Vec<u64> {
            let ids: Vec<u64> = self.value.ready.values().take(count).copied().collect();
            let state = State::Leased { deadline: now.saturating_add(lease_ms), holder };
            for &id in &ids {
                let mut again = false;
                self.modify_logged(id, |message| {
                    message.deliveries += 1;
                    message.state = state;
                    again = message.deliveries > 1;
                });
                let counters = &mut self.value.head.counters;
                counters.delivered += 1;
                counters.redelivered += u64::from(again);
            }
            ids
        }

        fn is_leased(&self, id: u64) -> bool {
            matches!(self.value.messages.get(&id), Some(Message { state: State::Leased { .. }, .. }))
        }

        /// Finishes leased messages; how many were leased.
        pub fn ack(&mut self, ids: &[u64]) -> usize {
            let mut done = 0;
            for &id in ids {
                if self.is_leased(id) {
                    self.take_logged(id);
                    self.value.head.counters.acked += 1;
                    done += 1;
                }
            }
            done
        }

        /// Gives leased messages back: dead (`dead`, or past MAXDELIVERIES), delayed by `delay_ms`,
        /// or to the head of their line. How many were leased.
        pub fn nack(&mut self, ids: &[u64], delay_ms: u64, dead: bool, now: u64, forward: &mut Vec<Forward>) -> usize {
            let mut done = 0;
            for &id in ids {
                let Some(message) = self.value.messages.get(&id) else {
                    continue;
                };
                if !matches!(message.state, State::Leased { .. }) {
                    continue;
                }
                self.value.head.counters.nacked += 1;
                if dead || message.deliveries >= self.value.head.config.max_deliveries {
                    self.kill(id, forward);
                } else if delay_ms > 0 {
                    self.restate(id, State::Delayed { due: now.saturating_add(delay_ms) });
                } else {
                    self.ready_at_front(id);
                }
                done += 1;
            }
            done
        }

        /// Extends the leases of `ids` to `now + lease_ms`; how many were leased.
        pub fn touch(&mut self, ids: &[u64], lease_ms: u64, now: u64) -> usize {
            let mut done = 0;
            for &id in ids {
                if let Some(Message { state: State::Leased { holder, .. }, .. }) = self.value.messages.get(&id) {
                    let holder = *holder;
                    self.restate(id, State::Leased { deadline: now.saturating_add(lease_ms), holder });
                    done += 1;
                }
            }
            done
        }

        /// Client `holder` went away: its leased messages go back to the head at once (as an AMQP
        /// channel close does). How many.
        pub fn release(&mut self, holder: u64) -> usize {
            let ids = self.value.leased_by(holder);
            // Back to the head in their delivery order: the first leased ends up first.
            for &id in ids.iter().rev() {
                self.ready_at_front(id);
            }
            ids.len()
        }

        /// Drops ready and delayed messages; how many.
        pub fn purge(&mut self) -> usize {
            let ids: Vec<u64> = self.value.ready.values().copied().chain(self.value.delayed.iter().map(|d| d.1)).collect();
            for &id in &ids {
                self.take_logged(id);
            }
            ids.len()
        }

        /// Moves up to `count` dead letters back to the tail of their ready line, their delivery
        /// count reset; how many.
        pub fn redrive(&mut self, count: usize) -> usize {
            let ids: Vec<u64> = self.value.dead.values().take(count).copied().collect();
            for &id in &ids {
                let rank = self.value.head.tail;
                self.value.head.tail += 1;
                self.modify_logged(id, |message| {
                    message.deliveries = 0;
                    message.state = State::Ready { rank };
                });
            }
            ids.len()
        }

        /// Keeps a message that could not reach the dead-letter queue (full, or another type
        /// there) among this queue's own dead letters.
        pub fn bury(&mut self, message: Forward) {
            let rank = self.value.head.tail;
            self.value.head.tail += 1;
            let state = State::Dead { rank };
            let buried =
                Message { payload: message.payload, priority: message.priority, deliveries: 0, state, expire_at: None, dedup: None };
            self.put_logged(message.id, buried);
        }

        /// Sets the policy.
        pub fn configure(&mut self, config: QueueConfig) {
            self.value.head.config = config;
        }

        /// The replay of [`Mutation::QueueMessage`].
        pub fn replay_put(&mut self, id: u64, message: &Message) {
            self.put_logged(id, message.clone());
        }

        /// The replay of [`Mutation::QueueRemove`].
        pub fn replay_take(&mut self, id: u64) {
            self.take_logged(id);
        }

        /// The replay of [`Mutation::QueueHead`].
        pub fn replay_head(&mut self, head: &QueueHead) {
            self.value.head = head.clone();
            self.commit_head();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(priority: u8, state: State) -> Message {
        Message { payload: (*b"p").into(), priority, deliveries: 0, state, expire_at: None, dedup: None }
    }

    #[test]
    fn indexes_follow_put_and_take() {
        let mut queue = Queue::new();
        queue.put(1, message(0, State::Ready { rank: 0 }));
        queue.put(2, message(9, State::Ready { rank: 1 }));
        queue.put(3, message(0, State::Ready { rank: -1 }));
        queue.put(4, message(0, State::Delayed { due: 50 }));
        assert_eq!(queue.ready_ids().collect::<Vec<_>>(), vec![2, 3, 1]);
        assert_eq!(queue.oldest_ready(), Some(1));
        assert_eq!(queue.next_due(), Some(50));
        queue.put(4, message(0, State::Leased { deadline: 70, holder: 5 }));
        assert_eq!(queue.sizes(), Sizes { ready: 3, delayed: 0, leased: 1, dead: 0 });
        assert_eq!(queue.leased_by(5), vec![4]);
        assert!(queue.take(2).is_some());
        assert_eq!(queue.ready_ids().collect::<Vec<_>>(), vec![3, 1]);
        let rebuilt = Queue::restore(queue.head().clone(), queue.messages().map(|(id, m)| (id, m.clone())));
        assert_eq!(rebuilt, queue);
        assert_eq!(rebuilt.ready_ids().collect::<Vec<_>>(), vec![3, 1]);
    }
}

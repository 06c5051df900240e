//! One client connection: read, run every complete request in the buffer, write all replies at once.
//!
//! Requests run in [`Connection::run_batch`], which is synchronous: it holds the server's gate (read
//! side, or write side for EXEC) while commands execute and returns whenever the connection has to
//! wait for something (a DEBUG SLEEP, a CLIENT PAUSE, a blocking command) so no lock is ever held
//! across an `.await`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use super::blocking::serve_ready;
use crate::commands::admission::{self, Admission, Alone, Gate, Step};
use crate::commands::dispatch::{dispatch_admitted, resolve, Resolved};
use crate::commands::{registry, Command, Ctx, ReplyMode, Session, ADMIN, SKIP_MONITOR, SKIP_SLOWLOG};
use crate::engine::persist::Store;
use crate::resp::{encode, parse_request, Args, ParseLimits, Reply, RequestBuf};
use crate::scripting::{busy_error, ScriptKind, Scripting};
use crate::state::blocked::Parked;
use crate::state::clients::ClientInfo;
use crate::state::monitor::MONITOR_QUEUE;
use crate::state::shared::{stopping, unix_micros, unix_ms, Shared, ShutdownRequest};
use crate::state::stats::LocalStats;

/// Read buffer headroom kept before each read; large requests grow the buffer as they arrive.
const READ_CHUNK: usize = 16 * 1024;
/// Replies a batch may hold before they are written: a client that pipelines big replies and never
/// reads them holds at most this much of strata's memory (plus one reply), whatever it sends.
const OUTPUT_BATCH_LIMIT: usize = 4 * 1024 * 1024;

/// Why a batch stopped before the end of the buffer.
enum Pending {
    /// Every complete request ran.
    Done,
    /// Wait, then go on (DEBUG SLEEP, WAIT).
    Sleep(Duration),
    /// CLIENT PAUSE holds the next request (not yet consumed).
    Paused { write: bool },
    /// A blocking command found nothing to serve: the client waits in line until the deadline
    /// (`None`: forever).
    Blocked(Option<Instant>, Parked),
    /// MONITOR: start streaming.
    Monitor,
    /// The replies so far reached [`OUTPUT_BATCH_LIMIT`]: they go out before more requests run.
    Flush,
    /// QUIT, a kill of self, SHUTDOWN, or a protocol error.
    Close,
}

/// Which `client-output-buffer-limit` a connection's pending replies pass.
enum OutputLimit {
    Hard,
    /// Over the soft limit: the client has this long to read them.
    Soft(Duration),
}

/// How a blocked command ended.
enum Unblocked {
    Served,
    Close,
}

struct Connection {
    shared: Arc<Shared>,
    info: Arc<ClientInfo>,
    session: Session,
    output: BytesMut,
    local: LocalStats,
    /// The store ticket of the last unit this connection's requests committed: under `appendfsync
    /// always` its replies wait until that unit is on disk.
    last_commit: u64,
}

/// Serves one client until it quits, is killed, times out, errs, or the server shuts down: over
/// the two halves of a TCP socket, or of a TLS session.
pub async fn serve<R, W>(mut reader: R, mut writer: W, shared: Arc<Shared>, info: Arc<ClientInfo>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let session = Session::new(info.clone(), &shared.acl);
    let mut shutdown = shared.shutdown_signal();
    let mut conn =
        Connection { shared, info, session, output: BytesMut::with_capacity(1024), local: LocalStats::default(), last_commit: 0 };
    let mut request = RequestBuf::default();
    let mut input = BytesMut::with_capacity(1024);
    let mut monitor_feed: Option<mpsc::Receiver<Bytes>> = None;

    'connection: loop {
        if input.capacity() - input.len() < READ_CHUNK {
            input.reserve(READ_CHUNK);
        }
        let idle_limit = conn.shared.config.hot.timeout_secs.load(Ordering::Relaxed);
        // Subscribers are never idle-closed, as in Redis.
        let may_idle_close = idle_limit > 0 && monitor_feed.is_none() && !conn.session.pubsub.active();
        let read = tokio::select! {
            read = reader.read_buf(&mut input) => read,
            _ = conn.info.kill.notified() => break,
            _ = stopping(&mut shutdown) => break,
            Some(line) = next_line(&mut monitor_feed) => {
                if writer.write_all(&line).await.is_err() {
                    break;
                }
                continue;
            }
            Some(message) = conn.session.pubsub.next() => {
                encode(&message, conn.session.protocol, &mut conn.output);
                drain_messages(&mut conn.session, &mut conn.output);
                // A subscriber too slow to read is killed by the registry: stop waiting on its socket.
                let info = conn.info.clone();
                let written = tokio::select! {
                    written = conn.flush(&mut writer) => written,
                    _ = info.kill.notified() => false,
                };
                if !written {
                    break;
                }
                continue;
            }
            _ = idle(idle_limit), if may_idle_close => break,
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => conn.shared.stats.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed),
        };
        if conn.info.killed.load(Ordering::Relaxed) {
            break;
        }

        let mut consumed = 0;
        let mut close = false;
        loop {
            let commits_before = Store::last_commit_here();
            let (used, pending) = conn.run_batch(&mut request, &input[consumed..]);
            // Requests run without a pause, so a unit committed meanwhile is this connection's.
            let commits_after = Store::last_commit_here();
            if commits_after != commits_before {
                conn.last_commit = commits_after;
            }
            consumed += used;
            match pending {
                Pending::Done => break,
                Pending::Close => {
                    close = true;
                    break;
                }
                Pending::Sleep(delay) => {
                    if !conn.flush(&mut writer).await {
                        break 'connection;
                    }
                    tokio::time::sleep(delay).await;
                }
                Pending::Paused { write } => wait_while_paused(&conn.shared, write).await,
                Pending::Flush => {
                    if !conn.flush(&mut writer).await {
                        break 'connection;
                    }
                }
                Pending::Monitor => {
                    let (sender, receiver) = mpsc::channel(MONITOR_QUEUE);
                    conn.shared.monitors.add(conn.info.id, sender);
                    conn.info.monitor.store(true, Ordering::Relaxed);
                    monitor_feed = Some(receiver);
                }
                Pending::Blocked(deadline, parked) => {
                    if !conn.flush(&mut writer).await {
                        break 'connection;
                    }
                    match conn.wait_blocked(deadline, parked, &mut reader, &mut writer, &mut input, &mut shutdown).await {
                        Unblocked::Served => {}
                        Unblocked::Close => break 'connection,
                    }
                }
            }
        }
        input.advance(consumed);
        conn.local.flush(&conn.shared.stats);
        conn.info.last_interaction_ms.store(unix_ms(), Ordering::Relaxed);
        conn.info.query_buffer.store(input.len(), Ordering::Relaxed);
        // Let every connection that is ready in this turn of the loop run its requests before any
        // reply is sent, as Redis writes its replies only before the event loop sleeps: the sends
        // then go out back to back and wake a busy client once for many replies (measured: EVALSHA
        // from 50 clients +15-25%).
        tokio::task::yield_now().await;
        if !conn.flush(&mut writer).await || close {
            break;
        }
        if input.len() > conn.shared.config.hot.query_buffer_limit.load(Ordering::Relaxed) {
            tracing::warn!(client = conn.info.id, addr = %conn.info.addr, "closing client that reached max query buffer length");
            break;
        }
    }
    conn.close();
    let _ = writer.shutdown().await;
}

impl Connection {
    /// Runs the complete requests at the start of `buffer`; returns the bytes consumed and why it
    /// stopped.
    fn run_batch(&mut self, request: &mut RequestBuf, buffer: &[u8]) -> (usize, Pending) {
        let shared = self.shared.clone();
        let max_bulk_len = shared.config.hot.proto_max_bulk_len.load(Ordering::Relaxed);
        // One wall-clock reading per batch; each command's time derives from the monotonic clock it
        // reads anyway for its duration, so a command costs two clock reads, as in Redis.
        let batch_started = Instant::now();
        let batch_unix_ms = unix_ms();
        let mut gate: Option<parking_lot::RwLockReadGuard<'_, ()>> = None;
        // Held across consecutive exclusive requests: a pipeline of EVALSHAs takes it once.
        let mut exclusive: Option<parking_lot::RwLockWriteGuard<'_, ()>> = None;
        let mut consumed = 0;
        loop {
            let rest = &buffer[consumed..];
            // Per request: an AUTH earlier in the pipeline lifts the limits of what follows it.
            let limits = ParseLimits { max_bulk_len, unauthenticated: !self.session.authenticated };
            let length = match parse_request(rest, request, limits) {
                Ok(Some(length)) => length,
                Ok(None) => return (consumed, Pending::Done),
                Err(error) => {
                    tracing::debug!(client = self.info.id, %error, "protocol error");
                    encode(&Reply::Error(error.to_string().into()), self.session.protocol, &mut self.output);
                    return (consumed, Pending::Close);
                }
            };
            let args = request.args(rest);
            if args.is_empty() {
                consumed += length;
                continue;
            }
            // Resolved once; admission and dispatch read the row.
            let resolved = resolve(args);
            let command = resolved.as_ref().ok().map(|&(_, command)| command);
            let db = self.session.db;
            let awaits = |key: &[u8]| shared.blocked.awaits(db, key);
            self.session.refresh_user(&shared.acl);
            let mut state = admission::State::of(&self.session);
            state.pause = shared.pause_in_force();
            state.disk_error = shared.store.as_ref().is_some_and(|store| store.failed());
            state.loading = shared.loading.load(Ordering::Relaxed);
            if shared.blocked.count() > 0 {
                state.awaited = Some(&awaits);
            }
            let mut admission = admission::decide(command, args, &state);
            let started = Instant::now();
            let now_ms = batch_unix_ms + started.duration_since(batch_started).as_millis() as u64;
            // Take the side of the gate the request asks for (kept across a pipeline of the same
            // side); a script past busy-reply-threshold turns the answer into BUSY, or into a run
            // without the gate for `allow_busy` commands.
            let entered = match admission {
                Admission::Go { gate: Gate::Alone(_), .. } => {
                    gate = None;
                    match exclusive {
                        Some(_) => Ok(()),
                        None => shared.enter_exclusive().map(|guard| exclusive = Some(guard)),
                    }
                }
                Admission::Go { gate: Gate::Shared, .. } => {
                    exclusive = None;
                    match gate {
                        Some(_) => Ok(()),
                        None => shared.enter_gate().map(|guard| gate = Some(guard)),
                    }
                }
                _ => Ok(()),
            };
            if let Err(kind) = entered {
                state.busy = Some(kind);
                admission = admission::decide(command, args, &state);
            }
            let (side, step) = match admission {
                Admission::Pause { write } => return (consumed, Pending::Paused { write }),
                Admission::Busy(kind) => {
                    consumed += length;
                    self.refuse_busy(kind);
                    continue;
                }
                Admission::Go { gate, step } => (gate, step),
            };
            consumed += length;
            match side {
                // Alone: no other client's command between a script's or a transaction's commands.
                Gate::Alone(Alone::Script) => {
                    let _in_script = super::spare::running_here();
                    let mut scripting = shared.scripting.lock();
                    self.execute(args, resolved, step, now_ms, started, scripting.as_mut());
                    // INFO and FUNCTION STATS read these without the VM, which a script may hold.
                    if let Some(scripting) = scripting.as_ref() {
                        scripting.publish();
                    }
                }
                // Alone, nor between a push and the serving of the clients blocked on its key. A push
                // on another loop may have landed before its writer serves the waiters: they come
                // first, so this command cannot take what was theirs.
                Gate::Alone(Alone::Waiters) => {
                    if let Some(command) = command {
                        serve_waiters_of(&shared, db, command, args);
                    }
                    self.execute(args, resolved, step, now_ms, started, None);
                }
                Gate::Shared => self.execute(args, resolved, step, now_ms, started, None),
                // Past busy-reply-threshold only ALLOW_BUSY commands (SCRIPT KILL, SHUTDOWN...) run.
                Gate::WhileBusy => {
                    self.execute(args, resolved, step, now_ms, started, None);
                    continue;
                }
            }
            // Still under the gate: clients blocked on what the command wrote are served before
            // anything else runs.
            serve_ready(&shared);
            if let Some(pending) = self.pending_after(args) {
                return (consumed, pending);
            }
        }
    }

    /// What the command just run asks the connection to wait for, if anything. Called under the
    /// gate: a command that blocked is registered (and served at once if data came meanwhile).
    fn pending_after(&mut self, args: Args) -> Option<Pending> {
        if let Some(block) = self.session.block.take() {
            let deadline = block.deadline;
            // Counted under this command when served with an error (resolved again: blocking is rare).
            let command = resolve(args).ok().map(|(index, _)| index);
            let waiter = self.shared.blocked.register(&mut self.session, block, args.to_owned(), command);
            serve_ready(&self.shared);
            return Some(Pending::Blocked(deadline, Parked::new(self.shared.clone(), waiter)));
        }
        if let Some(delay) = self.session.delay.take() {
            return Some(Pending::Sleep(delay));
        }
        if std::mem::take(&mut self.session.become_monitor) {
            return Some(Pending::Monitor);
        }
        if self.session.close_after_reply {
            return Some(Pending::Close);
        }
        (self.output.len() >= OUTPUT_BATCH_LIMIT).then_some(Pending::Flush)
    }

    /// Answers BUSY: a script has run past busy-reply-threshold.
    fn refuse_busy(&mut self, kind: ScriptKind) {
        let error = busy_error(kind);
        self.shared.stats.record_error(error);
        self.local.errors += 1;
        encode_reply(&mut self.session, &mut self.output, &Reply::Error(error.into()));
    }

    /// Runs one request and encodes its reply (unless it blocked or CLIENT REPLY says otherwise).
    fn execute(&mut self, args: Args, resolved: Resolved, step: Step, now_ms: u64, started: Instant, scripting: Option<&mut Scripting>) {
        // Borrow the fields apart instead of cloning the Arc: a clone per command would bounce its
        // reference count between the threads' caches.
        let Connection { shared, info, session, output, local, .. } = self;
        let shared: &Shared = shared;
        drain_messages(session, output);
        let mut ctx = Ctx::new(shared, session, now_ms);
        ctx.scripting = scripting;
        let outcome = dispatch_admitted(&mut ctx, args, resolved, step);
        let (hits, misses) = (ctx.hits, ctx.misses);
        let elapsed = started.elapsed().as_micros() as u64;
        local.hits += hits;
        local.misses += misses;
        let is_error = outcome.reply.is_error();
        local.errors += u64::from(is_error);
        if let Some(index) = outcome.command {
            if !outcome.queued {
                local.record(&shared.stats, index, elapsed, outcome.rejected, is_error && !outcome.rejected);
            }
            let command = registry().all[index];
            let slower_than = shared.config.hot.slowlog_slower_than.load(Ordering::Relaxed);
            if slower_than >= 0 && elapsed >= slower_than as u64 && !command.has(SKIP_SLOWLOG) {
                shared.slowlog.push(
                    args.iter(),
                    elapsed,
                    now_ms / 1000,
                    info.addr.to_string(),
                    info.name(),
                    shared.config.hot.slowlog_max_len.load(Ordering::Relaxed),
                );
            }
            if shared.monitors.active() && !command.has(SKIP_MONITOR | ADMIN) {
                shared.monitors.feed(unix_micros(), session.db, &info.addr.to_string(), args.iter());
            }
        }
        // Messages the command published to this client itself precede its reply, as in Redis;
        // those arriving while it subscribed follow its confirmations.
        if !matches!(outcome.reply, Reply::Multi(_)) {
            drain_messages(session, output);
        }
        // A command that blocked answers when it is served or times out (and a CLIENT REPLY SKIP
        // applies to that answer).
        if session.block.is_none() {
            encode_reply(session, output, &outcome.reply);
        }
    }

    /// Encodes a reply, honouring CLIENT REPLY OFF|SKIP.
    fn reply(&mut self, reply: &Reply) {
        encode_reply(&mut self.session, &mut self.output, reply);
    }

    /// Parks the client until a writer serves its command, it times out, is unblocked, or the
    /// connection ends. Data the client sends meanwhile waits in `input`, as Redis leaves it unread.
    async fn wait_blocked(
        &mut self,
        deadline: Option<Instant>,
        parked: Parked,
        reader: &mut (impl AsyncRead + Unpin),
        writer: &mut (impl AsyncWrite + Unpin),
        input: &mut BytesMut,
        shutdown: &mut watch::Receiver<ShutdownRequest>,
    ) -> Unblocked {
        let deadline = deadline.map(tokio::time::Instant::from_std);
        // Whether the wait ended in a timeout (true) or with the connection (false), unless a
        // writer or CLIENT UNBLOCK answered.
        let timed_out = loop {
            tokio::select! {
                // A disconnect wins over data that arrives at the same moment.
                biased;
                _ = self.info.kill.notified() => break false,
                _ = stopping(shutdown) => break false,
                reply = parked.waiter.served() => {
                    self.reply(&reply);
                    return Unblocked::Served;
                }
                _ = sleep_until(deadline) => break true,
                read = reader.read_buf(input) => {
                    if !matches!(read, Ok(n) if n > 0) {
                        break false;
                    }
                }
                // A RESP3 client may be subscribed while it blocks: its messages go out meanwhile.
                Some(message) = self.session.pubsub.next() => {
                    encode(&message, self.session.protocol, &mut self.output);
                    drain_messages(&mut self.session, &mut self.output);
                    if !self.flush(writer).await {
                        break false;
                    }
                }
            }
        };
        // A writer may have served the command at the same moment: then its reply is the answer.
        let served = parked.leave();
        if !timed_out {
            return Unblocked::Close;
        }
        self.reply(&served.unwrap_or_else(|| parked.waiter.timeout_reply().clone()));
        Unblocked::Served
    }

    /// Writes and clears the output buffer; false when the peer is gone.
    async fn flush(&mut self, writer: &mut (impl AsyncWrite + Unpin)) -> bool {
        // IMPORTANT: what the replies acknowledge is written first (on disk with appendfsync always).
        // While the disk refuses writes they wait, and the loop serves other clients meanwhile
        // (their reads; writes get MISCONF): a reply never acknowledges what is not on disk.
        if let Some(store) = &self.shared.store {
            store.flush_soon();
            if !store.acknowledged(self.last_commit) {
                store.wait_acknowledged(self.last_commit).await;
            }
        }
        if self.output.is_empty() {
            return true;
        }
        let ok = match self.output_limits() {
            None => writer.write_all(&self.output).await.is_ok(),
            Some(OutputLimit::Hard) => false,
            // Over the soft limit the client has the limit's seconds to take its replies.
            Some(OutputLimit::Soft(patience)) => {
                matches!(tokio::time::timeout(patience, writer.write_all(&self.output)).await, Ok(Ok(())))
            }
        };
        if !ok && self.output_limits().is_some() {
            tracing::warn!(client = self.info.id, addr = %self.info.addr, "client scheduled to be closed ASAP for overcoming of output buffer limits");
        }
        self.shared.stats.net_output_bytes.fetch_add(self.output.len() as u64, Ordering::Relaxed);
        self.output.clear();
        // A huge reply leaves a huge buffer; give it back rather than keep it for the connection's life.
        if self.output.capacity() > 4 * 1024 * 1024 {
            self.output = BytesMut::with_capacity(1024);
        }
        ok
    }

    /// Whether the replies waiting to be written pass the `normal` class of
    /// `client-output-buffer-limit` (pubsub messages are bounded by the registry).
    fn output_limits(&self) -> Option<OutputLimit> {
        let hot = &self.shared.config.hot;
        let (hard, soft) = (hot.normal_hard_limit.load(Ordering::Relaxed), hot.normal_soft_limit.load(Ordering::Relaxed));
        let pending = self.output.len() as u64;
        if hard > 0 && pending > hard {
            return Some(OutputLimit::Hard);
        }
        (soft > 0 && pending > soft).then(|| OutputLimit::Soft(Duration::from_secs(hot.normal_soft_seconds.load(Ordering::Relaxed))))
    }

    /// Releases what the connection registered in shared state.
    fn close(&mut self) {
        self.local.flush(&self.shared.stats);
        if self.info.monitor.load(Ordering::Relaxed) {
            self.shared.monitors.remove(self.info.id);
        }
        let shared = self.shared.clone();
        self.session.unwatch_all(&shared);
    }
}

/// Serves the clients blocked on the keys `args` names (called with the gate's write side held).
fn serve_waiters_of(shared: &Shared, db: usize, command: &Command, args: Args) {
    command.for_each_key(args, |position| shared.blocked.signal(db, args.get(position)));
    serve_ready(shared);
}

/// Encodes the pub/sub messages already queued for this client.
fn drain_messages(session: &mut Session, output: &mut BytesMut) {
    while let Some(message) = session.pubsub.try_next() {
        encode(&message, session.protocol, output);
    }
}

/// Encodes a reply, honouring CLIENT REPLY OFF|SKIP.
fn encode_reply(session: &mut Session, output: &mut BytesMut, reply: &Reply) {
    let suppress = match session.reply_mode {
        ReplyMode::On => false,
        ReplyMode::Off => true,
        // As Redis turns SKIP_NEXT into SKIP after each command: a SKIP issued while being
        // skipped arms the next command again.
        ReplyMode::SkipNext => {
            session.reply_mode = ReplyMode::Skip;
            true
        }
        ReplyMode::Skip => {
            session.reply_mode = ReplyMode::On;
            true
        }
    };
    if !suppress {
        encode(reply, session.protocol, output);
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn next_line(feed: &mut Option<mpsc::Receiver<Bytes>>) -> Option<Bytes> {
    match feed {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

async fn idle(seconds: u64) {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
}

/// Holds a command while CLIENT PAUSE applies to it.
async fn wait_while_paused(shared: &Shared, write: bool) {
    while let Some(remaining) = shared.pause_for(write) {
        tokio::time::sleep(remaining.min(Duration::from_millis(50))).await;
    }
}

//! One client connection: read, run every complete request in the buffer, write all replies at once.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::clients::ClientInfo;
use super::monitor::MONITOR_QUEUE;
use super::shared::{unix_micros, unix_ms, Shared};
use super::stats::LocalStats;
use crate::commands::{dispatch, registry, Ctx, ReplyMode, Session, ADMIN, MAY_REPLICATE, SKIP_MONITOR, SKIP_SLOWLOG, WRITE};
use crate::resp::{encode, parse_request, ParseLimits, Reply, RequestBuf};

/// Read buffer headroom kept before each read; large requests grow the buffer as they arrive.
const READ_CHUNK: usize = 16 * 1024;

/// Serves one client until it quits, is killed, times out, errs, or the server shuts down.
pub async fn serve(stream: TcpStream, shared: Arc<Shared>, info: Arc<ClientInfo>) {
    let authenticated = shared.config.get("requirepass").is_empty();
    let mut session = Session::new(info.clone(), authenticated);
    let (mut reader, mut writer) = stream.into_split();
    let mut input = BytesMut::with_capacity(1024);
    let mut output = BytesMut::with_capacity(1024);
    let mut request = RequestBuf::default();
    let mut local = LocalStats::default();
    let mut shutdown = shared.shutdown_signal();
    let mut monitor_feed: Option<mpsc::Receiver<Bytes>> = None;

    'connection: loop {
        if input.capacity() - input.len() < READ_CHUNK {
            input.reserve(READ_CHUNK);
        }
        let idle_limit = shared.config.hot.timeout_secs.load(Ordering::Relaxed);
        // Subscribers are never idle-closed, as in Redis.
        let may_idle_close = idle_limit > 0 && monitor_feed.is_none() && !session.pubsub.active();
        let read = tokio::select! {
            read = reader.read_buf(&mut input) => read,
            _ = info.kill.notified() => break,
            _ = shutdown.changed() => break,
            Some(line) = next_line(&mut monitor_feed) => {
                if writer.write_all(&line).await.is_err() {
                    break;
                }
                continue;
            }
            Some(message) = session.pubsub.next() => {
                encode(&message, session.protocol, &mut output);
                drain_messages(&mut session, &mut output);
                // A subscriber too slow to read is killed by the registry: stop waiting on its socket.
                let written = tokio::select! {
                    written = flush(&mut writer, &mut output, &shared) => written,
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
            Ok(n) => shared.stats.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed),
        };
        if info.killed.load(Ordering::Relaxed) {
            break;
        }

        let limits = ParseLimits { max_bulk_len: shared.config.hot.proto_max_bulk_len.load(Ordering::Relaxed) };
        // One wall-clock reading per batch; each command's time derives from the monotonic clock it
        // reads anyway for its duration, so a command costs two clock reads, as in Redis.
        let batch_started = Instant::now();
        let batch_unix_ms = unix_ms();
        let mut consumed = 0;
        let mut close = false;
        loop {
            let buffer = &input[consumed..];
            let length = match parse_request(buffer, &mut request, limits) {
                Ok(Some(length)) => length,
                Ok(None) => break,
                Err(error) => {
                    tracing::debug!(client = info.id, %error, "protocol error");
                    encode(&Reply::Error(error.to_string().into()), session.protocol, &mut output);
                    close = true;
                    break;
                }
            };
            let args = request.args(buffer);
            consumed += length;
            if args.is_empty() {
                continue;
            }
            if shared.paused.load(Ordering::Relaxed) {
                wait_while_paused(&shared, args).await;
            }
            let started = Instant::now();
            let now_ms = batch_unix_ms + started.duration_since(batch_started).as_millis() as u64;
            drain_messages(&mut session, &mut output);
            let mut ctx = Ctx::new(&shared, &mut session, now_ms);
            let mode_before = ctx.session.reply_mode;
            let outcome = dispatch(&mut ctx, args);
            let (hits, misses) = (ctx.hits, ctx.misses);
            let elapsed = started.elapsed().as_micros() as u64;
            local.hits += hits;
            local.misses += misses;
            let is_error = outcome.reply.is_error();
            local.errors += u64::from(is_error);
            if let Some(index) = outcome.command {
                local.record(&shared.stats, index, elapsed, outcome.rejected, is_error && !outcome.rejected);
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
            let suppress = match session.reply_mode {
                ReplyMode::On => false,
                ReplyMode::Off => true,
                ReplyMode::SkipNext => {
                    if mode_before == ReplyMode::SkipNext {
                        session.reply_mode = ReplyMode::On;
                    }
                    true
                }
            };
            // Messages the command published to this client itself precede its reply, as in Redis;
            // those arriving while it subscribed follow its confirmations.
            if !matches!(outcome.reply, Reply::Multi(_)) {
                drain_messages(&mut session, &mut output);
            }
            if !suppress {
                encode(&outcome.reply, session.protocol, &mut output);
            }
            if let Some(delay) = session.delay.take() {
                if !flush(&mut writer, &mut output, &shared).await {
                    break 'connection;
                }
                tokio::time::sleep(delay).await;
            }
            if session.become_monitor {
                session.become_monitor = false;
                let (sender, receiver) = mpsc::channel(MONITOR_QUEUE);
                shared.monitors.add(info.id, sender);
                info.monitor.store(true, Ordering::Relaxed);
                monitor_feed = Some(receiver);
            }
            if session.close_after_reply {
                close = true;
                break;
            }
        }
        input.advance(consumed);
        local.flush(&shared.stats);
        info.last_interaction_ms.store(unix_ms(), Ordering::Relaxed);
        info.query_buffer.store(input.len(), Ordering::Relaxed);
        if !flush(&mut writer, &mut output, &shared).await || close {
            break;
        }
        if input.len() > shared.config.hot.query_buffer_limit.load(Ordering::Relaxed) {
            tracing::warn!(client = info.id, addr = %info.addr, "closing client that reached max query buffer length");
            break;
        }
    }
    local.flush(&shared.stats);
    if info.monitor.load(Ordering::Relaxed) {
        shared.monitors.remove(info.id);
    }
    let _ = writer.shutdown().await;
}

/// Writes and clears `output`; false when the peer is gone.
async fn flush(writer: &mut OwnedWriteHalf, output: &mut BytesMut, shared: &Shared) -> bool {
    if output.is_empty() {
        return true;
    }
    let ok = writer.write_all(output).await.is_ok();
    shared.stats.net_output_bytes.fetch_add(output.len() as u64, Ordering::Relaxed);
    output.clear();
    // A huge reply leaves a huge buffer; give it back rather than keep it for the connection's life.
    if output.capacity() > 4 * 1024 * 1024 {
        *output = BytesMut::with_capacity(1024);
    }
    ok
}

/// Encodes the pub/sub messages already queued for this client.
fn drain_messages(session: &mut Session, output: &mut BytesMut) {
    while let Some(message) = session.pubsub.try_next() {
        encode(&message, session.protocol, output);
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
async fn wait_while_paused(shared: &Shared, args: crate::resp::Args<'_>) {
    let write = crate::commands::dispatch::resolve(args).is_ok_and(|(_, c)| c.has(WRITE | MAY_REPLICATE));
    while let Some(remaining) = shared.pause_for(write) {
        tokio::time::sleep(remaining.min(Duration::from_millis(50))).await;
    }
}

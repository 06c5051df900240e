//! The network server: listeners, the accept loop, the background cron and shutdown.

pub mod blocking;
pub mod clients;
pub mod connection;
pub mod logging;
pub mod monitor;
pub mod shared;
pub mod slowlog;
pub mod stats;
pub mod watch;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use clients::ClientInfo;
use shared::{unix_ms, Shared};

use crate::engine::keyspace::SHARDS;

/// Binds every address of the `bind` setting on `port` (0 picks one; the others then share it) with
/// a listen queue of `backlog` (the `tcp-backlog` setting). Addresses prefixed with `-` are optional,
/// as in redis.conf.
pub async fn bind(bind: &str, port: u16, backlog: u32) -> std::io::Result<Vec<TcpListener>> {
    let mut listeners = Vec::new();
    let mut port = port;
    let mut last_error = None;
    for address in bind.split_whitespace() {
        let (optional, address) = match address.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, address),
        };
        let host = match address {
            "*" => "0.0.0.0",
            "::*" => "::",
            other => other,
        };
        let ip: std::net::IpAddr =
            host.parse().map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("invalid bind address '{address}'")))?;
        match listen(SocketAddr::new(ip, port), backlog) {
            Ok(listener) => {
                port = listener.local_addr()?.port();
                listeners.push(listener);
            }
            Err(error) if optional => tracing::debug!(%error, address, "optional bind address unavailable"),
            Err(error) => last_error = Some(error),
        }
    }
    if let Some(error) = last_error {
        return Err(error);
    }
    if listeners.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, "no address could be bound"));
    }
    Ok(listeners)
}

/// Serves until SHUTDOWN or a signal; returns once connections have been told to close.
pub async fn run(shared: Arc<Shared>, listeners: Vec<TcpListener>) {
    let mut tasks = Vec::new();
    for listener in listeners {
        tasks.push(tokio::spawn(accept_loop(shared.clone(), listener)));
    }
    tokio::spawn(cron(shared.clone()));
    let mut shutdown = shared.shutdown_signal();
    let _ = shutdown.wait_for(|state| *state == shared::ShutdownRequest::Stop).await;
    tracing::info!("User requested shutdown...");
    for task in tasks {
        let _ = task.await;
    }
    // Give connections a moment to write their last replies and close.
    for _ in 0..50 {
        if shared.clients.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tracing::info!("strata is now ready to exit, bye bye...");
}

/// One listener with SO_REUSEADDR, as Redis sets it, and the configured backlog (the standard
/// library's and tokio's `bind` use a fixed 128 or 1024, which a burst of connects overflows).
fn listen(address: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    if address.is_ipv6() {
        // `bind * -::*` binds both families on one port: the IPv6 socket must not claim IPv4 too.
        socket2::SockRef::from(&socket).set_only_v6(true)?;
    }
    socket.bind(address)?;
    socket.listen(backlog)
}

/// Turns SIGINT and SIGTERM into a graceful shutdown. Call it before announcing readiness: the
/// handlers are registered when this returns, so a signal sent right after `ready` is not fatal.
pub fn handle_signals(shared: Arc<Shared>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut interrupt), Ok(mut terminate)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        tracing::warn!("could not install signal handlers");
        return;
    };
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::warn!("Received SIGINT scheduling shutdown..."),
            _ = terminate.recv() => tracing::warn!("Received SIGTERM scheduling shutdown..."),
        }
        shared.request_shutdown();
    });
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let mut shutdown = shared.shutdown_signal();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        match accepted {
            Ok((stream, addr)) => admit(&shared, stream, addr),
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

fn admit(shared: &Arc<Shared>, stream: TcpStream, addr: SocketAddr) {
    shared.stats.connections_received.fetch_add(1, Ordering::Relaxed);
    if shared.clients.len() >= shared.config.hot.maxclients.load(Ordering::Relaxed) {
        shared.stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let mut stream = stream;
            let _ = stream.write_all(b"-ERR max number of clients reached\r\n").await;
        });
        return;
    }
    let _ = stream.set_nodelay(true);
    let keepalive = shared.config.get_i64("tcp-keepalive");
    if keepalive > 0 {
        let settings = socket2::TcpKeepalive::new()
            .with_time(Duration::from_secs(keepalive as u64))
            .with_interval(Duration::from_secs((keepalive as u64 / 3).max(1)));
        let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&settings);
    }
    let now = unix_ms();
    let info = Arc::new(ClientInfo {
        id: shared.clients.next_id(),
        addr,
        laddr: stream.local_addr().unwrap_or(addr),
        fd: std::os::fd::AsRawFd::as_raw_fd(&stream),
        created_ms: now,
        name: Default::default(),
        lib_name: Default::default(),
        lib_ver: Default::default(),
        db: Default::default(),
        resp: 2.into(),
        last_interaction_ms: now.into(),
        last_command: usize::MAX.into(),
        query_buffer: Default::default(),
        monitor: Default::default(),
        no_evict: Default::default(),
        no_touch: Default::default(),
        blocked: Default::default(),
        unblock: Default::default(),
        unblock_error: Default::default(),
        killed: Default::default(),
        kill: Default::default(),
    });
    shared.clients.register(info.clone());
    let shared = shared.clone();
    tokio::spawn(async move {
        let id = info.id;
        connection::serve(stream, shared.clone(), info).await;
        shared.clients.unregister(id);
    });
}

/// Background work `hz` times a second: active expiry and the ops/sec sample.
async fn cron(shared: Arc<Shared>) {
    let mut expire_cursor = 0;
    let mut shutdown = shared.shutdown_signal();
    loop {
        let hz = shared.config.hot.hz.load(Ordering::Relaxed).clamp(1, 500);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(1000 / hz)) => {}
            _ = shutdown.changed() => return,
        }
        // Visit every shard about once a second, a slice per tick, so no tick holds locks for long.
        let per_tick = SHARDS.div_ceil(hz as usize);
        shared.keyspace.expire_step(&mut expire_cursor, per_tick, unix_ms());
        shared.stats.sample_ops(unix_ms());
    }
}

//! The network server: listeners, the accept loop, the background cron and shutdown.

pub mod blocking;
pub mod connection;
pub mod spare;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::state::clients::ClientInfo;
use crate::state::shared::{unix_ms, Shared, ShutdownRequest};

use crate::engine::keyspace::SHARDS;

/// Binds every address of the `bind` setting on `port` (0 picks one; the others then share it) with
/// a listen queue of `backlog` (the `tcp-backlog` setting), `copies` times: one set of listeners per
/// event-loop thread, sharing each port through SO_REUSEPORT so the kernel spreads connections over
/// the threads. Addresses prefixed with `-` are optional, as in redis.conf.
///
/// The listeners are plain non-blocking sockets; each thread registers its own set with its runtime.
pub fn bind(bind: &str, port: u16, backlog: u32, copies: usize) -> std::io::Result<Vec<Vec<std::net::TcpListener>>> {
    let mut sets: Vec<Vec<std::net::TcpListener>> = (0..copies.max(1)).map(|_| Vec::new()).collect();
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
        let mut bound = Vec::with_capacity(sets.len());
        let mut failure = None;
        for _ in 0..sets.len() {
            match listen(SocketAddr::new(ip, port), backlog, sets.len() > 1) {
                Ok(listener) => {
                    port = listener.local_addr()?.port();
                    bound.push(listener);
                }
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        match failure {
            None => sets.iter_mut().zip(bound).for_each(|(set, listener)| set.push(listener)),
            Some(error) if optional => tracing::debug!(%error, address, "optional bind address unavailable"),
            Some(error) => last_error = Some(error),
        }
    }
    if let Some(error) = last_error {
        return Err(error);
    }
    if sets[0].is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, "no address could be bound"));
    }
    Ok(sets)
}

/// One event loop's listeners: the plain `port`'s and the `tls-port`'s.
#[derive(Default)]
pub struct Listeners {
    pub plain: Vec<std::net::TcpListener>,
    pub tls: Vec<std::net::TcpListener>,
}

/// Serves one event-loop thread's listeners until SHUTDOWN or a signal; returns once its
/// connections have been told to close. One thread (`with_cron`) also runs the background cron.
pub async fn run(shared: Arc<Shared>, listeners: Listeners, with_cron: bool, activity: Arc<spare::LoopActivity>) {
    spare::enter_loop(activity);
    let mut tasks = Vec::new();
    let plain = listeners.plain.into_iter().map(|listener| (listener, false));
    for (listener, tls) in plain.chain(listeners.tls.into_iter().map(|listener| (listener, true))) {
        match TcpListener::from_std(listener) {
            Ok(listener) => tasks.push(tokio::spawn(accept_loop(shared.clone(), listener, tls))),
            Err(error) => tracing::error!(%error, "could not register a listener"),
        }
    }
    if with_cron {
        tokio::spawn(cron(shared.clone()));
        tokio::spawn(queue_timer(shared.clone()));
    }
    let mut shutdown = shared.shutdown_signal();
    let _ = shutdown.wait_for(|state| *state == ShutdownRequest::Stop).await;
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
}

/// One listener with SO_REUSEADDR, as Redis sets it, SO_REUSEPORT when several threads share the
/// port, and the configured backlog (the standard library's `bind` uses a fixed 128, which a burst
/// of connects overflows).
fn listen(address: SocketAddr, backlog: u32, reuse_port: bool) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    if address.is_ipv6() {
        // `bind * -::*` binds both families on one port: the IPv6 socket must not claim IPv4 too.
        socket.set_only_v6(true)?;
    }
    socket.bind(&address.into())?;
    socket.listen(backlog.min(i32::MAX as u32) as i32)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
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

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, tls: bool) {
    let mut shutdown = shared.shutdown_signal();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = crate::state::shared::stopping(&mut shutdown) => return,
        };
        match accepted {
            Ok((stream, addr)) if tls => match shared.tls.current() {
                Some(config) => admit_over(&shared, stream, addr, Some(TlsAcceptor::from(config))),
                None => tracing::warn!("a TLS connection arrived without a TLS configuration"),
            },
            Ok((stream, addr)) => admit(&shared, stream, addr),
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// What a client outside the loopback interface gets in protected mode.
const PROTECTED_MODE_DENIAL: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Answers a connection it won't serve with `error` and closes it. What the client sent meanwhile is
/// read and dropped for a moment first: closing a socket with unread input resets it, and the client
/// would lose the error.
async fn refuse_connection(mut stream: TcpStream, error: &'static [u8]) {
    if stream.write_all(error).await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0u8; 4096];
    let drain = async { while matches!(stream.read(&mut sink).await, Ok(read) if read > 0) {} };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}

/// Protected mode (Redis 7.0): while the default user needs no password, only loopback clients
/// may connect.
fn protected_from(shared: &Shared, addr: SocketAddr) -> bool {
    !addr.ip().is_loopback()
        && shared.config.get_bool("protected-mode")
        && shared.acl.get(crate::state::acl::DEFAULT_USER).is_some_and(|user| user.nopass)
}

pub(crate) fn admit(shared: &Arc<Shared>, stream: TcpStream, addr: SocketAddr) {
    admit_over(shared, stream, addr, None);
}

/// How long a TLS client has to finish its handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Admits a connection, over TLS when `tls` is given (the handshake runs in the connection's task).
fn admit_over(shared: &Arc<Shared>, stream: TcpStream, addr: SocketAddr, tls: Option<TlsAcceptor>) {
    shared.stats.connections_received.fetch_add(1, Ordering::Relaxed);
    if shared.clients.len() >= shared.config.hot.maxclients.load(Ordering::Relaxed) {
        shared.stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(refuse_connection(stream, b"-ERR max number of clients reached\r\n"));
        return;
    }
    if protected_from(shared, addr) {
        shared.stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(refuse_connection(stream, PROTECTED_MODE_DENIAL.as_bytes()));
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
    let laddr = stream.local_addr().unwrap_or(addr);
    let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
    let info = Arc::new(ClientInfo::new(shared.clients.next_id(), addr, laddr, fd, now));
    shared.clients.register(info.clone());
    let shared = shared.clone();
    tokio::spawn(async move {
        let id = info.id;
        match tls {
            None => {
                let (reader, writer) = stream.into_split();
                connection::serve(reader, writer, shared.clone(), info).await;
            }
            Some(acceptor) => match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(session)) => {
                    let (reader, writer) = tokio::io::split(session);
                    connection::serve(reader, writer, shared.clone(), info).await;
                }
                Ok(Err(error)) => tracing::info!(client = id, %error, "Error accepting a client connection: TLS handshake failed"),
                Err(_) => tracing::info!(client = id, "Error accepting a client connection: TLS handshake timed out"),
            },
        }
        shared.clients.unregister(id);
        // IMPORTANT: after the connection's wait (if any) ended, so its own blocked Q.POP cannot
        // take back what it gives up. Not when the server shuts down: the leases are persisted with
        // their deadlines and the client may ack them after the restart.
        let queues = shared.queues.take_leases(id);
        if !queues.is_empty() && !shared.stopping() {
            alone_then_serve(&shared, |shared| crate::commands::queue::release_client(shared, id, queues, unix_ms()));
        }
    });
}

/// Background work `hz` times a second: active expiry, the ops/sec sample, scheduled saves and the
/// `save` points.
async fn cron(shared: Arc<Shared>) {
    let mut expire_cursor = 0;
    let mut shutdown = shared.shutdown_signal();
    loop {
        let hz = shared.config.hot.hz.load(Ordering::Relaxed).clamp(1, 500);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(1000 / hz)) => {}
            _ = crate::state::shared::stopping(&mut shutdown) => return,
        }
        // Visit every shard about once a second, a slice per tick, so no tick holds locks for long.
        let per_tick = SHARDS.div_ceil(hz as usize);
        // Not while the dataset loads: the loader alone fills the keyspace then.
        if !shared.loading.load(Ordering::Relaxed) {
            shared.keyspace.expire_step(&mut expire_cursor, per_tick, unix_ms());
        }
        // Writes no connection flushes (the active expiry's, an idle server's) reach the log too.
        if let Some(store) = &shared.store {
            store.flush_soon();
        }
        shared.stats.sample_ops(unix_ms());
        if !shared.loading.load(Ordering::Relaxed) {
            crate::commands::run_save_points(&shared, unix_ms());
        }
    }
}

/// Acts on queues when their delays, leases or TTLs end, so blocked consumers get the messages on
/// time without anyone else touching the queue (`commands::queue::tick`). One task, on the cron's
/// loop; it sleeps until the earliest scheduled queue or until an earlier one is scheduled
/// (recovered queues were scheduled by `main`, see `commands::queue::after_recovery`).
async fn queue_timer(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown_signal();
    loop {
        let wait = shared.queues.next_due().map_or(Duration::from_secs(3600), |at| Duration::from_millis(at.saturating_sub(unix_ms())));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shared.queues.rescheduled() => continue,
            _ = crate::state::shared::stopping(&mut shutdown) => return,
        }
        let now = unix_ms();
        let due = shared.queues.take_due(now);
        if due.is_empty() {
            continue;
        }
        let ran = alone_then_serve(&shared, |shared| {
            for (db, key) in &due {
                crate::commands::queue::tick(shared, *db, key, now);
            }
        });
        if !ran {
            // A script holds the gate: try again shortly.
            for (db, key) in &due {
                shared.queues.schedule(*db, key, now + 10);
            }
        }
    }
}

/// Runs `f` with the gate's write side, as a write to an awaited key runs, then serves the clients
/// blocked on what it made ready and writes the changes to the store; false when a busy script
/// kept the gate.
fn alone_then_serve(shared: &Shared, f: impl FnOnce(&Shared)) -> bool {
    let Ok(_gate) = shared.enter_exclusive() else {
        return false;
    };
    f(shared);
    blocking::serve_ready(shared);
    if let Some(store) = &shared.store {
        store.flush_soon();
    }
    true
}

//! `strata-server [config-file] [--setting value ...]`, as redis-server is started.

// As in lib.rs: no `unwrap`/`expect` outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;

use strata::commands::{load_configured_users, registry};
use strata::config::Config;
use strata::engine::persist::{Fsync, Store, StoreError};
use strata::logging;
use strata::server;
use strata::server::spare::{self, LoopActivity};
use strata::server::Listeners;
use strata::state::shared::Shared;

/// jemalloc, as Redis uses: no per-allocation header and fine size classes (a 48-byte entry costs 48
/// bytes, where glibc malloc would use 64), which is most of strata's per-key overhead, and it returns
/// freed memory to the system.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A Redis-compatible server. Any setting of the config file can also be given as `--name value`;
/// command-line settings override the file.
#[derive(Parser)]
#[command(name = "strata-server", version, about)]
struct Cli {
    /// Config file in redis.conf syntax (see conf/strata.conf), then `--name value` settings such as
    /// `--port 7000 --requirepass secret`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "CONFIG-FILE] [--NAME VALUE")]
    args: Vec<String>,
}

/// `--name value` settings from the command line.
type Settings = Vec<(String, String)>;

/// Splits `[file] --a 1 --b x y` into the file and (name, value) pairs; a value may be several words.
fn split_args(args: &[String]) -> Result<(Option<PathBuf>, Settings), String> {
    let mut rest = args;
    let mut file = None;
    if let Some(first) = rest.first() {
        if !first.starts_with("--") {
            file = Some(PathBuf::from(first));
            rest = &rest[1..];
        }
    }
    let mut pairs: Vec<(String, Vec<String>)> = Vec::new();
    for arg in rest {
        match arg.strip_prefix("--") {
            Some(name) if !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit()) => pairs.push((name.to_owned(), Vec::new())),
            _ => match pairs.last_mut() {
                Some((_, values)) => values.push(arg.clone()),
                None => return Err(format!("unexpected argument '{arg}'")),
            },
        }
    }
    Ok((file, pairs.into_iter().map(|(name, values)| (name, values.join(" "))).collect()))
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if cli.args.first().is_some_and(|first| first == "--check-store") {
        return check_store(&cli.args[1..]);
    }
    let (file, overrides) = match split_args(&cli.args) {
        Ok(parsed) => parsed,
        Err(error) => {
            eprintln!("strata-server: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let config = match Config::load(file.as_deref(), &overrides) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    ignore_file_size_signal();
    if let Err(error) = logging::init(&config.get("loglevel"), &config.get("logfile")) {
        eprintln!("strata-server: can't open the log file: {error}");
        return std::process::ExitCode::FAILURE;
    }
    // Like redis-server: room for maxclients plus listeners and files.
    let wanted_files = config.get_i64("maxclients") as u64 + 32;
    if let Ok(granted) = rlimit::increase_nofile_limit(wanted_files) {
        if granted < wanted_files {
            tracing::warn!(granted, wanted_files, "could not raise the open files limit; maxclients may not be reachable");
        }
    }
    let port = config.get_i64("port") as u16;
    let bind = config.get("bind");
    let backlog = config.get_i64("tcp-backlog").clamp(1, u32::MAX as i64) as u32;
    let threads = match config.get_i64("threads") {
        // One core is left to the kernel's network stack and to clients on the same machine: on 2
        // cores with redis-benchmark beside it, two loops lost to one on every hot-key workload.
        0 => std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1)),
        n => n as usize,
    };
    // `port 0` with a `tls-port` serves TLS only, as in Redis; without one it picks a free port.
    let tls_only = port == 0 && config.get_i64("tls-port") > 0;
    let listener_sets =
        match if tls_only { Ok((0..threads).map(|_| Vec::new()).collect()) } else { server::bind(&bind, port, backlog, threads) } {
            Ok(sets) => sets,
            Err(error) => {
                tracing::error!(%error, "could not listen on {bind} port {port}");
                eprintln!("strata-server: could not listen on {bind} port {port}: {error}");
                return std::process::ExitCode::FAILURE;
            }
        };
    // Each loop's activity, and duplicates of its listeners for the spare loop (server::spare).
    let activities: Vec<Arc<LoopActivity>> = listener_sets.iter().map(|_| Arc::default()).collect();
    let stand_ins: Vec<_> = listener_sets
        .iter()
        .zip(&activities)
        .map(|(listeners, activity)| (activity.clone(), listeners.iter().filter_map(|l| l.try_clone().ok()).collect()))
        .collect();
    let mut loops = listener_sets.into_iter().zip(activities);
    let Some((main_listeners, main_activity)) = loops.next() else {
        return std::process::ExitCode::FAILURE;
    };
    let bound = main_listeners.first().and_then(|listener| listener.local_addr().ok()).map_or(port, |address| address.port());
    // A store directory that did not exist before this start is a fresh store: the one case,
    // besides running without persistence, where a `dbfilename` in `dir` is imported.
    let fresh_store = !PathBuf::from(config.get("dir")).join(STORE_DIR).exists();
    let store = match open_store(&config) {
        Ok(store) => store,
        Err(error) => {
            tracing::error!(%error, "can't open the store");
            eprintln!("strata-server: can't open the store: {error}{}", repair_hint(&error));
            return std::process::ExitCode::FAILURE;
        }
    };
    let shared = Arc::new(Shared::with_store(config, registry().all.len(), store));
    shared.port.store(bound, std::sync::atomic::Ordering::Relaxed);
    if let Err(error) = load_configured_users(&shared) {
        tracing::error!(%error, "Aborting startup because of ACL errors");
        eprintln!("strata-server: ACL errors: {error}");
        return std::process::ExitCode::FAILURE;
    }
    if let Some(store) = &shared.store {
        if let Err(error) = store.start_committer() {
            tracing::error!(%error, "can't start the store's committer thread");
            return std::process::ExitCode::FAILURE;
        }
    }
    // TLS connections are accepted by the first loop only: the handshake's cost, not the request
    // path, dominates there.
    let tls_port = shared.config.get_i64("tls-port") as u16;
    let tls_listeners = if tls_port == 0 {
        Vec::new()
    } else {
        if let Err(error) = shared.tls.reload(&shared.config) {
            tracing::error!(%error, "Failed to configure TLS");
            eprintln!("strata-server: Failed to configure TLS: {error}");
            return std::process::ExitCode::FAILURE;
        }
        match server::bind(&bind, tls_port, backlog, 1) {
            Ok(mut sets) => sets.pop().unwrap_or_default(),
            Err(error) => {
                eprintln!("strata-server: could not listen on {bind} tls-port {tls_port}: {error}");
                return std::process::ExitCode::FAILURE;
            }
        }
    };
    let rdb_import = (shared.store.is_none() || fresh_store).then(|| rdb_path(&shared)).filter(|path| path.is_file());
    shared.begin_loading(rdb_import.is_some());

    // One single-threaded event loop per thread, each accepting its own connections (the kernel
    // spreads them over the SO_REUSEPORT listeners): no task ever migrates between threads, so a
    // request costs no cross-thread wake-up, as in Redis's event loop.
    let mut workers = Vec::new();
    let spare = {
        let shared = shared.clone();
        std::thread::Builder::new().name("strata-spare".into()).spawn(move || match event_loop() {
            Ok(runtime) => runtime.block_on(spare::run(shared, stand_ins)),
            Err(error) => tracing::error!(%error, "can't start the spare loop"),
        })
    };
    match spare {
        Ok(handle) => workers.push(handle),
        Err(error) => tracing::error!(%error, "can't start the spare loop thread"),
    }
    for (index, (listeners, activity)) in loops.enumerate() {
        let shared = shared.clone();
        let spawned = std::thread::Builder::new().name(format!("strata-loop-{}", index + 1)).spawn(move || match event_loop() {
            Ok(runtime) => runtime.block_on(server::run(shared, Listeners { plain: listeners, tls: Vec::new() }, false, activity)),
            Err(error) => {
                tracing::error!(%error, "can't start an event loop");
                shared.request_shutdown();
            }
        });
        match spawned {
            Ok(handle) => workers.push(handle),
            Err(error) => tracing::error!(%error, "can't start an event-loop thread"),
        }
    }
    let runtime = match event_loop() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("strata-server: can't start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        server::handle_signals(shared.clone());
        // The loops answer LOADING meanwhile, as Redis does while it loads.
        let loaded = load_in_background(shared.clone(), rdb_import);
        let ready = async {
            if loaded.await.is_ok() {
                tracing::info!(port = bound, threads, version = strata::VERSION, "Ready to accept connections");
                // One machine-readable line for scripts and tests that start the server on port 0.
                println!("ready port={bound}");
            }
        };
        let listeners = Listeners { plain: main_listeners, tls: tls_listeners };
        tokio::join!(server::run(shared.clone(), listeners, true, main_activity), ready);
        tracing::info!("User requested shutdown...");
    });
    for worker in workers {
        let _ = worker.join();
    }
    if let Some(store) = &shared.store {
        match store.sync() {
            Ok(()) => tracing::info!("The store is on disk"),
            Err(error) => tracing::error!(%error, "can't write the store before exiting"),
        }
    }
    tracing::info!("strata is now ready to exit, bye bye...");
    std::process::ExitCode::SUCCESS
}

/// Loads the store on a thread of its own, then imports `rdb_import`; the process exits if it
/// can't, as redis-server does when its data can't be loaded. The future resolves when the dataset
/// is loaded.
fn load_in_background(shared: Arc<Shared>, rdb_import: Option<PathBuf>) -> tokio::sync::oneshot::Receiver<()> {
    let (done, loaded) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new().name("strata-load".into()).spawn(move || {
        let started = std::time::Instant::now();
        match shared.load_store() {
            Ok(loaded) => {
                if shared.store.is_some() {
                    tracing::info!(
                        keys = loaded.keys,
                        expired = loaded.expired,
                        seconds = started.elapsed().as_secs_f64(),
                        "DB loaded from disk"
                    );
                }
                if let Some(path) = rdb_import {
                    if let Err(error) = import_rdb(&shared, &path) {
                        tracing::error!(%error, "Fatal error loading the DB");
                        eprintln!("strata-server: can't import the RDB file: {error}");
                        std::process::exit(1);
                    }
                }
                // Recovered queues' delays and leases (some ended while the server was down).
                strata::commands::queue::after_recovery(&shared);
                strata::commands::topic::register_all(&shared);
                shared.end_loading();
                let _ = done.send(());
            }
            Err(error) => {
                tracing::error!(%error, "can't load the store");
                eprintln!("strata-server: can't load the store: {error}{}", repair_hint(&error));
                std::process::exit(1);
            }
        }
    });
    if let Err(error) = spawned {
        tracing::error!(%error, "can't start the loading thread");
        std::process::exit(1);
    }
    loaded
}

/// `strata-server --check-store DIR [--fix]`: verifies the store in DIR (the `dir` setting, or the
/// store directory itself) with the server stopped; `--fix` keeps the intact prefix of a damaged
/// log, as `redis-check-aof --fix` does. Exits 0 when the store is (now) whole.
fn check_store(args: &[String]) -> std::process::ExitCode {
    let (dir, fix) = match args {
        [dir] => (PathBuf::from(dir), false),
        [dir, fix] if fix == "--fix" => (PathBuf::from(dir), true),
        _ => {
            eprintln!("usage: strata-server --check-store DIR [--fix]");
            return std::process::ExitCode::FAILURE;
        }
    };
    let store = if dir.join(STORE_DIR).is_dir() { dir.join(STORE_DIR) } else { dir };
    match strata::engine::lsm::check::check(&store, fix) {
        Ok(report) => {
            println!(
                "{}: {} tables ({} entries), {} logs ({} records)",
                store.display(),
                report.tables,
                report.table_entries,
                report.logs,
                report.log_records
            );
            report.fixed.iter().for_each(|line| println!("fixed: {line}"));
            report.damaged.iter().for_each(|line| println!("damaged: {line}"));
            if report.healthy() {
                println!("the store is whole");
                std::process::ExitCode::SUCCESS
            } else {
                println!("a damaged table can't be cut back: restore it (or the whole store) from a copy");
                std::process::ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("strata-server: can't check {}: {error}", store.display());
            std::process::ExitCode::FAILURE
        }
    }
}

/// What to tell the operator when the store is damaged.
fn repair_hint(error: &StoreError) -> &'static str {
    if error.0.contains("corrupted file") {
        "\nCheck it with `strata-server --check-store <dir>`; `--fix` keeps the intact prefix of a damaged log."
    } else {
        ""
    }
}

/// The store in `dir` when `appendonly` is on, opened with `appendfsync`.
fn open_store(config: &Config) -> Result<Option<Arc<Store>>, StoreError> {
    if !config.get_bool("appendonly") {
        return Ok(None);
    }
    let fsync = Fsync::from_name(&config.get("appendfsync")).unwrap_or(Fsync::EverySec);
    let dir = PathBuf::from(config.get("dir")).join(STORE_DIR);
    let databases = config.get_i64("databases") as usize;
    let lake_key = match config.get("lake-encryption-key-file").as_str() {
        "" => None,
        path => Some(strata::engine::persist::lake_codec::read_key_file(std::path::Path::new(path)).map_err(StoreError)?),
    };
    let mut store = Store::open(&dir, databases, fsync)?;
    store.seal_lakes_with(lake_key);
    Ok(Some(Arc::new(store)))
}

/// `dir`/`dbfilename`.
fn rdb_path(shared: &Shared) -> PathBuf {
    PathBuf::from(shared.config.get("dir")).join(shared.config.get("dbfilename"))
}

/// Imports an RDB file (a Redis `dump.rdb` or a strata snapshot): its keys go through the
/// keyspace's write path, so with persistence on they are written to the store; its function
/// libraries are loaded into the VM.
fn import_rdb(shared: &Shared, path: &std::path::Path) -> Result<(), String> {
    let started = std::time::Instant::now();
    let now = strata::state::shared::unix_ms();
    let imported = strata::engine::rdb::import::import(path, &shared.keyspace, &shared.config.hot.limits(), now)
        .map_err(|error| format!("{}: {error}", path.display()))?;
    if !imported.functions.is_empty() {
        let mut scripting = shared.scripting.lock();
        let scripting = scripting.as_mut().ok_or("the Lua VM is unavailable to load the file's functions")?;
        for code in &imported.functions {
            scripting
                .libraries
                .load(&scripting.vm, code, true)
                .map_err(|error| format!("{}: a function library: {error}", path.display()))?;
        }
    }
    tracing::info!(
        keys = imported.keys,
        expired = imported.expired,
        functions = imported.functions.len(),
        seconds = started.elapsed().as_secs_f64(),
        path = %path.display(),
        "DB loaded from the RDB file"
    );
    Ok(())
}

/// The store's directory inside `dir`.
const STORE_DIR: &str = "strata-store";

/// A write past the file size limit (`ulimit -f`) fails with EFBIG instead of killing the
/// process, as PostgreSQL arranges too: the store treats it as the disk error it is (MISCONF until
/// writes succeed again) and nothing acknowledged is lost.
fn ignore_file_size_signal() {
    // SAFETY: installs the predefined SIG_IGN disposition before any thread starts.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

fn event_loop() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_file_and_settings() {
        let args: Vec<String> =
            ["s.conf", "--port", "7000", "--save", "900", "1", "--requirepass", "x"].iter().map(|s| s.to_string()).collect();
        let (file, pairs) = split_args(&args).unwrap();
        assert_eq!(file, Some(PathBuf::from("s.conf")));
        assert_eq!(pairs, vec![("port".into(), "7000".into()), ("save".into(), "900 1".into()), ("requirepass".into(), "x".into())]);
    }
}

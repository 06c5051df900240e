//! Logging through `tracing`, with redis.conf's loglevel names and a level CONFIG SET can change.

use std::sync::OnceLock;

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::reload;

static RELOAD: OnceLock<reload::Handle<LevelFilter, tracing_subscriber::Registry>> = OnceLock::new();

fn level(name: &str) -> LevelFilter {
    match name {
        "debug" => LevelFilter::DEBUG,
        "verbose" => LevelFilter::DEBUG,
        "notice" => LevelFilter::INFO,
        "warning" => LevelFilter::WARN,
        _ => LevelFilter::OFF,
    }
}

/// Installs the global subscriber: to `logfile` when set, else to standard output.
pub fn init(loglevel: &str, logfile: &str) -> std::io::Result<()> {
    let (filter, handle) = reload::Layer::new(level(loglevel));
    let registry = tracing_subscriber::registry().with(filter);
    if logfile.is_empty() {
        registry.with(tracing_subscriber::fmt::layer().with_target(false)).try_init().ok();
    } else {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(logfile)?;
        registry
            .with(tracing_subscriber::fmt::layer().with_target(false).with_ansi(false).with_writer(std::sync::Mutex::new(file)))
            .try_init()
            .ok();
    }
    let _ = RELOAD.set(handle);
    Ok(())
}

/// Applies a new loglevel (CONFIG SET loglevel).
pub fn apply_level(loglevel: &str) {
    if let Some(handle) = RELOAD.get() {
        let _ = handle.modify(|filter| *filter = level(loglevel));
    }
}

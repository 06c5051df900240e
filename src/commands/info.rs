//! INFO: Redis's `# Section` / `field:value` text, CRLF separated, so exporters parse it unchanged.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::table::registry;
use super::{CmdError, Ctx};
use crate::resp::{Args, Reply};
use crate::state::pubsub::Kind;
use crate::{VERSION, VERSION_REPORTED};

const DEFAULT_SECTIONS: &[&str] =
    &["server", "clients", "memory", "persistence", "stats", "replication", "cpu", "modules", "errorstats", "cluster", "keyspace"];
const ALL_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "cluster",
    "keyspace",
];

/// INFO [section [section ...]]
pub fn info(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let mut wanted: Vec<String> = args.iter().skip(1).map(|a| String::from_utf8_lossy(a).to_ascii_lowercase()).collect();
    if wanted.is_empty() || wanted.iter().any(|w| w == "default") {
        wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
    }
    if wanted.iter().any(|w| w == "all" || w == "everything") {
        wanted.extend(ALL_SECTIONS.iter().map(|s| s.to_string()));
    }
    let mut text = String::new();
    for section in ALL_SECTIONS {
        if !wanted.iter().any(|w| w == section) {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        render(ctx, section, &mut text);
    }
    Ok(Reply::Verbatim(Bytes::from(text)))
}

fn render(ctx: &Ctx, section: &str, out: &mut String) {
    let shared = ctx.shared;
    let uptime_secs = shared.started.elapsed().as_secs();
    match section {
        "server" => {
            header(out, "Server");
            field(out, "redis_version", &VERSION_REPORTED);
            field(out, "strata_version", &VERSION);
            field(out, "redis_git_sha1", &"00000000");
            field(out, "redis_git_dirty", &0);
            field(out, "redis_build_id", &"0");
            field(out, "redis_mode", &"standalone");
            field(out, "os", &format!("{} {}", std::env::consts::OS, std::env::consts::ARCH));
            field(out, "arch_bits", &64);
            field(out, "multiplexing_api", &"epoll");
            field(out, "process_id", &std::process::id());
            field(out, "run_id", &shared.run_id);
            field(out, "tcp_port", &shared.port.load(Ordering::Relaxed));
            field(out, "server_time_usec", &crate::state::shared::unix_micros());
            field(out, "uptime_in_seconds", &uptime_secs);
            field(out, "uptime_in_days", &(uptime_secs / 86400));
            field(out, "hz", &shared.config.hot.hz.load(Ordering::Relaxed));
            field(out, "configured_hz", &shared.config.hot.hz.load(Ordering::Relaxed));
            field(out, "executable", &std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default());
            field(out, "config_file", &shared.config.file().map(|p| p.display().to_string()).unwrap_or_default());
        }
        "clients" => {
            header(out, "Clients");
            field(out, "connected_clients", &shared.clients.len());
            field(out, "cluster_connections", &0);
            field(out, "maxclients", &shared.config.hot.maxclients.load(Ordering::Relaxed));
            field(out, "client_recent_max_input_buffer", &0);
            field(out, "client_recent_max_output_buffer", &0);
            field(out, "blocked_clients", &shared.blocked.count());
            field(out, "tracking_clients", &0);
            field(out, "clients_in_timeout_table", &0);
        }
        "memory" => {
            let rss = resident_bytes();
            let used = allocated_bytes().unwrap_or(rss);
            header(out, "Memory");
            field(out, "used_memory", &used);
            field(out, "used_memory_human", &human(used));
            field(out, "used_memory_rss", &rss);
            field(out, "used_memory_rss_human", &human(rss));
            field(out, "used_memory_peak", &peak_resident_bytes());
            field(out, "used_memory_peak_human", &human(peak_resident_bytes()));
            field(out, "total_system_memory", &total_system_memory());
            field(out, "maxmemory", &shared.config.get("maxmemory"));
            field(out, "maxmemory_policy", &shared.config.get("maxmemory-policy"));
            // One Lua VM serves EVAL scripts and functions alike; its memory is reported under eval.
            let scripts = shared.scripts.figures();
            let script_bytes = scripts.script_source_bytes + scripts.library_code_bytes;
            field(out, "used_memory_lua", &scripts.vm_bytes);
            field(out, "used_memory_vm_eval", &scripts.vm_bytes);
            field(out, "used_memory_lua_human", &human(scripts.vm_bytes as u64));
            field(out, "used_memory_scripts_eval", &scripts.script_source_bytes);
            field(out, "number_of_cached_scripts", &scripts.cached_scripts);
            field(out, "number_of_functions", &scripts.functions);
            field(out, "number_of_libraries", &scripts.libraries);
            field(out, "used_memory_vm_functions", &0);
            field(out, "used_memory_vm_total", &scripts.vm_bytes);
            field(out, "used_memory_vm_total_human", &human(scripts.vm_bytes as u64));
            field(out, "used_memory_functions", &scripts.library_code_bytes);
            field(out, "used_memory_scripts", &script_bytes);
            field(out, "used_memory_scripts_human", &human(script_bytes as u64));
            field(out, "mem_fragmentation_ratio", &format!("{:.2}", rss as f64 / used.max(1) as f64));
            field(out, "mem_allocator", &"jemalloc");
        }
        "persistence" => {
            header(out, "Persistence");
            let loading = shared.loading.load(Ordering::Relaxed);
            field(out, "loading", &u8::from(loading));
            field(out, "async_loading", &0);
            let saving = &shared.saving;
            field(out, "rdb_changes_since_last_save", &saving.changes());
            field(out, "rdb_bgsave_in_progress", &u8::from(saving.in_progress()));
            field(out, "rdb_last_save_time", &saving.last_save_unix.load(Ordering::Relaxed));
            field(out, "rdb_last_bgsave_status", &if saving.last_ok() { "ok" } else { "err" });
            field(out, "rdb_last_bgsave_time_sec", &saving.last_duration_secs());
            field(out, "rdb_current_bgsave_time_sec", &saving.current_duration_secs(ctx.now_ms));
            field(out, "rdb_saves", &saving.saves());
            // No fork, so no copy-on-write: BGSAVE copies one shard at a time instead.
            field(out, "rdb_last_cow_size", &0);
            field(out, "aof_enabled", &u8::from(shared.store.is_some()));
            let store = shared.store.as_deref();
            field(out, "aof_rewrite_in_progress", &u8::from(store.is_some_and(|store| store.compacting())));
            let rewrite_failed = store.is_some_and(|store| store.compaction_failed());
            field(out, "aof_last_bgrewrite_status", &if rewrite_failed { "err" } else { "ok" });
            let failed = store.is_some_and(|store| store.failed());
            field(out, "aof_last_write_status", &if failed { "err" } else { "ok" });
            if loading {
                loading_fields(out, shared);
            }
        }
        "stats" => {
            let stats = &shared.stats;
            header(out, "Stats");
            field(out, "total_connections_received", &stats.connections_received.load(Ordering::Relaxed));
            field(out, "total_commands_processed", &stats.commands_processed.load(Ordering::Relaxed));
            field(out, "instantaneous_ops_per_sec", &stats.instantaneous_ops());
            field(out, "total_net_input_bytes", &stats.net_input_bytes.load(Ordering::Relaxed));
            field(out, "total_net_output_bytes", &stats.net_output_bytes.load(Ordering::Relaxed));
            field(out, "rejected_connections", &stats.rejected_connections.load(Ordering::Relaxed));
            field(out, "expired_keys", &crate::engine::keyspace::EXPIRED_KEYS.load(Ordering::Relaxed));
            field(out, "evicted_keys", &0);
            field(out, "keyspace_hits", &stats.keyspace_hits.load(Ordering::Relaxed));
            field(out, "keyspace_misses", &stats.keyspace_misses.load(Ordering::Relaxed));
            field(out, "pubsub_channels", &shared.pubsub.active_count(Kind::Channel));
            field(out, "pubsub_patterns", &shared.pubsub.active_count(Kind::Pattern));
            field(out, "pubsubshard_channels", &shared.pubsub.active_count(Kind::Shard));
            field(out, "total_error_replies", &stats.error_replies.load(Ordering::Relaxed));
        }
        "replication" => {
            header(out, "Replication");
            field(out, "role", &"master");
            field(out, "connected_slaves", &0);
            field(out, "master_failover_state", &"no-failover");
            field(out, "master_replid", &shared.run_id);
            field(out, "master_replid2", &"0000000000000000000000000000000000000000");
            field(out, "master_repl_offset", &0);
            field(out, "second_repl_offset", &-1);
            field(out, "repl_backlog_active", &0);
        }
        "cpu" => {
            let (user, sys) = cpu_seconds();
            header(out, "CPU");
            field(out, "used_cpu_sys", &format!("{sys:.6}"));
            field(out, "used_cpu_user", &format!("{user:.6}"));
        }
        "modules" => header(out, "Modules"),
        "errorstats" => {
            header(out, "Errorstats");
            if let Ok(codes) = shared.stats.errors_by_code.lock() {
                for (code, count) in codes.iter() {
                    field(out, &format!("errorstat_{code}"), &format!("count={count}"));
                }
            }
        }
        "cluster" => {
            header(out, "Cluster");
            field(out, "cluster_enabled", &0);
        }
        "commandstats" => {
            header(out, "Commandstats");
            for (index, command) in registry().all.iter().enumerate() {
                let Some(stat) = shared.stats.per_command.get(index) else {
                    continue;
                };
                let (calls, usec, rejected, failed) = (
                    stat.calls.load(Ordering::Relaxed),
                    stat.usec.load(Ordering::Relaxed),
                    stat.rejected.load(Ordering::Relaxed),
                    stat.failed.load(Ordering::Relaxed),
                );
                if calls == 0 && rejected == 0 {
                    continue;
                }
                let per_call = if calls > 0 { usec as f64 / calls as f64 } else { 0.0 };
                field(
                    out,
                    &format!("cmdstat_{}", command.name),
                    &format!("calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={failed}"),
                );
            }
        }
        "keyspace" => {
            header(out, "Keyspace");
            for index in 0..shared.keyspace.databases() {
                let db = shared.keyspace.db(index);
                let keys = db.len();
                if keys > 0 {
                    field(out, &format!("db{index}"), &format!("keys={keys},expires={},avg_ttl=0", db.volatile()));
                }
            }
        }
        _ => {}
    }
}

/// Redis's `loading_*` fields. strata loads records, not a file: the byte figures are the store's
/// table bytes and the share of them the records read so far stand for.
fn loading_fields(out: &mut String, shared: &crate::state::shared::Shared) {
    let started = shared.loading_started_unix.load(Ordering::Relaxed);
    let done = shared.loading_progress.fraction();
    let total_bytes = shared.store.as_ref().map_or(0, |store| store.disk_bytes());
    let elapsed = (crate::state::shared::unix_ms() / 1000).saturating_sub(started) as f64;
    let eta = if done > 0.0 { (elapsed / done - elapsed).round() as i64 } else { 1 };
    field(out, "loading_start_time", &started);
    field(out, "loading_total_bytes", &total_bytes);
    field(out, "loading_rdb_used_mem", &0);
    field(out, "loading_loaded_bytes", &((total_bytes as f64 * done) as u64));
    field(out, "loading_loaded_perc", &format!("{:.2}", done * 100.0));
    field(out, "loading_eta_seconds", &eta);
}

fn header(out: &mut String, name: &str) {
    let _ = write!(out, "# {name}\r\n");
}

fn field(out: &mut String, name: &str, value: &dyn std::fmt::Display) {
    let _ = write!(out, "{name}:{value}\r\n");
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "K", "M", "G"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2}{}", UNITS[unit])
}

fn proc_status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Bytes allocated through jemalloc (the server's global allocator), as Redis's used_memory; `None`
/// when jemalloc is not the allocator in use (unit tests).
pub fn allocated_bytes() -> Option<u64> {
    tikv_jemalloc_ctl::epoch::advance().ok()?;
    let allocated = tikv_jemalloc_ctl::stats::allocated::read().ok()? as u64;
    (allocated > 0).then_some(allocated)
}

pub fn resident_bytes() -> u64 {
    proc_status_kb("VmRSS:") * 1024
}

fn peak_resident_bytes() -> u64 {
    proc_status_kb("VmHWM:") * 1024
}

fn total_system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<u64>().ok()))
        .unwrap_or(0)
        * 1024
}

/// User and system CPU seconds of this process, from /proc/self/stat (clock ticks of 1/100 s).
fn cpu_seconds() -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return (0.0, 0.0);
    };
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    (ticks(11), ticks(12))
}

// The command table of this family, joined by `commands::registry`. Its imports stay here, beside
// the rows, so that the family's table and its handlers change independently.

use super::acl;
use super::flags::{LOADING, STALE};
use super::table::Command;

/// The INFO commands, in the order COMMAND lists them.
pub(super) static COMMANDS: &[Command] = &[Command::new("info", -1, info).flags(LOADING | STALE).acl(acl::DANGEROUS)];

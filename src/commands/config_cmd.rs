//! CONFIG GET/SET/RESETSTAT/REWRITE.

use std::borrow::Cow;

use super::{CmdError, Ctx};
use crate::engine::persist::Fsync;
use crate::resp::{Args, Reply};

/// CONFIG GET parameter [parameter ...]
pub fn config_get(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    let patterns: Vec<&[u8]> = args.iter().skip(2).collect();
    let pairs = ctx.shared.config.matching(&patterns);
    Ok(Reply::Map(pairs.into_iter().map(|(name, value)| (Reply::bulk(name.as_bytes()), Reply::bulk_string(value))).collect()))
}

/// CONFIG SET parameter value [parameter value ...]
pub fn config_set(ctx: &mut Ctx, args: Args) -> Result<Reply, CmdError> {
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity("config|set".to_owned()));
    }
    let pairs: Vec<(String, String)> = (2..args.len())
        .step_by(2)
        .map(|i| (String::from_utf8_lossy(args.get(i)).into_owned(), String::from_utf8_lossy(args.get(i + 1)).into_owned()))
        .collect();
    // Not yet: turning persistence on or off while the server runs (Redis rewrites its AOF then).
    let persisting = ctx.shared.store.is_some();
    if pairs.iter().any(|(name, value)| name.eq_ignore_ascii_case("appendonly") && value.eq_ignore_ascii_case("yes") != persisting) {
        return Err(CmdError::err(
            "CONFIG SET failed (possibly related to argument 'appendonly') - strata turns persistence on or off only at start",
        ));
    }
    if let Some((name, _)) = pairs.iter().find(|(name, _)| PROTECTED_CONFIGS.iter().any(|p| name.eq_ignore_ascii_case(p))) {
        if !ctx.protected_action_allowed("enable-protected-configs") {
            return Err(CmdError::err(format!("CONFIG SET failed (possibly related to argument '{name}') - can't set protected config")));
        }
    }
    let before: Vec<(String, String)> =
        pairs.iter().map(|(name, _)| (name.clone(), ctx.shared.config.get(&name.to_ascii_lowercase()))).collect();
    ctx.shared.config.set(&pairs).map_err(|e| CmdError::Other(Cow::Owned(e)))?;
    let tls_changed = pairs.iter().any(|(name, _)| tls::SETTINGS.iter().any(|setting| name.eq_ignore_ascii_case(setting)));
    if tls_changed && ctx.shared.config.get_i64("tls-port") > 0 {
        if let Err(error) = ctx.shared.tls.reload(&ctx.shared.config) {
            // As Redis: the new settings don't take, and the old configuration stays in force.
            let _ = ctx.shared.config.set(&before);
            return Err(CmdError::err(format!(
                "CONFIG SET failed (possibly related to argument '{}') - Unable to update TLS configuration. {error}",
                pairs[0].0
            )));
        }
    }
    if pairs.iter().any(|(name, _)| name.eq_ignore_ascii_case("requirepass")) {
        super::access::set_requirepass(ctx.shared, &ctx.shared.config.get("requirepass"));
    }
    if let Some(store) = &ctx.shared.store {
        if let Some(mode) = Fsync::from_name(&ctx.shared.config.get("appendfsync")) {
            if mode != store.fsync() {
                store.set_fsync(mode);
            }
        }
    }
    ctx.shared.slowlog.trim(ctx.shared.config.hot.slowlog_max_len.load(std::sync::atomic::Ordering::Relaxed));
    crate::logging::apply_level(&ctx.shared.config.get("loglevel"));
    Ok(Reply::Ok)
}

/// Settings CONFIG SET changes only as `enable-protected-configs` allows: where files are written.
const PROTECTED_CONFIGS: &[&str] = &["dir", "dbfilename"];

use crate::state::tls;

/// CONFIG RESETSTAT
pub fn config_resetstat(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    ctx.shared.stats.reset();
    ctx.shared.slowlog.reset();
    Ok(Reply::Ok)
}

/// CONFIG REWRITE
pub fn config_rewrite(ctx: &mut Ctx, _args: Args) -> Result<Reply, CmdError> {
    ctx.shared.config.rewrite().map_err(|e| CmdError::Other(Cow::Owned(e)))?;
    Ok(Reply::Ok)
}

// The command table of this family, joined by `commands::registry`. Its imports stay here, beside
// the rows, so that the family's table and its handlers change independently.

use super::flags::{ADMIN, LOADING, NOSCRIPT, STALE};
use super::table::Command;

/// The CONFIG commands, in the order COMMAND lists them.
pub(super) static COMMANDS: &[Command] = &[Command::new("config", -2, super::dispatch::container).subcommands(CONFIG_SUBCOMMANDS)];

static CONFIG_SUBCOMMANDS: &[Command] = &[
    Command::new("config|get", -3, config_get).flags(ADMIN | NOSCRIPT | LOADING | STALE),
    Command::new("config|resetstat", 2, config_resetstat).flags(ADMIN | NOSCRIPT | LOADING | STALE),
    Command::new("config|rewrite", 2, config_rewrite).flags(ADMIN | NOSCRIPT | LOADING | STALE),
    Command::new("config|set", -4, config_set).flags(ADMIN | NOSCRIPT | LOADING | STALE),
];

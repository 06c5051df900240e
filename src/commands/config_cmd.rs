//! CONFIG GET/SET/RESETSTAT/REWRITE.

use std::borrow::Cow;

use super::{CmdError, Ctx};
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
    ctx.shared.config.set(&pairs).map_err(|e| CmdError::Other(Cow::Owned(e)))?;
    ctx.shared.slowlog.trim(ctx.shared.config.hot.slowlog_max_len.load(std::sync::atomic::Ordering::Relaxed));
    crate::server::logging::apply_level(&ctx.shared.config.get("loglevel"));
    Ok(Reply::Ok)
}

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

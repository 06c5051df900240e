//! Turning EX/PX/EXAT/PXAT arguments into deadlines, with Redis's validation.

use super::CmdError;
use crate::engine::keyspace::MAX_DEADLINE_MS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Seconds,
    Millis,
}

/// The absolute deadline in Unix milliseconds for `amount` (relative to `now_ms` unless `absolute`).
/// `allow_non_positive` is false for SET/GETEX, which refuse zero and negative times.
pub fn deadline(
    amount: i64,
    unit: TimeUnit,
    absolute: bool,
    now_ms: u64,
    allow_non_positive: bool,
    command: &str,
) -> Result<i64, CmdError> {
    let invalid = || CmdError::err(format!("invalid expire time in '{command}' command"));
    if amount <= 0 && !allow_non_positive {
        return Err(invalid());
    }
    let millis = match unit {
        TimeUnit::Seconds => amount.checked_mul(1000).ok_or_else(invalid)?,
        TimeUnit::Millis => amount,
    };
    let at = if absolute { millis } else { millis.checked_add(now_ms as i64).ok_or_else(invalid)? };
    if at > MAX_DEADLINE_MS as i64 {
        return Err(invalid());
    }
    Ok(at)
}

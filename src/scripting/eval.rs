//! EVAL scripts: the cache of compiled scripts by SHA1 (filled by EVAL and SCRIPT LOAD, emptied by
//! SCRIPT FLUSH) and the `#!lua flags=...` shebang of Redis 7.

use hashbrown::HashMap;
use mlua::Function;

use super::api::sha1_hex;
use super::vm::{ScriptVm, SCRIPT_CHUNK};

/// A compiled script.
#[derive(Clone)]
pub struct Script {
    pub function: Function,
    /// Declared `no-writes` in its shebang: runs as read-only even under EVAL.
    pub no_writes: bool,
}

#[derive(Default)]
pub struct ScriptCache {
    scripts: HashMap<String, Script>,
    /// Bytes of script source held, for INFO's used_memory_scripts_eval.
    source_bytes: usize,
}

/// Flags a shebang may declare (Redis 7's script flags).
const SHEBANG_FLAGS: &[&str] = &["no-writes", "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys"];

impl ScriptCache {
    /// Compiles and caches `body` unless cached already; returns its SHA1 and the script.
    pub fn load(&mut self, vm: &ScriptVm, body: &[u8]) -> Result<(&str, &Script), String> {
        let sha = sha1_hex(body);
        if !self.scripts.contains_key(&sha) {
            let (no_writes, code) = parse_shebang(body)?;
            let function =
                vm.compile(code, SCRIPT_CHUNK, None).map_err(|message| format!("ERR Error compiling script (new function): {message}"))?;
            self.source_bytes += body.len();
            self.scripts.insert(sha.clone(), Script { function, no_writes });
        }
        self.scripts.get_key_value(&sha).map(|(sha, script)| (sha.as_str(), script)).ok_or_else(|| "ERR script cache".to_owned())
    }

    /// A cached script by SHA1 (either case, as Redis accepts), with its SHA1 in lower case.
    pub fn get(&self, sha: &[u8]) -> Option<(&str, &Script)> {
        let mut lower: [u8; 40] = sha.try_into().ok()?;
        lower.make_ascii_lowercase();
        let lower = std::str::from_utf8(&lower).ok()?;
        self.scripts.get_key_value(lower).map(|(sha, script)| (sha.as_str(), script))
    }

    pub fn contains(&self, sha: &[u8]) -> bool {
        self.get(sha).is_some()
    }

    pub fn flush(&mut self) {
        self.scripts.clear();
        self.source_bytes = 0;
    }

    pub fn len(&self) -> usize {
        self.scripts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scripts.is_empty()
    }

    pub fn source_bytes(&self) -> usize {
        self.source_bytes
    }
}

/// Splits a `#!lua [flags=a,b]` first line off a script: whether it declared `no-writes`, and the
/// code to compile. The newline stays with the code so line numbers match the source.
fn parse_shebang(body: &[u8]) -> Result<(bool, &[u8]), String> {
    if !body.starts_with(b"#!") {
        return Ok((false, body));
    }
    let end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
    let line = String::from_utf8_lossy(&body[..end]);
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or_default();
    if engine != "#!lua" {
        return Err(format!("ERR Unexpected engine in script shebang: {engine}"));
    }
    let mut no_writes = false;
    for part in parts {
        let Some(flags) = part.strip_prefix("flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {part}"));
        };
        for flag in flags.split(',').filter(|f| !f.is_empty()) {
            if !SHEBANG_FLAGS.contains(&flag) {
                return Err(format!("ERR Unexpected flag in script shebang: {flag}"));
            }
            no_writes |= flag == "no-writes";
        }
    }
    Ok((no_writes, &body[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_flags_and_errors() {
        assert_eq!(parse_shebang(b"return 1"), Ok((false, &b"return 1"[..])));
        assert_eq!(parse_shebang(b"#!lua flags=no-writes,allow-oom\nreturn 1"), Ok((true, &b"\nreturn 1"[..])));
        assert_eq!(parse_shebang(b"#!lua\nreturn 1"), Ok((false, &b"\nreturn 1"[..])));
        assert_eq!(parse_shebang(b"#!python\n").unwrap_err(), "ERR Unexpected engine in script shebang: #!python");
        assert_eq!(parse_shebang(b"#!lua flags=bogus\n").unwrap_err(), "ERR Unexpected flag in script shebang: bogus");
        assert_eq!(parse_shebang(b"#!lua bogus=1\n").unwrap_err(), "ERR Unknown lua shebang option: bogus=1");
    }
}

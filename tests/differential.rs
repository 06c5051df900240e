//! Differential test: one seeded random sequence of string, key and expiry commands is sent to strata
//! and to a real redis-server, and every raw reply (`redis::Value`, or the error line) must match.
//!
//! The generator stays inside what is deterministic on both servers:
//! - TTLs are long (≥ 100 s) or already past, so nothing expires by the clock during a run. Every
//!   relative TTL is new (100 + 7n seconds, plus 500 ms in the millisecond forms), so two deadlines are
//!   never within a few milliseconds of each other and EXPIRE ... GT/LT compares the same way on both
//!   servers although each reads its own clock (seed 106 once compared two equal TTLs set a moment
//!   apart). Absolute deadlines are the run's start (in whole seconds) plus offsets A chosen so that
//!   (A - 100) mod 7 lies in [4.5, 6] s with or without the 500 ms: no 100 + 7n second TTL set in the
//!   first ~3 s of a run comes near them.
//! - TTL/PTTL/EXPIRETIME/PEXPIRETIME replies are compared only as -2, -1 or "positive".
//! - KEYS replies are sorted; SCAN runs as whole iterations (`SCANALL`) compared as sets of keys;
//!   RANDOMKEY (random by design) is not generated.
//! - INCRBYFLOAT runs only on its own keys (`f0`, `f1`), which only ever hold short decimals: strata
//!   computes in f64 and prints at most 17 significant digits where Redis computes in 80-bit long
//!   double, so values past 2^53 (such as 9223372036854775807, which the other keys hold) or long
//!   fractions legitimately print differently. That is an intentional difference, kept out here.
//!
//! `STRATA_DIFF_SEEDS=1,2,3` and `STRATA_DIFF_OPS=N` run other seeds, for exploring.

mod common;

use common::{error_line, Server};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use redis::Value;

/// Seeds run by default. Seeds that once found a strata bug stay here as regressions:
/// 4 (GETEX on a missing key with an invalid time answered an error instead of nil).
const SEEDS: &[u64] = &[1, 2, 3, 4];
const OPS_PER_SEED: usize = 3000;

const KEYS: &[&str] = &["k0", "k1", "k2", "k3", "k4", "{k}5"];
/// The only keys INCRBYFLOAT touches (see the module comment).
const FLOAT_KEYS: &[&str] = &["f0", "f1"];
const VALUES: &[&str] = &[
    "",
    "a",
    "hello",
    "0",
    "1",
    "10",
    "-5",
    "007",
    " 5",
    "3.5",
    "-0.25",
    "1e3",
    "abc",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "12345678901234567890",
    "this value is longer than forty-four bytes, so it is raw",
    "ohmytext",
    "mynewtext",
];
const INTS: &[&str] = &["0", "1", "-1", "7", "-100", "9223372036854775807", "-9223372036854775808", "x", "1.5", ""];
const FLOATS: &[&str] = &["0", "1", "-1", "0.5", "2.25", "-3.75", "10", "1e2", "abc", "inf", "+inf", "-inf", "nan", ""];
const RANGES: &[&str] = &["0", "1", "2", "-1", "-2", "-100", "3", "100", "9223372036854775807", "-9223372036854775808", "a"];

struct Gen {
    rng: StdRng,
    /// Unix seconds at the start of the run, for EXPIREAT-style absolute deadlines.
    now: u64,
    /// Whether at_secs/at_millis may return a past time. Not for SET: Redis 7.0 stores a key whose
    /// EXAT/PXAT is already past and DBSIZE counts it until active expiry happens to free it, which is
    /// timing, not semantics (strata deletes it at once; both answer GET/EXISTS/KEYS alike).
    past_ok: bool,
    /// Relative TTLs handed out so far (see the module comment).
    ttls: u64,
}

impl Gen {
    fn pick(&mut self, items: &[&str]) -> String {
        items.choose(&mut self.rng).unwrap().to_string()
    }

    /// A relative TTL in seconds: a new long one, or now and then zero or negative (deletes at once).
    fn secs(&mut self) -> String {
        if self.rng.random_bool(0.1) {
            return self.pick(&["0", "-5"]);
        }
        self.ttls += 1;
        (100 + 7 * self.ttls).to_string()
    }

    fn millis(&mut self) -> String {
        if self.rng.random_bool(0.1) {
            return self.pick(&["0", "-1"]);
        }
        self.ttls += 1;
        ((100 + 7 * self.ttls) * 1000 + 500).to_string()
    }

    fn key(&mut self) -> String {
        self.pick(KEYS)
    }

    fn value(&mut self) -> String {
        if self.rng.random_bool(0.1) {
            let len = self.rng.random_range(1..60);
            (0..len).map(|_| *[b'a', b'b', b'c', b'x'].choose(&mut self.rng).unwrap() as char).collect()
        } else {
            self.pick(VALUES)
        }
    }

    /// An absolute unix time in seconds: past, or far in the future.
    fn at_secs(&mut self) -> String {
        match self.rng.random_range(0..4) {
            0 if self.past_ok => "1".to_string(),
            0 => (self.now + 3500).to_string(),
            1 => (self.now + 400).to_string(),
            2 => (self.now + 903).to_string(),
            _ => (self.now + 2500).to_string(),
        }
    }

    fn at_millis(&mut self) -> String {
        match self.rng.random_range(0..3) {
            0 if self.past_ok => "1000".to_string(),
            0 => (self.now * 1000 + 3_003_500).to_string(),
            1 => (self.now * 1000 + 602_900).to_string(),
            _ => (self.now * 1000 + 1_204_000).to_string(),
        }
    }

    fn expire_flag(&mut self, args: &mut Vec<String>) {
        match self.rng.random_range(0..8) {
            0 => args.push("NX".into()),
            1 => args.push("XX".into()),
            2 => args.push("GT".into()),
            3 => args.push("LT".into()),
            4 if self.rng.random_bool(0.2) => {
                let pair = [["NX", "XX"], ["GT", "LT"], ["NX", "GT"], ["xx", "lt"]].choose(&mut self.rng).unwrap();
                args.extend(pair.iter().map(|s| s.to_string()));
            }
            _ => {}
        }
    }

    fn command(&mut self) -> Vec<String> {
        let k = self.key();
        let mut a: Vec<String>;
        let s = |x: &str| x.to_string();
        match self.rng.random_range(0..53) {
            0..=3 => {
                a = vec![s("SET"), k, self.value()];
                if self.rng.random_bool(0.3) {
                    a.push(self.pick(&["NX", "XX", "nx", "xx"]));
                }
                if self.rng.random_bool(0.2) {
                    a.push(s("GET"));
                }
                match self.rng.random_range(0..8) {
                    0 => a.extend([s("EX"), self.secs()]),
                    1 => a.extend([s("PX"), self.millis()]),
                    2 => {
                        self.past_ok = false;
                        a.extend([s("EXAT"), self.at_secs()]);
                        self.past_ok = true;
                    }
                    3 => {
                        self.past_ok = false;
                        a.extend([s("PXAT"), self.at_millis()]);
                        self.past_ok = true;
                    }
                    4 => a.push(s("KEEPTTL")),
                    5 if self.rng.random_bool(0.2) => {
                        // Invalid combinations and values.
                        let bad =
                            [&["EX", "10", "PX", "100"][..], &["NX", "XX"], &["EX"], &["EX", "abc"], &["KEEPTTL", "EX", "5"], &["FOO"]];
                        a.extend(bad.choose(&mut self.rng).unwrap().iter().map(|x| x.to_string()));
                    }
                    _ => {}
                }
            }
            4..=6 => a = vec![s("GET"), k],
            7 => a = vec![s("SETNX"), k, self.value()],
            8 => a = vec![s("SETEX"), k, self.secs(), self.value()],
            9 => a = vec![s("PSETEX"), k, self.millis(), self.value()],
            10 => a = vec![s("GETSET"), k, self.value()],
            11 => a = vec![s("GETDEL"), k],
            12 => {
                a = vec![s("GETEX"), k];
                match self.rng.random_range(0..7) {
                    0 => a.extend([s("EX"), self.secs()]),
                    1 => a.extend([s("PX"), self.millis()]),
                    2 => a.extend([s("EXAT"), self.at_secs()]),
                    3 => a.extend([s("PXAT"), self.at_millis()]),
                    4 => a.push(s("PERSIST")),
                    5 => a.extend([s("EX"), s("10"), s("PERSIST")]),
                    _ => {}
                }
            }
            13..=14 => a = vec![self.pick(&["INCR", "DECR"]), k],
            15..=16 => a = vec![self.pick(&["INCRBY", "DECRBY"]), k, self.pick(INTS)],
            17..=18 => a = vec![s("INCRBYFLOAT"), self.pick(FLOAT_KEYS), self.pick(FLOATS)],
            51 => {
                // Everything else the float keys see: small values only (see the module comment).
                let f = self.pick(FLOAT_KEYS);
                a = match self.rng.random_range(0..8) {
                    0 | 1 => vec![s("SET"), f, self.pick(&["0", "1.5", "-2", "10", "abc", "0.25", "1e1"])],
                    2 => vec![s("GET"), f],
                    3 => vec![self.pick(&["INCR", "DECR"]), f],
                    4 => vec![s("INCRBY"), f, self.pick(&["3", "-7", "x"])],
                    5 => vec![self.pick(&["DEL", "TYPE", "STRLEN", "EXISTS"]), f],
                    6 => vec![s("OBJECT"), s("ENCODING"), f],
                    _ => vec![s("APPEND"), f, s("x")],
                };
            }
            19..=20 => a = vec![s("APPEND"), k, self.value()],
            21 => a = vec![s("STRLEN"), k],
            22..=23 => a = vec![self.pick(&["GETRANGE", "SUBSTR"]), k, self.pick(RANGES), self.pick(RANGES)],
            24..=25 => {
                let offset = self.pick(&["0", "1", "3", "10", "-1", "x", "536870912"]);
                a = vec![s("SETRANGE"), k, offset, self.value()];
            }
            26 => {
                a = vec![s("MSET")];
                for _ in 0..self.rng.random_range(1..4) {
                    a.extend([self.key(), self.value()]);
                }
                if self.rng.random_bool(0.05) {
                    a.push(self.key());
                }
            }
            27 => {
                a = vec![s("MSETNX")];
                for _ in 0..self.rng.random_range(1..3) {
                    a.extend([self.key(), self.value()]);
                }
            }
            28 => {
                a = vec![s("MGET")];
                for _ in 0..self.rng.random_range(1..5) {
                    a.push(self.key());
                }
            }
            29..=30 => {
                a = vec![self.pick(&["DEL", "UNLINK", "EXISTS", "TOUCH"])];
                for _ in 0..self.rng.random_range(1..4) {
                    a.push(self.key());
                }
            }
            31..=32 => {
                a = vec![self.pick(&["EXPIRE", "PEXPIRE"]), k];
                let amount = if a[0] == "EXPIRE" { self.secs() } else { self.millis() };
                a.push(amount);
                self.expire_flag(&mut a);
            }
            33 => {
                a = vec![self.pick(&["EXPIREAT", "PEXPIREAT"]), k];
                let at = if a[0] == "EXPIREAT" { self.at_secs() } else { self.at_millis() };
                a.push(at);
                self.expire_flag(&mut a);
            }
            34 => a = vec![s("PERSIST"), k],
            35..=36 => a = vec![self.pick(&["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"]), k],
            37 => a = vec![self.pick(&["RENAME", "RENAMENX"]), k, self.key()],
            38 => {
                a = vec![s("COPY"), k, self.key()];
                if self.rng.random_bool(0.4) {
                    a.push(s("REPLACE"));
                }
                if self.rng.random_bool(0.1) {
                    a.extend([s("DB"), self.pick(&["0", "1", "x", "99"])]);
                }
            }
            39 => a = vec![s("TYPE"), k],
            40..=41 => a = vec![s("OBJECT"), s("ENCODING"), k],
            42 => {
                a = vec![s("LCS"), k, self.key()];
                match self.rng.random_range(0..5) {
                    0 => a.push(s("LEN")),
                    1 => a.push(s("IDX")),
                    2 => a.extend([s("IDX"), s("MINMATCHLEN"), self.pick(&["0", "2", "4", "-1"])]),
                    3 => a.extend([s("IDX"), s("WITHMATCHLEN")]),
                    _ => {}
                }
            }
            43 => a = vec![s("DBSIZE")],
            44 => a = vec![s("KEYS"), self.pick(&["*", "k[0-2]", "k?", "{*", "*3", "k[^0]"])],
            45 => a = vec![s("MOVE"), k, self.pick(&["1", "0", "x"])],
            46 => {
                // Keys in database 1, so MOVE finds both outcomes.
                a = vec![s("SELECT"), s("1")];
            }
            47 => a = vec![s("SELECT"), s("0")],
            48 => a = vec![s("SWAPDB"), s("0"), s("1")],
            49 => {
                // Wrong arity and unknown words.
                let bad: &[&[&str]] =
                    &[&["GET"], &["SET", "k0"], &["INCRBY", "k0"], &["EXPIRE", "k0"], &["GETEX", "k0", "EX"], &["GETEX", "k0", "FOO"]];
                a = bad.choose(&mut self.rng).unwrap().iter().map(|x| x.to_string()).collect();
            }
            50 if self.rng.random_bool(0.5) => a = vec![s("ECHO"), self.value()],
            50 => {
                // A whole SCAN iteration (see `scan_all`), with options.
                a = vec![s("SCANALL"), s("COUNT"), self.pick(&["1", "3", "100"])];
                if self.rng.random_bool(0.5) {
                    a.extend([s("MATCH"), self.pick(&["k*", "*1", "f?", "{*", "[kf][0-2]"])]);
                }
                if self.rng.random_bool(0.3) {
                    a.extend([s("TYPE"), self.pick(&["string", "list", "none"])]);
                }
            }
            _ => a = vec![s("EXISTS"), k.clone(), k],
        }
        a
    }
}

/// Makes replies comparable: clock-dependent numbers to a sign, KEYS sorted.
fn normalize(command: &str, reply: Result<Value, String>) -> Result<Value, String> {
    let upper = command.to_ascii_uppercase();
    match (upper.as_str(), reply) {
        ("TTL" | "PTTL" | "EXPIRETIME" | "PEXPIRETIME", Ok(Value::Int(n))) if n > 0 => Ok(Value::SimpleString("<positive>".into())),
        ("KEYS", Ok(Value::Array(mut items))) => {
            items.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
            Ok(Value::Array(items))
        }
        (_, reply) => reply,
    }
}

/// `SCANALL options...`: SCAN from cursor 0 until it returns 0; the keys found, sorted and deduplicated
/// (cursors and batch boundaries are the servers' own business, the set of keys is not).
fn scan_all(con: &mut redis::Connection, options: &[String]) -> Result<Value, String> {
    let mut cursor = "0".to_string();
    let mut keys = std::collections::BTreeSet::new();
    for _ in 0..10_000 {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(&cursor).arg(options);
        let reply = cmd.query::<Value>(con).map_err(error_line)?;
        let Value::Array(parts) = reply else { return Err(format!("SCAN answered {reply:?}")) };
        let (Value::BulkString(next), Value::Array(batch)) = (&parts[0], &parts[1]) else {
            return Err(format!("SCAN answered {parts:?}"));
        };
        keys.extend(batch.iter().map(|k| format!("{k:?}")));
        cursor = String::from_utf8_lossy(next).into_owned();
        if cursor == "0" {
            return Ok(Value::Array(keys.into_iter().map(Value::SimpleString).collect()));
        }
    }
    Err("SCAN did not finish".into())
}

fn run(con: &mut redis::Connection, args: &[String]) -> Result<Value, String> {
    if args[0] == "SCANALL" {
        return scan_all(con, &args[1..]);
    }
    let mut cmd = redis::cmd(&args[0]);
    for arg in &args[1..] {
        cmd.arg(arg);
    }
    normalize(&args[0], cmd.query::<Value>(con).map_err(error_line))
}

fn run_seed(seed: u64, ops: usize, strata: &Server, redis: &Server, protocol: u8) {
    let mut ours = strata.con_proto(protocol);
    let mut theirs = redis.con_proto(protocol);
    for con in [&mut ours, &mut theirs] {
        redis::cmd("FLUSHALL").query::<()>(con).unwrap();
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let mut generator = Gen { rng: StdRng::seed_from_u64(seed), now, past_ok: true, ttls: 0 };
    let mut history: Vec<String> = Vec::new();
    for step in 0..ops {
        let args = generator.command();
        let expected = run(&mut theirs, &args);
        let got = run(&mut ours, &args);
        history.push(args.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(" "));
        if got != expected {
            if let Ok(path) = std::env::var("STRATA_DIFF_DUMP") {
                std::fs::write(path, history.join("\n")).unwrap();
            }
            let recent = history[history.len().saturating_sub(15)..].join("\n  ");
            // (line N of the dump is step N-1.)
            panic!(
                "seed {seed} (RESP{protocol}) step {step}: {args:?}\n  strata: {got:?}\n  redis:  {expected:?}\nlast commands:\n  {recent}"
            );
        }
    }
}

fn env_list(name: &str) -> Option<Vec<u64>> {
    std::env::var(name).ok().map(|list| list.split(',').map(|s| s.trim().parse().expect("seed")).collect())
}

#[test]
fn random_sequences_match_redis() {
    let strata = Server::start();
    let redis = Server::start_redis();
    let seeds = env_list("STRATA_DIFF_SEEDS").unwrap_or_else(|| SEEDS.to_vec());
    let ops = std::env::var("STRATA_DIFF_OPS").ok().map_or(OPS_PER_SEED, |n| n.parse().expect("ops"));
    for seed in seeds {
        // Alternate protocols so both reply encodings are compared.
        run_seed(seed, ops, &strata, &redis, if seed % 2 == 0 { 3 } else { 2 });
    }
}

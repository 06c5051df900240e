//! The write seam: every write command reports mutations that describe its effect. A recording sink
//! replays each mutation onto a mirror keyspace as it arrives; after a seeded random run over every
//! type (expiry, FLUSHDB, SWAPDB, MOVE, RENAME, MULTI/EXEC and scripts included) the mirror must hold
//! exactly what the server holds.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

mod common;

use common::workload::{random_topic_write, random_write};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use strata::commands::harness::Harness;
use strata::commands::{registry, WRITE};
use strata::engine::keyspace::SHARDS;
use strata::engine::replay::{apply, Diverged};
use strata::engine::{ChangeSink, Keyspace, Limits, Mutation, Value};

/// Small encodings, so the run crosses every listpack/intset → table conversion.
const SETTINGS: &[(&str, &str)] = &[
    ("hash-max-listpack-entries", "4"),
    ("set-max-intset-entries", "4"),
    ("zset-max-listpack-entries", "4"),
    ("list-max-listpack-size", "4"),
    ("stream-node-max-entries", "3"),
];

fn limits() -> Limits {
    Limits {
        hash_max_entries: 4,
        set_max_intset_entries: 4,
        zset_max_entries: 4,
        list_max_listpack_size: 4,
        stream_node_max_entries: 3,
        ..Limits::default()
    }
}

/// Applies every mutation to a mirror keyspace as it is recorded, and keeps the first divergence.
/// Also checks that member-level mutations name the version their collection was stored with.
struct Mirror {
    keyspace: Keyspace,
    limits: Limits,
    recorded: Mutex<(usize, Option<Diverged>)>,
    versions: Mutex<HashMap<(usize, Vec<u8>), u64>>,
}

impl Mirror {
    fn check_version(&self, db: usize, version: u64, change: &Mutation<'_>) -> Result<(), Diverged> {
        let mut versions = self.versions.lock().unwrap();
        let key = change.key().map(<[u8]>::to_vec);
        match (*change, key) {
            (Mutation::FlushDb, _) => versions.retain(|(at, _), _| *at != db),
            (Mutation::SwapDb { other }, _) => {
                *versions = versions
                    .drain()
                    .map(|((at, k), v)| {
                        (
                            (
                                if at == db {
                                    other
                                } else if at == other {
                                    db
                                } else {
                                    at
                                },
                                k,
                            ),
                            v,
                        )
                    })
                    .collect();
            }
            (Mutation::Put { value, .. }, Some(key)) => {
                versions.insert((db, key), value.version());
            }
            (Mutation::Delete { .. } | Mutation::Expired { .. }, Some(key)) => {
                versions.remove(&(db, key));
            }
            (Mutation::Expire { .. } | Mutation::StringWrite { .. }, _) => {}
            (_, Some(key)) => {
                let stored = versions.get(&(db, key.clone())).copied();
                if stored != Some(version) || version == 0 {
                    return Err(Diverged { db, key, what: "a member change names another version than its collection's" });
                }
            }
            (_, None) => {}
        }
        Ok(())
    }
}

impl ChangeSink for Mirror {
    fn record(&self, db: usize, version: u64, change: &Mutation<'_>) {
        // Time 0: the mirror expires nothing by itself; expiry arrives as `Expired` mutations.
        let result = self.check_version(db, version, change).and_then(|_| apply(&self.keyspace, db, change, &self.limits, 0));
        let mut recorded = self.recorded.lock().unwrap();
        recorded.0 += 1;
        if let (Err(diverged), None) = (result, &recorded.1) {
            recorded.1 = Some(diverged);
        }
    }
}

/// Every entry of every database, expired-but-present ones included, in a comparable form.
fn contents(keyspace: &Keyspace) -> Vec<(usize, Vec<u8>, String, Option<u64>)> {
    let mut all = Vec::new();
    for db in 0..keyspace.databases() {
        for shard in 0..SHARDS {
            let guard = keyspace.db(db).lock_index(shard);
            all.extend(guard.iter().map(|e| (db, e.key().to_vec(), describe(e.value()), e.expire_at())));
        }
    }
    all.sort();
    all
}

/// A value as data: a string by its bytes (whether it is kept `raw` or `embstr` is an encoding that
/// in-place edits change without changing the data, and that a restart forgets in Redis too), a
/// collection with its encoding.
fn describe(value: &Value) -> String {
    match value.as_string() {
        Some(bytes) => format!("string {bytes:?}"),
        None => format!("{value:?}"),
    }
}

/// The command name as COMMAND lists it (`xgroup|create` for subcommands).
fn command_name(command: &[String]) -> String {
    match command[0].as_str() {
        "xgroup" | "function" => format!("{}|{}", command[0], command[1]),
        name => name.to_string(),
    }
}

fn run_seed(seed: u64, steps: usize, ran: &mut HashSet<String>) {
    let mirror =
        Arc::new(Mirror { keyspace: Keyspace::new(16), limits: limits(), recorded: Mutex::new((0, None)), versions: Mutex::default() });
    let mut harness = Harness::with_sinks(SETTINGS, vec![mirror.clone()]);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut topic_rng = StdRng::seed_from_u64(seed + (1 << 32));
    for step in 0..steps {
        if topic_rng.random_bool(0.15) {
            let command = random_topic_write(&mut topic_rng);
            ran.insert(command_name(&command));
            harness.run(&command);
        }
        match rng.random_range(0..20) {
            0 => {
                harness.run(&["multi"]);
                for _ in 0..rng.random_range(1..5) {
                    let command = random_write(&mut rng);
                    ran.insert(command_name(&command));
                    harness.run(&command);
                }
                harness.run(&["exec"]);
            }
            1 => harness.advance_ms(rng.random_range(0..120)),
            2 => {
                harness.expire_cycle();
            }
            _ => {
                let command = random_write(&mut rng);
                ran.insert(command_name(&command));
                let reply = harness.run(&command);
                if std::env::var("SHOW").is_ok() {
                    eprintln!("{command:?} -> {reply:?} ({} recorded)", mirror.recorded.lock().unwrap().0);
                }
            }
        }
        if let Some(diverged) = &mirror.recorded.lock().unwrap().1 {
            panic!("seed {seed} step {step}: the mirror diverged: {diverged:?}");
        }
    }
    assert!(mirror.recorded.lock().unwrap().0 > steps / 5, "seed {seed}: too few mutations were recorded");
    assert_eq!(contents(&harness.shared.keyspace), contents(&mirror.keyspace), "seed {seed}");
}

#[test]
fn replaying_recorded_mutations_reproduces_the_keyspace() {
    let mut ran = HashSet::new();
    for seed in 0..100 {
        run_seed(seed, 600, &mut ran);
    }
    // Every write command of the table took part (FUNCTION's write no keys).
    let missing: Vec<&str> = registry()
        .all
        .iter()
        .filter(|c| c.has(WRITE) && !c.name.starts_with("function|") && !ran.contains(c.name))
        .map(|c| c.name)
        .collect();
    assert!(missing.is_empty(), "write commands the random run never sent: {missing:?}");
}

//! LAKE.* in process against a model: seeded random writes of all three modes (many of which must
//! be refused), reads at random versions and times, diffs, forced snapshots and compactions, with
//! a clock that moves; every 40 steps the catalog rebuilt from the store must equal the live one,
//! and every 97 steps the server restarts from its store. The model keeps only the accepted deltas
//! and replays them from `{}` for every read, with its own path walking and json-patch calls.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value as Json};
use strata::commands::harness::Harness;
use strata::resp::Reply;

const INTERVAL: u64 = 5;

struct Delta {
    mode: &'static str,
    path: String,
    body: Json,
    time: u64,
}

#[derive(Default)]
struct Model {
    deltas: Vec<Delta>,
    snapshots: Vec<u64>,
    horizon: u64,
    meta: Map<String, Json>,
}

fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// One delta applied the plain way; `None` when LAKE.WRITE must refuse it.
fn apply(doc: &Json, mode: &str, path: &str, body: &Json) -> Option<Json> {
    let mut doc = doc.clone();
    let mut node = &mut doc;
    let parts = segments(path);
    for (n, segment) in parts.iter().enumerate() {
        let map = node.as_object_mut()?;
        if !map.contains_key(*segment) {
            if mode == "patch" {
                return None;
            }
            let fill = if n + 1 < parts.len() { json!({}) } else { Json::Null };
            map.insert(segment.to_string(), fill);
        }
        node = map.get_mut(*segment)?;
    }
    match mode {
        "replace" => *node = body.clone(),
        "merge" => json_patch::merge(node, body),
        _ => {
            let patch: json_patch::Patch = serde_json::from_value(body.clone()).ok()?;
            // On the copy: json-patch's own undo can panic on some failing patches (move into itself).
            json_patch::patch_unsafe(node, &patch).ok()?;
        }
    }
    Some(doc)
}

impl Model {
    fn version(&self) -> u64 {
        self.deltas.len() as u64
    }

    fn replay(&self, version: u64) -> Json {
        let mut doc = json!({});
        for delta in &self.deltas[..version as usize] {
            doc = apply(&doc, delta.mode, &delta.path, &delta.body).unwrap();
        }
        doc
    }

    /// The version current at `time`, or `None` before the horizon.
    fn version_at(&self, time: u64) -> Option<u64> {
        let after = self.deltas.iter().take_while(|d| d.time <= time).count() as u64;
        let horizon_time = self.horizon.checked_sub(1).map(|i| self.deltas[i as usize].time);
        match horizon_time {
            Some(at) if after < self.horizon && at > time => None,
            _ => Some(after.max(self.horizon)),
        }
    }

    fn snapshot(&mut self) {
        let version = self.version();
        if version > 0 && self.snapshots.last() != Some(&version) {
            self.snapshots.push(version);
        }
    }
}

fn random_value(rng: &mut StdRng, depth: u32) -> Json {
    let keys = ["a", "b", "c", "x"];
    match rng.random_range(0..if depth > 2 { 4 } else { 7 }) {
        0 => json!(rng.random_range(-5..100)),
        1 => json!(format!("s{}", rng.random_range(0..20))),
        2 => Json::Null,
        3 => json!(rng.random_bool(0.5)),
        4 => Json::Array((0..rng.random_range(0..3)).map(|_| random_value(rng, depth + 1)).collect()),
        _ => {
            let mut map = Map::new();
            for _ in 0..rng.random_range(0..4) {
                map.insert(keys[rng.random_range(0..keys.len())].to_string(), random_value(rng, depth + 1));
            }
            Json::Object(map)
        }
    }
}

fn random_patch(rng: &mut StdRng) -> Json {
    let pointers = ["/a", "/b", "/x", "/a/b", "/a/0", "/a/-", "", "/c/a"];
    let ops: Vec<Json> = (0..rng.random_range(1..4))
        .map(|_| {
            let path = pointers[rng.random_range(0..pointers.len())];
            let from = pointers[rng.random_range(0..pointers.len())];
            match rng.random_range(0..6) {
                0 => json!({"op": "add", "path": path, "value": random_value(rng, 2)}),
                1 => json!({"op": "remove", "path": path}),
                2 => json!({"op": "replace", "path": path, "value": random_value(rng, 2)}),
                3 => json!({"op": "move", "from": from, "path": path}),
                4 => json!({"op": "copy", "from": from, "path": path}),
                _ => json!({"op": "test", "path": path, "value": random_value(rng, 3)}),
            }
        })
        .collect();
    Json::Array(ops)
}

fn text(reply: &Reply) -> String {
    match reply {
        Reply::Bulk(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        other => panic!("not a bulk string: {other:?}"),
    }
}

fn parsed(reply: &Reply) -> Json {
    serde_json::from_str(&text(reply)).unwrap()
}

fn new_harness(store: &std::sync::Arc<strata::engine::persist::Store>) -> Harness {
    let mut h = Harness::with_sinks(&[], vec![store.clone()]);
    assert_eq!(h.run(&["config", "set", "lake-snapshot-interval", &INTERVAL.to_string()]), Reply::Ok);
    h
}

/// How often a run did what it is meant to exercise: accepted writes, refused writes, reads below a
/// horizon, restarts with a horizon above 0.
#[derive(Default, Debug)]
struct Tally {
    accepted: u32,
    refused: u32,
    compacted_reads: u32,
    restarts_after_compaction: u32,
}

fn model_run(seed: u64, steps: usize, tally: &mut Tally) {
    use strata::engine::persist::{recovery, Fsync, Store};
    use strata::engine::{KeyHash, Keyspace, Limits};

    let dir = tempfile::tempdir().unwrap();
    let mut store = std::sync::Arc::new(Store::open(dir.path(), 16, Fsync::No).unwrap());
    let mut h = new_harness(&store);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut model = Model::default();
    let paths = ["/", "/a", "/a/b", "/c", "/a/b/c", "/d/e", "/x"];
    for step in 0..steps {
        h.advance_ms(rng.random_range(0..3));
        let now = h.now_ms();
        let context = format!("seed {seed} step {step}");
        match rng.random_range(0..20) {
            0..=10 => {
                let mode = ["replace", "merge", "patch"][rng.random_range(0..3)];
                let path = paths[rng.random_range(0..paths.len())];
                // The root stays an object mostly, so paths below it have somewhere to go.
                let body = match mode {
                    "patch" => random_patch(&mut rng),
                    _ if path == "/" && rng.random_bool(0.9) => json!({"a": random_value(&mut rng, 1), "c": random_value(&mut rng, 1)}),
                    _ => random_value(&mut rng, 0),
                };
                let meta = rng.random_bool(0.2).then(|| json!({ format!("m{}", rng.random_range(0..3)): rng.random_range(0..2) }));
                let mut command = vec!["lake.write".to_string(), "cat".into(), path.into(), mode.into(), body.to_string()];
                if let Some(meta) = &meta {
                    command.extend(["META".into(), meta.to_string()]);
                }
                let reply = h.run(&command);
                let empty = mode != "replace" && (body == json!({}) || body == json!([]));
                let exists = !model.deltas.is_empty() || !model.meta.is_empty();
                let applied =
                    if empty { Some(model.replay(model.version())) } else { apply(&model.replay(model.version()), mode, path, &body) };
                match applied {
                    None => {
                        tally.refused += 1;
                        assert!(matches!(reply, Reply::Error(_)), "{context}: {command:?} must fail, got {reply:?}");
                    }
                    Some(_) => {
                        tally.accepted += 1;
                        if !empty {
                            let time = now.max(model.deltas.last().map_or(0, |d| d.time));
                            model.deltas.push(Delta { mode, path: path.into(), body, time });
                            if model.version() - model.snapshots.last().copied().unwrap_or(0) >= INTERVAL {
                                model.snapshot();
                            }
                        }
                        if let Some(Json::Object(meta)) = meta {
                            for (k, v) in meta {
                                model.meta.insert(k, v);
                            }
                        }
                        let created = exists || !empty || !model.meta.is_empty();
                        let version = if created { model.version() as i64 } else { 0 };
                        assert_eq!(reply, Reply::Int(version), "{context}: {command:?}");
                    }
                }
            }
            11..=13 if model.version() > 0 => {
                let version = rng.random_range(0..=model.version() + 1);
                let reply = h.run(&["lake.read", "cat", "VERSION", &version.to_string()]);
                if version > model.version() || version < model.horizon {
                    tally.compacted_reads += u32::from(version < model.horizon);
                    assert!(matches!(reply, Reply::Error(_)), "{context}: version {version} {reply:?}");
                } else {
                    assert_eq!(parsed(&reply), model.replay(version), "{context}: version {version}");
                }
            }
            14 if model.version() > 0 => {
                let first = model.deltas[0].time;
                let time = rng.random_range(first.saturating_sub(3)..=now + 1);
                let reply = h.run(&["lake.read", "cat", "/a", "TIME", &time.to_string()]);
                match model.version_at(time) {
                    None => assert!(matches!(reply, Reply::Error(_)), "{context}: time {time} {reply:?}"),
                    Some(version) => {
                        let expected = model.replay(version).pointer("/a").cloned();
                        let got = (reply != Reply::Nil).then(|| parsed(&reply));
                        assert_eq!(got, expected, "{context}: time {time} (version {version})");
                    }
                }
            }
            15 if model.version() > model.horizon => {
                let v1 = rng.random_range(model.horizon..=model.version());
                let v2 = rng.random_range(model.horizon..=model.version());
                let diff = text(&h.run(&["lake.diff", "cat", &v1.to_string(), &v2.to_string()]));
                let mut doc = model.replay(v1);
                json_patch::patch(&mut doc, &serde_json::from_str::<json_patch::Patch>(&diff).unwrap()).unwrap();
                assert_eq!(doc, model.replay(v2), "{context}: diff {v1} {v2}");
            }
            16 if model.version() > 0 => {
                model.snapshot();
                assert_eq!(h.run(&["lake.snapshot", "cat"]), Reply::Int(model.version() as i64), "{context}");
            }
            17 if model.version() > 0 => {
                let keep = rng.random_range(0..3usize);
                h.run(&["lake.compact", "cat", "KEEP", &keep.to_string()]);
                if let Some(&horizon) = model.snapshots.iter().rev().nth(keep) {
                    model.horizon = horizon;
                    model.snapshots.retain(|&v| v >= horizon);
                }
            }
            _ => {
                let reply = h.run(&["lake.read", "cat"]);
                if model.version() > 0 || !model.meta.is_empty() {
                    assert_eq!(parsed(&reply), model.replay(model.version()), "{context}: current");
                    assert_eq!(parsed(&h.run(&["lake.meta", "cat"])), Json::Object(model.meta.clone()), "{context}: meta");
                    let Reply::Array(history) = h.run(&["lake.history", "cat"]) else { panic!() };
                    assert_eq!(history.len() as u64, model.version() - model.horizon, "{context}: history");
                } else {
                    assert_eq!(reply, Reply::Nil);
                }
            }
        }

        if step % 40 == 39 {
            store.flush();
            let rebuilt = Keyspace::new(16);
            recovery::load(&store, &rebuilt, &Limits::default(), now, &Default::default()).unwrap();
            let hash = KeyHash::of(b"cat");
            let shown = |keyspace: &Keyspace| keyspace.db(0).lock(hash).get(hash, b"cat", now).map(|e| format!("{:?}", e.value()));
            assert_eq!(shown(&rebuilt), shown(&h.shared.keyspace), "{context}: the store's catalog");
        }
        if step % 97 == 96 {
            tally.restarts_after_compaction += u32::from(model.horizon > 0);
            store.flush();
            let now = h.now_ms();
            drop(h);
            drop(store);
            store = std::sync::Arc::new(Store::open(dir.path(), 16, Fsync::No).unwrap());
            h = new_harness(&store);
            h.advance_ms(now + 1 - h.now_ms());
            recovery::load(&store, &h.shared.keyspace, &Limits::default(), h.now_ms(), &Default::default()).unwrap();
        }
    }
}

#[test]
fn random_sequences_match_the_model() {
    let mut tally = Tally::default();
    for seed in 0..40 {
        model_run(seed, 400, &mut tally);
    }
    assert!(tally.accepted > 3000 && tally.refused > 1000, "{tally:?}");
    assert!(tally.compacted_reads > 50 && tally.restarts_after_compaction > 50, "{tally:?}");
}

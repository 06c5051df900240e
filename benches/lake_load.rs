//! Load generator for JSON catalogs; prints operations/s and the p50/p99 round trip.
//!
//!   cargo bench --bench lake_load -- --port 7379 --test write --target strata [--clients 4]
//!       [--pipeline 1] [--ops 100000] [--catalogs 1000] [--versions 2000]
//!
//! Tests:
//! - `write`: small RFC 7396 merge patches to `catalogs` documents. `strata`: LAKE.WRITE ... MERGE;
//!   `redis`: what Redis users write without strata, a Lua script that GETs the document, decodes
//!   it (cjson), merges the patch, encodes it and SETs it back.
//! - `read`: the current 10 KB document (`strata`: LAKE.READ) beside GET of the same 10 KB as a
//!   string (`string`, on either server).
//! - `history`: LAKE.READ ... VERSION v at random past versions of a catalog with `versions`
//!   versions (one client, no pipeline: the p99 is a request's).
//!
//! `benches/lakes.sh` runs them against strata and a real redis-server.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

struct Options {
    port: u16,
    test: String,
    target: String,
    clients: usize,
    pipeline: usize,
    ops: usize,
    catalogs: usize,
    versions: usize,
}

fn options() -> Options {
    let mut options = Options {
        port: 7379,
        test: "write".into(),
        target: "strata".into(),
        clients: 4,
        pipeline: 1,
        ops: 100_000,
        catalogs: 1000,
        versions: 2000,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i + 1 < args.len() {
        let value = &args[i + 1];
        let number = || value.parse::<usize>().unwrap_or_else(|_| panic!("{}: not a number: {value}", args[i]));
        match args[i].as_str() {
            "--port" => options.port = number() as u16,
            "--test" => options.test = value.clone(),
            "--target" => options.target = value.clone(),
            "--clients" => options.clients = number().max(1),
            "--pipeline" => options.pipeline = number().max(1),
            "--ops" => options.ops = number(),
            "--catalogs" => options.catalogs = number().max(1),
            "--versions" => options.versions = number().max(1),
            // `cargo bench` passes `--bench`; anything else unknown is ignored too.
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    options
}

/// RFC 7396 in Lua over cjson, as a Redis user writes it.
const MERGE_SCRIPT: &str = r#"
local function merge(target, patch)
  if type(patch) ~= 'table' or patch[1] ~= nil then return patch end
  if type(target) ~= 'table' then target = {} end
  for k, v in pairs(patch) do
    if v == cjson.null then target[k] = nil else target[k] = merge(target[k], v) end
  end
  return target
end
local doc = redis.call('GET', KEYS[1])
doc = doc and cjson.decode(doc) or {}
redis.call('SET', KEYS[1], cjson.encode(merge(doc, cjson.decode(ARGV[1]))))
return 1
"#;

fn connect(port: u16) -> redis::Connection {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("client");
    client.get_connection().expect("connection")
}

/// A 10 KB JSON document.
fn document() -> String {
    let fields: Vec<String> = (0..100)
        .map(|i| format!(r#""field{i:03}":{{"name":"item {i}","count":{i},"tags":["a","b","c"],"pad":"{}"}}"#, "x".repeat(32)))
        .collect();
    format!("{{{}}}", fields.join(","))
}

/// One request of `test` for client `client`.
fn request(options: &Options, rng: &mut rand::rngs::StdRng, sha: &str) -> redis::Cmd {
    match (options.test.as_str(), options.target.as_str()) {
        ("write", target) => {
            let catalog = format!("bench:cat:{}", rng.random_range(0..options.catalogs));
            let patch = format!(
                r#"{{"f{}":{},"user":{{"seen":{}}}}}"#,
                rng.random_range(0..20),
                rng.random_range(0..1000),
                rng.random_range(0..1000)
            );
            let mut cmd = if target == "redis" { redis::cmd("EVALSHA") } else { redis::cmd("LAKE.WRITE") };
            if target == "redis" {
                cmd.arg(sha).arg(1).arg(catalog).arg(patch);
            } else {
                cmd.arg(catalog).arg("/").arg("MERGE").arg(patch);
            }
            cmd
        }
        ("read", "string") => redis::cmd("GET").arg("bench:string").clone(),
        ("read", _) => redis::cmd("LAKE.READ").arg("bench:doc").clone(),
        _ => redis::cmd("LAKE.READ").arg("bench:history").arg("VERSION").arg(rng.random_range(0..options.versions)).clone(),
    }
}

/// What a test needs before it runs: the script loaded, the documents written.
fn prepare(options: &Options, con: &mut redis::Connection) -> String {
    let doc = document();
    match options.test.as_str() {
        "read" if options.target == "string" => {
            let _: () = redis::cmd("SET").arg("bench:string").arg(&doc).query(con).expect("SET");
        }
        "read" => {
            let _: i64 = redis::cmd("LAKE.WRITE").arg("bench:doc").arg("/").arg("REPLACE").arg(&doc).query(con).expect("LAKE.WRITE");
        }
        "history" => {
            let _: i64 = redis::cmd("DEL").arg("bench:history").query(con).expect("DEL");
            let mut pipe = redis::pipe();
            for v in 1..options.versions {
                let patch = format!(r#"{{"field{:03}":{{"count":{v}}}}}"#, v % 100);
                let mode = if v == 1 { "REPLACE" } else { "MERGE" };
                pipe.cmd("LAKE.WRITE").arg("bench:history").arg("/").arg(mode).arg(if v == 1 { doc.clone() } else { patch }).ignore();
            }
            let _: () = pipe.query(con).expect("history");
        }
        _ => {}
    }
    redis::cmd("SCRIPT").arg("LOAD").arg(MERGE_SCRIPT).query(con).unwrap_or_default()
}

fn main() {
    let options = std::sync::Arc::new(options());
    let sha = prepare(&options, &mut connect(options.port));
    let start = Instant::now();
    let clients: Vec<_> = (0..options.clients)
        .map(|c| {
            let (options, sha) = (options.clone(), sha.clone());
            std::thread::spawn(move || {
                let mut con = connect(options.port);
                let mut rng = rand::rngs::StdRng::seed_from_u64(c as u64);
                let share = options.ops / options.clients;
                let mut latencies = Vec::with_capacity(share / options.pipeline + 1);
                let mut done = 0;
                while done < share {
                    let mut pipe = redis::pipe();
                    for _ in 0..options.pipeline.min(share - done) {
                        pipe.add_command(request(&options, &mut rng, &sha));
                        done += 1;
                    }
                    let sent = Instant::now();
                    let replies: Vec<redis::Value> = pipe.query(&mut con).expect("request");
                    latencies.push(sent.elapsed().as_micros() as u64);
                    assert!(replies.iter().all(|r| !matches!(r, redis::Value::Nil | redis::Value::ServerError(_))), "{replies:?}");
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<u64> = clients.into_iter().flat_map(|c| c.join().expect("client")).collect();
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    let percentile = |p: f64| latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1))).copied();
    let ms = |us: Option<u64>| us.map_or(f64::NAN, |us| us as f64 / 1000.0);
    let ops = options.ops / options.clients * options.clients;
    println!(
        "{} {} clients={} pipeline={} ops={} ops/s={:.0} p50_ms={:.3} p99_ms={:.3} ({:.1?})",
        options.test,
        options.target,
        options.clients,
        options.pipeline,
        ops,
        ops as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        ms(percentile(0.50)),
        ms(percentile(0.99)),
        Duration::from_secs_f64(elapsed.as_secs_f64()),
    );
}

//! Job-queue libraries run their logic as Lua scripts: these tests drive strata with scripts shaped
//! like theirs, through the redis crate's Script helper (EVALSHA with a NOSCRIPT fallback), and
//! check the resulting data.
//!
//! - A BullMQ-style queue: adding a job (cjson-decoded data, cmsgpack-packed options, an id
//!   counter, a job hash, the wait list or the delayed set, an events stream trimmed with `~`),
//!   moving it to active, and completing it.
//! - A Sidekiq-style scheduled-set poller: pop every job whose time has come from a sorted set and
//!   push it onto its queue, one atomic step per job.
//!
//! Each scenario also runs against a real redis-server, so the expectations are Redis's.

mod common;

use common::{bulk, ok, Server};
use redis::Value;

/// Adds a job: KEYS wait, delayed, id counter, events, job prefix; ARGV name, JSON data,
/// msgpack-able options as JSON, timestamp. Returns the new job id.
const ADD_JOB: &str = r#"
local waitKey, delayedKey, idKey, eventsKey, prefix = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local name, data, timestamp = ARGV[1], ARGV[2], tonumber(ARGV[4])
local opts = cjson.decode(ARGV[3])
-- Validate the payload the way BullMQ does before storing it.
local decoded = cjson.decode(data)
if type(decoded) ~= 'table' then
  return redis.error_reply('ERR job data must be an object')
end
local jobId = tostring(redis.call('INCR', idKey))
local jobKey = prefix .. jobId
local packedOpts = cmsgpack.pack(opts)
redis.call('HSET', jobKey, 'name', name, 'data', data, 'opts', packedOpts, 'timestamp', timestamp,
  'delay', opts.delay or 0, 'attemptsMade', 0)
local delay = opts.delay or 0
if delay > 0 then
  redis.call('ZADD', delayedKey, timestamp + delay, jobId)
  redis.call('XADD', eventsKey, 'MAXLEN', '~', 10000, '*', 'event', 'delayed', 'jobId', jobId, 'delay', delay)
else
  if opts.lifo then
    redis.call('RPUSH', waitKey, jobId)
  else
    redis.call('LPUSH', waitKey, jobId)
  end
  redis.call('XADD', eventsKey, 'MAXLEN', '~', 10000, '*', 'event', 'waiting', 'jobId', jobId)
end
return jobId
"#;

/// Moves the next waiting job to active and locks it: KEYS wait, active, events, job prefix;
/// ARGV token, lock duration ms, timestamp. Returns {id, name, data, attempts from the packed opts}.
const MOVE_TO_ACTIVE: &str = r#"
local jobId = redis.call('RPOPLPUSH', KEYS[1], KEYS[2])
if not jobId then
  return false
end
local jobKey = KEYS[4] .. jobId
redis.call('SET', jobKey .. ':lock', ARGV[1], 'PX', ARGV[2])
redis.call('HSET', jobKey, 'processedOn', ARGV[3])
redis.call('HINCRBY', jobKey, 'attemptsMade', 1)
redis.call('XADD', KEYS[3], '*', 'event', 'active', 'jobId', jobId, 'prev', 'waiting')
local job = redis.call('HMGET', jobKey, 'name', 'data', 'opts')
local opts = cmsgpack.unpack(job[3])
return {jobId, job[1], job[2], opts.attempts or 1}
"#;

/// Completes an active job: KEYS active, completed, events, job prefix; ARGV id, token, return
/// value (JSON), timestamp. Returns 0, or -2 when the lock is not the caller's.
const MOVE_TO_COMPLETED: &str = r#"
local jobKey = KEYS[4] .. ARGV[1]
if redis.call('GET', jobKey .. ':lock') ~= ARGV[2] then
  return -2
end
redis.call('DEL', jobKey .. ':lock')
redis.call('LREM', KEYS[1], -1, ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('HSET', jobKey, 'returnvalue', ARGV[3], 'finishedOn', ARGV[4])
local result = cjson.decode(ARGV[3])
redis.call('XADD', KEYS[3], '*', 'event', 'completed', 'jobId', ARGV[1], 'returnvalue', cjson.encode(result))
return 0
"#;

fn hget(con: &mut redis::Connection, key: &str, field: &str) -> Value {
    ok(con, &["HGET", key, field])
}

#[test]
fn a_bullmq_style_job_goes_from_added_to_active_to_completed() {
    bullmq_scenario(&Server::start());
    bullmq_scenario(&Server::start_redis());
}

fn bullmq_scenario(server: &Server) {
    let mut con = server.con();
    let add = redis::Script::new(ADD_JOB);
    let activate = redis::Script::new(MOVE_TO_ACTIVE);
    let complete = redis::Script::new(MOVE_TO_COMPLETED);
    let keys = ["bull:mail:wait", "bull:mail:delayed", "bull:mail:id", "bull:mail:events", "bull:mail:"];

    let mut invocation = add.prepare_invoke();
    for key in keys {
        invocation.key(key);
    }
    let id: String =
        invocation.arg("welcome").arg(r#"{"to":"ada@example.com","n":1}"#).arg(r#"{"attempts":3}"#).arg(1000).invoke(&mut con).unwrap();
    assert_eq!(id, "1");
    let mut invocation = add.prepare_invoke();
    for key in keys {
        invocation.key(key);
    }
    let later: String =
        invocation.arg("reminder").arg(r#"{"to":"bob@example.com"}"#).arg(r#"{"delay":5000}"#).arg(1000).invoke(&mut con).unwrap();
    assert_eq!(later, "2");
    let mut invocation = add.prepare_invoke();
    for key in keys {
        invocation.key(key);
    }
    let refused = invocation.arg("bad").arg("42").arg("{}").arg(1000).invoke::<String>(&mut con).unwrap_err();
    assert_eq!(common::error_line(refused), "ERR job data must be an object");

    assert_eq!(ok(&mut con, &["LRANGE", "bull:mail:wait", "0", "-1"]), Value::Array(vec![bulk("1")]));
    assert_eq!(ok(&mut con, &["ZRANGE", "bull:mail:delayed", "0", "-1", "WITHSCORES"]), Value::Array(vec![bulk("2"), bulk("6000")]));
    assert_eq!(hget(&mut con, "bull:mail:1", "name"), bulk("welcome"));
    assert_eq!(hget(&mut con, "bull:mail:1", "attemptsMade"), bulk("0"));

    let active: (String, String, String, i64) = activate
        .key("bull:mail:wait")
        .key("bull:mail:active")
        .key("bull:mail:events")
        .key("bull:mail:")
        .arg("token-1")
        .arg(30000)
        .arg(1500)
        .invoke(&mut con)
        .unwrap();
    assert_eq!(active, ("1".into(), "welcome".into(), r#"{"to":"ada@example.com","n":1}"#.into(), 3));
    assert_eq!(ok(&mut con, &["LRANGE", "bull:mail:active", "0", "-1"]), Value::Array(vec![bulk("1")]));
    assert_eq!(hget(&mut con, "bull:mail:1", "attemptsMade"), bulk("1"));
    let nothing: Value = activate
        .key("bull:mail:wait")
        .key("bull:mail:active")
        .key("bull:mail:events")
        .key("bull:mail:")
        .arg("token-2")
        .arg(30000)
        .arg(1600)
        .invoke(&mut con)
        .unwrap();
    assert_eq!(nothing, Value::Nil);

    let wrong_lock: i64 = complete
        .key("bull:mail:active")
        .key("bull:mail:completed")
        .key("bull:mail:events")
        .key("bull:mail:")
        .arg("1")
        .arg("not-mine")
        .arg(r#"{"sent":true}"#)
        .arg(2000)
        .invoke(&mut con)
        .unwrap();
    assert_eq!(wrong_lock, -2);
    let done: i64 = complete
        .key("bull:mail:active")
        .key("bull:mail:completed")
        .key("bull:mail:events")
        .key("bull:mail:")
        .arg("1")
        .arg("token-1")
        .arg(r#"{"sent":true}"#)
        .arg(2000)
        .invoke(&mut con)
        .unwrap();
    assert_eq!(done, 0);
    assert_eq!(ok(&mut con, &["LLEN", "bull:mail:active"]), Value::Int(0));
    assert_eq!(ok(&mut con, &["ZSCORE", "bull:mail:completed", "1"]), bulk("2000"));
    assert_eq!(hget(&mut con, "bull:mail:1", "returnvalue"), bulk(r#"{"sent":true}"#));
    assert_eq!(ok(&mut con, &["EXISTS", "bull:mail:1:lock"]), Value::Int(0));

    // The events stream tells the whole story, in order.
    let Value::Array(events) = ok(&mut con, &["XRANGE", "bull:mail:events", "-", "+"]) else { panic!("XRANGE") };
    let names: Vec<Value> = events
        .iter()
        .map(|entry| {
            let Value::Array(entry) = entry else { panic!("entry") };
            let Value::Array(fields) = &entry[1] else { panic!("fields") };
            fields[1].clone()
        })
        .collect();
    assert_eq!(names, vec![bulk("waiting"), bulk("delayed"), bulk("active"), bulk("completed")]);
    let Value::Array(last) = &events[3] else { panic!("entry") };
    let Value::Array(fields) = &last[1] else { panic!("fields") };
    assert_eq!(fields[5], bulk(r#"{"sent":true}"#));
}

/// Sidekiq's scheduled-set poller (Sidekiq::Scheduled::Enq): atomically pop the first job whose
/// time has come.
const ZPOPBYSCORE: &str = r#"
local key, now = KEYS[1], ARGV[1]
local jobs = redis.call("zrange", key, "-inf", now, "byscore", "limit", 0, 1)
if jobs[1] then
  redis.call("zrem", key, jobs[1])
  return jobs[1]
end
"#;

#[test]
fn a_sidekiq_style_poller_enqueues_only_due_jobs_each_exactly_once() {
    sidekiq_scenario(&Server::start());
    sidekiq_scenario(&Server::start_redis());
}

fn sidekiq_scenario(server: &Server) {
    let mut setup = server.con();
    for (at, job) in [(100, "a"), (200, "b"), (300, "c"), (900, "later")] {
        let payload = format!(r#"{{"class":"Mailer","jid":"{job}","queue":"default"}}"#);
        ok(&mut setup, &["ZADD", "schedule", &at.to_string(), &payload]);
    }
    // Two pollers race for the same due jobs, as two Sidekiq processes would.
    let pollers: Vec<_> = (0..2)
        .map(|_| {
            let mut con = server.con();
            std::thread::spawn(move || {
                let pop = redis::Script::new(ZPOPBYSCORE);
                let mut moved = Vec::new();
                while let Some(job) = pop.key("schedule").arg(500).invoke::<Option<String>>(&mut con).unwrap() {
                    ok(&mut con, &["LPUSH", "queue:default", &job]);
                    moved.push(job);
                }
                moved
            })
        })
        .collect();
    let mut moved: Vec<String> = pollers.into_iter().flat_map(|p| p.join().unwrap()).collect();
    moved.sort();
    assert_eq!(moved.len(), 3, "each due job is enqueued exactly once: {moved:?}");
    assert_eq!(ok(&mut setup, &["LLEN", "queue:default"]), Value::Int(3));
    assert_eq!(ok(&mut setup, &["ZCARD", "schedule"]), Value::Int(1));
    let Value::Array(left) = ok(&mut setup, &["ZRANGE", "schedule", "0", "-1"]) else { panic!("ZRANGE") };
    assert_eq!(left, vec![bulk(r#"{"class":"Mailer","jid":"later","queue":"default"}"#)]);
}

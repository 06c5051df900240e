//! ID.NEXT and ID.PARSE: snowflake IDs (41 bits of milliseconds, 10 of node, 12 of sequence).

mod common;

use std::collections::HashSet;

use common::{as_int, as_pairs, err, int, ok, Server};
use redis::Value;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn ints(value: &Value) -> Vec<i64> {
    let Value::Array(items) = value else { panic!("expected an array, got {value:?}") };
    items.iter().map(as_int).collect()
}

#[test]
fn next_strictly_increases() {
    let strata = Server::start();
    for protocol in [2, 3] {
        let mut a = strata.con_proto(protocol);
        let mut b = strata.con_proto(protocol);
        let mut last = 0;
        for i in 0..2000 {
            // Alternate connections: one sequence for the whole server.
            let con = if i % 2 == 0 { &mut a } else { &mut b };
            let id = ok(con, &["ID.NEXT"]);
            assert!(matches!(id, Value::Int(_)), "ID.NEXT answers an integer: {id:?}");
            let id = as_int(&id);
            assert!(id > last, "{id} after {last}");
            last = id;
        }
        let batch = ints(&ok(&mut a, &["ID.NEXT", "COUNT", "5000"]));
        assert_eq!(batch.len(), 5000);
        assert!(batch[0] > last);
        assert!(batch.windows(2).all(|w| w[1] > w[0]), "a COUNT batch increases");
        let after = as_int(&ok(&mut b, &["ID.NEXT"]));
        assert!(after > *batch.last().unwrap());
        // COUNT 1 is still an array.
        assert_eq!(ints(&ok(&mut a, &["ID.NEXT", "COUNT", "1"])).len(), 1);
    }
}

#[test]
fn namespaces_have_their_own_sequences() {
    let strata = Server::start();
    let mut con = strata.con();
    let orders = ints(&ok(&mut con, &["ID.NEXT", "orders", "COUNT", "3"]));
    let users = as_int(&ok(&mut con, &["ID.NEXT", "users"]));
    let more_orders = as_int(&ok(&mut con, &["ID.NEXT", "orders"]));
    assert!(orders.windows(2).all(|w| w[1] > w[0]));
    assert!(more_orders > orders[2]);
    // A new namespace starts from the clock, not after another namespace's IDs.
    let parts = as_pairs(&ok(&mut con, &["ID.PARSE", &users.to_string()]));
    assert_eq!(parts[2], ("sequence".to_string(), int(0)));
}

#[test]
fn concurrent_clients_never_get_the_same_id() {
    let strata = Server::start();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let mut con = strata.con();
            std::thread::spawn(move || {
                let mut ids = Vec::new();
                for _ in 0..300 {
                    ids.push(as_int(&ok(&mut con, &["ID.NEXT"])));
                    ids.extend(ints(&ok(&mut con, &["ID.NEXT", "COUNT", "10"])));
                }
                ids
            })
        })
        .collect();
    let mut all = HashSet::new();
    for handle in handles {
        let ids = handle.join().unwrap();
        assert!(ids.windows(2).all(|w| w[1] > w[0]), "each client sees increasing IDs");
        for id in ids {
            assert!(all.insert(id), "duplicate ID {id}");
        }
    }
    assert_eq!(all.len(), 4 * 300 * 11);
}

#[test]
fn parse_splits_time_node_and_sequence() {
    let strata = Server::start_with(&["--node-id", "7"]);
    for protocol in [2, 3] {
        let mut con = strata.con_proto(protocol);
        let before = now_ms();
        let ids = ints(&ok(&mut con, &["ID.NEXT", "COUNT", "3"]));
        let after = now_ms();
        let reply = ok(&mut con, &["ID.PARSE", &ids[0].to_string()]);
        if protocol == 3 {
            assert!(matches!(reply, Value::Map(_)), "RESP3 map: {reply:?}");
        } else {
            assert!(matches!(reply, Value::Array(_)), "RESP2 flat array: {reply:?}");
        }
        let parts = as_pairs(&reply);
        let names: Vec<&str> = parts.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["timestamp", "node", "sequence"]);
        let timestamp = as_int(&parts[0].1);
        assert!((before..=after).contains(&timestamp), "{before} <= {timestamp} <= {after}");
        assert_eq!(parts[1].1, int(7));
        let first_sequence = as_int(&parts[2].1);
        let next = as_pairs(&ok(&mut con, &["ID.PARSE", &ids[1].to_string()]));
        if as_int(&next[0].1) == timestamp {
            assert_eq!(as_int(&next[2].1), first_sequence + 1, "the same millisecond counts up the sequence");
        }
    }
    // The node id can change at run time.
    let mut con = strata.con();
    ok(&mut con, &["CONFIG", "SET", "node-id", "1023"]);
    let id = as_int(&ok(&mut con, &["ID.NEXT"]));
    assert_eq!(as_pairs(&ok(&mut con, &["ID.PARSE", &id.to_string()]))[1].1, int(1023));
    assert!(common::q(&mut con, &["CONFIG", "SET", "node-id", "1024"]).is_err(), "node ids have 10 bits");
    // Known values: the epoch is 2024-01-01T00:00:00Z.
    let parts = as_pairs(&ok(&mut con, &["ID.PARSE", "0"]));
    assert_eq!(parts[0].1, int(1_704_067_200_000));
    let id = (1000_i64 << 22) | (5 << 12) | 42;
    let parts = as_pairs(&ok(&mut con, &["ID.PARSE", &id.to_string()]));
    assert_eq!(parts.into_iter().map(|(_, v)| v).collect::<Vec<_>>(), [int(1_704_067_201_000), int(5), int(42)]);
}

#[test]
fn id_errors() {
    let strata = Server::start();
    let mut con = strata.con();
    assert_eq!(err(&mut con, &["ID.NEXT", "COUNT", "0"]), "ERR COUNT must be between 1 and 100000");
    assert_eq!(err(&mut con, &["ID.NEXT", "COUNT", "100001"]), "ERR COUNT must be between 1 and 100000");
    assert_eq!(err(&mut con, &["ID.NEXT", "COUNT", "x"]), "ERR value is not an integer or out of range");
    assert_eq!(err(&mut con, &["ID.NEXT", "a", "b"]), "ERR syntax error");
    assert_eq!(err(&mut con, &["ID.PARSE", "abc"]), "ERR value is not an integer or out of range");
    assert_eq!(err(&mut con, &["ID.PARSE", "-1"]), "ERR invalid snowflake ID");
    assert_eq!(err(&mut con, &["ID.PARSE"]), "ERR wrong number of arguments for 'id.parse' command");
}

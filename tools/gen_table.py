"""Prints command rows with Redis's own arity, flags, key positions and ACL categories, and their docs.

Usage: python3 tools/gen_table.py PORT [MODULE ...]  (against a running redis-server 7.x)
Only used to draft rows: the `Command::new(...)` lines go to the end of src/commands/<module>.rs
(the family's COMMANDS table), the `doc(...)` lines to src/commands/docs.rs; both are then
maintained by hand. Only the ACL categories that the flags do not imply are printed (`.acl(...)`),
as the server derives the others the way Redis does.
"""
import sys
import redis

COMMANDS = {
    "strings": "get set setnx setex psetex getset getdel getex mget mset msetnx append strlen incr decr incrby decrby incrbyfloat getrange substr setrange lcs",
    "keys": "del unlink exists type rename renamenx copy move keys scan randomkey touch expire pexpire expireat pexpireat ttl pttl expiretime pexpiretime persist object",
    "connection": "ping echo hello auth select quit reset client",
    "server": "dbsize flushdb flushall swapdb time lastsave debug monitor slowlog shutdown wait",
    "info": "info",
    "config_cmd": "config",
    "introspection": "command",
    "lists": "lpush rpush lpushx rpushx lpop rpop llen lrange lindex lset linsert lrem ltrim lpos lmove rpoplpush lmpop",
    "hashes": "hset hsetnx hget hmset hmget hdel hexists hlen hkeys hvals hgetall hincrby hincrbyfloat hstrlen hrandfield hscan",
    "sets": "sadd srem smembers sismember smismember scard spop srandmember smove sinter sinterstore sunion sunionstore sdiff sdiffstore sintercard sscan",
    "pubsub": "subscribe unsubscribe psubscribe punsubscribe publish pubsub ssubscribe sunsubscribe spublish",
    "scripting": "eval evalsha eval_ro evalsha_ro script function fcall fcall_ro",
    "zsets": "zadd zincrby zrem zcard zscore zmscore zrank zrevrank zrange zrangebyscore zrevrangebyscore zrangebylex zrevrangebylex zrevrange zrangestore zcount zlexcount zpopmin zpopmax zmpop zremrangebyrank zremrangebyscore zremrangebylex zunion zunionstore zinter zinterstore zdiff zdiffstore zintercard zrandmember zscan",
    "bitmaps": "setbit getbit bitcount bitpos bitop bitfield bitfield_ro",
    "hyperloglog": "pfadd pfcount pfmerge pfdebug pfselftest",
    "geo": "geoadd geodist geohash geopos georadius georadius_ro georadiusbymember georadiusbymember_ro geosearch geosearchstore",
    "sort": "sort sort_ro",
    "access": "acl",
}
# Only print the modules named after the port (all when none are named).
ONLY = sys.argv[2:]
FLAGS = {"write": "WRITE", "readonly": "READONLY", "denyoom": "DENYOOM", "admin": "ADMIN", "pubsub": "PUBSUB",
         "noscript": "NOSCRIPT", "blocking": "BLOCKING", "loading": "LOADING", "stale": "STALE",
         "skip_monitor": "SKIP_MONITOR", "skip_slowlog": "SKIP_SLOWLOG", "fast": "FAST", "no_auth": "NO_AUTH",
         "may_replicate": "MAY_REPLICATE", "no_mandatory_keys": "NO_MANDATORY_KEYS", "allow_busy": "ALLOW_BUSY", "no_multi": "NO_MULTI"}

conn = redis.Connection(port=int(sys.argv[1]), protocol=2)
conn.connect()


def raw(*args):
    conn.send_command(*args)
    return conn.read_response()


def s(x):
    return x.decode() if isinstance(x, bytes) else x

def implied(flags, named):
    """The categories Redis's setImplicitACLCategories adds for these flags."""
    out = set()
    if "write" in flags: out.add("@write")
    if "readonly" in flags and "@scripting" not in named: out.add("@read")
    if "admin" in flags: out |= {"@admin", "@dangerous"}
    if "pubsub" in flags: out.add("@pubsub")
    if "fast" in flags: out.add("@fast")
    if "blocking" in flags: out.add("@blocking")
    if "@fast" not in out: out.add("@slow")
    return out


DOCS = []


def row(info, docs, module, handler, indent="    "):
    name, arity, flags, first, last, step, acl = s(info[0]), info[1], [s(f) for f in info[2]], info[3], info[4], info[5], [s(a) for a in info[6]]
    fl = " | ".join(FLAGS[f] for f in flags if f in FLAGS)
    d = dict(zip([s(x) for x in docs[0::2]], docs[1::2]))
    summary = s(d.get("summary", "")).replace('"', '\\"')
    DOCS.append(f'{indent}doc("{name}", "{s(d.get("group", "generic"))}", "{s(d.get("since", ""))}", "{summary}"),')
    line = f'{indent}Command::new("{name}", {arity}, {handler})'
    if fl:
        line += f".flags({fl})"
    if (first, last, step) != (0, 0, 0):
        line += f".keys({first}, {last}, {step})"
    extra = [a for a in acl if a not in implied(flags, acl)]
    if extra:
        line += ".acl(" + " | ".join("acl::" + a[1:].upper() for a in extra) + ")"
    return line + ","

out = []
for module, names in COMMANDS.items():
    if ONLY and module not in ONLY:
        continue
    for name in names.split():
        info = raw("COMMAND", "INFO", name)[0]
        docs = raw("COMMAND", "DOCS", name)
        d = docs[1]
        subs = info[9]
        if subs:
            dd = dict(zip([s(x) for x in d[0::2]], d[1::2]))
            subdocs = dd.get(b"subcommands") or dd.get("subcommands") or []
            subdocs = dict(zip([s(x) for x in subdocs[0::2]], subdocs[1::2]))
            print(f"// {name} subcommands")
            for sub in sorted(subs, key=lambda x: s(x[0])):
                full = s(sub[0])
                subname = full.split("|")[1].replace("-", "_")
                print(row(sub, subdocs.get(full, []), module, f"{name}_{subname}"))
        print(row(info, d, module, name.replace(".", "_")))
print("// docs")
print("\n".join(DOCS))

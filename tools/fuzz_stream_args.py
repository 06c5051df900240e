"""Random stream commands with arguments drawn from a word pool, for tests/coll_scripts (usage: SEED COUNT)."""
import random, sys
r = random.Random(int(sys.argv[1])); n = int(sys.argv[2])
cmds = ["xadd","xlen","xrange","xrevrange","xdel","xtrim","xread","xreadgroup","xgroup create","xgroup setid","xgroup destroy","xgroup createconsumer","xgroup delconsumer","xack","xpending","xclaim","xautoclaim","xinfo stream","xinfo groups","xsetid"]
pool = ["s","s","str","nokey","g","g","c","c2","0","1","-1","1-1","2-0","3-5","5","-","+","(1-1","(","$",">","maxlen","minid","~","=","limit","nomkstream","count","streams","group","noack","mkstream","entriesread","idle","time","retrycount","force","justid","lastid","full","entriesadded","maxdeletedid","x","18446744073709551615","9223372036854775808","1-*","f","v"]
print("xadd s 1-1 a 1\nxadd s 2-1 b 2\nxadd s 3-1 c 3\nxgroup create s g 0\nxreadgroup group g c count 2 streams s >\nset str x")
for _ in range(n):
    c = r.choice(cmds)
    args = [r.choice(pool) for _ in range(r.randint(0, 8))]
    if c in ("xread","xreadgroup") and r.random() < 0.5:
        args = args[:r.randint(0,3)] + ["streams"] + args[3:]
    line = " ".join([c] + args)
    print(line)

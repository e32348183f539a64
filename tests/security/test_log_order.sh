#!/usr/bin/env bash
# The order of voting appears nowhere.  1,000 distinct ballots trickle into a
# venue client one line at a time (a scanner on --input -), as people hand
# in their forms; afterwards the shard's stored log is opened with the
# recount bundle (pingyi log) and each logged ballot is matched to its input
# line by content.  Before protocol v2 the log held them in the order of
# input (rank correlation 1.0).  Now the client mixes them in a pool and the
# worker stores them by (venue, random ballot id): the storage order must be
# unrelated to the input order.
#
# The bound: for n independent random orders, Spearman's rho has mean 0 and
# standard deviation 1/sqrt(n-1) = 0.032 at n = 1,000; |rho| < 0.15 is
# 4.7 standard deviations (a false alarm about once in 400,000 runs), while
# any order that follows the input even in blocks of k sits far above it.
source "$(dirname "$0")/../integration/lib.sh"

N=1000
setup_deploy "$(drill_definition)" 1
start_broker
start_worker 1 0-7
wait_workers 1

python3 - "$SRC/examples/2022-district-review.json" "$N" "$WORK/input.csv" "$WORK/order.json" <<'PY'
import json, random, sys
defn = json.load(open(sys.argv[1], encoding="utf-8"))
n = int(sys.argv[2])
venue = next(v for v in defn["venues"] if v["id"] == "v01")
items = [i["id"] for i in defn["items"]]
labels = [g["label"] for g in defn["grades"]]
cats = [c["id"] for c in defn["categories"]]
cells = [(s, i) for s in venue["subjects"] for i in items]
rnd = random.Random(20261206)
seen, lines, keys = set(), [], []
while len(lines) < n:
    cat = rnd.choice(cats)
    marks = [rnd.choice(labels) for _ in cells]
    key = json.dumps([cat, marks], ensure_ascii=False)
    if key in seen:
        continue
    seen.add(key)
    keys.append(key)
    lines.append(",".join([cat] + marks))
with open(sys.argv[3], "w", encoding="utf-8") as f:
    f.write("category," + ",".join(f"{s}:{i}" for s, i in cells) + "\n")
    f.write("\n".join(lines) + "\n")
json.dump({"keys": keys, "subjects": venue["subjects"]}, open(sys.argv[4], "w"), ensure_ascii=False)
PY

# one line every few milliseconds, as a scanner would deliver them
python3 - "$WORK/input.csv" <<'PY' | "$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v01 --broker "$ENDPOINT" \
  --input - --issued "$N" --collected "$N" --close --outbox "$WORK/outbox" --json >"$WORK/client.json" 2>"$WORK/client.log" \
  || fail "client failed: $(tail -5 "$WORK/client.log")"
import sys, time
for i, line in enumerate(open(sys.argv[1], encoding="utf-8")):
    sys.stdout.write(line)
    sys.stdout.flush()
    time.sleep(0.003)
PY
python3 - "$WORK/client.json" "$N" <<'PY' || fail "client summary"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["accepted"] == int(sys.argv[2]), s
PY

"$BIN/pingyi" log --deploy "$WORK/deploy" --data "$WORK/data" >"$WORK/log.jsonl" || fail "pingyi log failed"
python3 - "$WORK/log.jsonl" "$WORK/order.json" "$N" <<'PY' || fail "the stored order follows the order of input"
import json, sys
want = json.load(open(sys.argv[2]))
index = {k: i for i, k in enumerate(want["keys"])}
n = int(sys.argv[3])
pos = []
for line in open(sys.argv[1], encoding="utf-8"):
    e = json.loads(line)
    if e["venue"] != "v01":
        continue
    marks = [m for _, ms in e["cells"] for m in ms]
    key = json.dumps([e["category"], marks], ensure_ascii=False)
    assert key in index, "a logged ballot that was never input: %s" % key[:80]
    pos.append(index[key])
assert sorted(pos) == list(range(n)), "log holds %d of the %d ballots, or some twice" % (len(pos), n)
# Spearman's rho between storage position and input position
m = len(pos)
d2 = sum((i - p) ** 2 for i, p in enumerate(pos))
rho = 1 - 6 * d2 / (m * (m * m - 1))
print("storage order vs input order: Spearman rho = %.4f over %d ballots (bound 0.15)" % (rho, m))
assert abs(rho) < 0.15, rho
PY
pass "the stored log of $N trickled ballots does not follow the order of voting"

#!/usr/bin/env bash
# pingyi-agg live: broker, two workers (8 shards), the aggregator serving
# HTTP on loopback; 3 venues x 3,000 generated ballots. The summary reaches
# 9,000 accepted and final; GET /api/v1/tally equals the generators'
# expectations counter for counter; the city row equals the sum of the
# expected overall-item counts; `pingyi query --agg` against it prints what
# `pingyi query --data` prints. Then a worker is killed -9: within
# stale-ms + interval its shards are marked stale and the API still answers
# 200 with the old figures; restarted, they are fresh again. Exact 404 and
# 400 bodies; SIGTERM exits 0.
source "$(dirname "$0")/lib.sh"

# the snapshot time differs by source (--data: when the shards were read;
# --agg: the aggregator's merge): everything else is the same bytes
same_view() {
  cmp -s <(sed 's/快照时间\([ ,]\)[0-9T:+-]*/快照时间\1T/' "$1") <(sed 's/快照时间\([ ,]\)[0-9T:+-]*/快照时间\1T/' "$2")
}

N=${PINGYI_IT_AGG_BALLOTS:-3000}
INTERVAL=500
STALE=2000
setup_deploy "$(drill_definition)" 2
start_broker
start_worker 1 0-3
start_worker 2 4-7
wait_workers 2

HTTP_PORT=$(free_port)
AGG="http://127.0.0.1:$HTTP_PORT"
"$BIN/pingyi-agg" --deploy "$WORK/deploy" --broker "$ENDPOINT" --http "127.0.0.1:$HTTP_PORT" \
  --interval-ms $INTERVAL --stale-ms $STALE --data "$WORK/agg-data" >>"$WORK/agg.log" 2>&1 &
PIDS[agg]=$!
wait_for_log "$WORK/agg.log" "listening on" 10

# get.py URL [OUT]: print the status; the body to OUT (or stdout)
cat >"$WORK/get.py" <<'PY'
import sys, urllib.request, urllib.error
url, out = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
try:
    with urllib.request.urlopen(url, timeout=10) as r:
        status, body, ctype = r.status, r.read(), r.headers.get("Content-Type")
except urllib.error.HTTPError as e:
    status, body, ctype = e.code, e.read(), e.headers.get("Content-Type")
if ctype != "application/json; charset=utf-8":
    print("bad Content-Type: %r" % ctype, file=sys.stderr)
    sys.exit(1)
if out:
    open(out, "wb").write(body)
else:
    sys.stdout.write(body.decode())
print(status, file=sys.stderr if not out else sys.stdout)
PY
get() { python3 "$WORK/get.py" "$@"; }

clients=()
seed=21
for v in v01 v02 v03; do
  "$BIN/pingyi-client" --deploy "$WORK/deploy" --venue $v --broker "$ENDPOINT" --generate "$N" --seed $seed \
    --expect "$WORK/expect-$v.json" --outbox "$WORK/outbox-$v" --close --issued "$N" --collected "$N" --json \
    >"$WORK/client-$v.json" 2>"$WORK/client-$v.log" &
  clients+=($!)
  seed=$((seed + 1))
done
for p in "${clients[@]}"; do wait "$p" || fail "a client exited non-zero"; done

# the summary reaches every ballot and final
want=$((3 * N))
i=0
while true; do
  [ "$(get "$AGG/api/v1/summary" "$WORK/summary.json")" = 200 ] || fail "summary: not 200"
  python3 - "$WORK/summary.json" "$want" <<'PY' && break
import json, sys
s = json.load(open(sys.argv[1]))
sys.exit(0 if s["status"]["accepted"] == int(sys.argv[2]) and s["final"] is True and s["stale_shards"] == 0 else 1)
PY
  i=$((i + 1))
  [ $i -le 300 ] || fail "the summary never reached $want accepted and final: $(head -c 600 "$WORK/summary.json")"
  sleep 0.1
done
pass "summary: $want accepted, final, no stale shard"

# the raw merged tally equals the generators' expectations exactly (3,000
# ballots a venue: every (venue, category) group is far above k, so the
# release withholds nothing)
[ "$(get "$AGG/api/v1/tally" "$WORK/tally.json")" = 200 ] || fail "tally: not 200"
python3 "$SRC/tests/integration/compare.py" --dup 0 "$WORK/tally.json" "$WORK"/expect-v0*.json \
  || fail "GET /api/v1/tally differs from the generators' expectation"
# ... and what the offline tool reads from the shard files (same counters, same figures)
"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --json >"$WORK/offline.json"
python3 - "$WORK/tally.json" "$WORK/offline.json" <<'PY' || fail "/api/v1/tally and pingyi tally --json differ"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["api"] == 1 and a["election"] == b["election"]
for v in a["venues"]:
    assert v.pop("suppressed_categories") == [], v  # released: nothing withheld here
    assert sum(v["by_category"].values()) == v["accepted"], v
for v in b["venues"]:
    v.setdefault("by_category", {})
for x, y in zip(a["venues"], b["venues"]):
    if not y["by_category"]:  # a shard that records no categories offline
        y["by_category"] = x["by_category"]
assert a["venues"] == b["venues"], "venues differ"
assert a["counters"] == b["counters"], "counters differ"
shards = {s["shard"]: s for s in a["shards"]}
for s in b["shards"]:
    t = shards[s["shard"]]
    assert (t["sequence"], t["digest"]) == (s["sequence"], s["digest"]), (t, s)
    assert t["stale"] is False and t["age_ms"] >= 0, t
PY
# pingyi query --agg reads the live aggregator's view (GET /api/v1/view) and
# prints what --data prints from the shards' released state
for args in "--format json" "--by district --format csv" "--by unit"; do
  # shellcheck disable=SC2086
  "$BIN/pingyi" query --deploy "$WORK/deploy" --data "$WORK/data" $args >"$WORK/q-offline.out" \
    || fail "query --data $args"
  # shellcheck disable=SC2086
  "$BIN/pingyi" query --deploy "$WORK/deploy" --agg "$AGG" $args >"$WORK/q-online.out" 2>"$WORK/q-online.err" \
    || fail "query --agg $args: $(cat "$WORK/q-online.err")"
  same_view "$WORK/q-offline.out" "$WORK/q-online.out" || fail "query --agg and --data differ for: $args"
done
pass "GET /api/v1/tally equals the expectations, pingyi tally --json and what pingyi query --agg shows"

# the city row of the overall item is the sum of every expected overall count
[ "$(get "$AGG/api/v1/rollup?by=city" "$WORK/city.json")" = 200 ] || fail "rollup by=city: not 200"
python3 - "$WORK/city.json" "$WORK"/expect-v0*.json <<'PY' || fail "the city row differs from the expected sums"
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["level"] == "city" and len(doc["rows"]) == 1, doc["level"]
row = doc["rows"][0]
want = {}
for p in sys.argv[2:]:
    for c in json.load(open(p))["counters"]:
        if c["item"] == doc["item"]:
            want[c["mark"]] = want.get(c["mark"], 0) + c["count"]
for label in doc["labels"]:
    assert row["choices"][label] == want.get(label, 0), (label, row["choices"][label], want.get(label, 0))
assert row["blank"] == want.get("BLANK", 0), (row["blank"], want.get("BLANK"))
assert row["over"] == want.get("OVER", 0), (row["over"], want.get("OVER"))
assert row["valid"] == sum(want.get(l, 0) for l in doc["labels"])
print("city row: valid %d, blank %d, over %d" % (row["valid"], row["blank"], row["over"]))
PY
for by in district town department kind unit subject; do
  [ "$(get "$AGG/api/v1/rollup?by=$by" "$WORK/level.json")" = 200 ] || fail "rollup by=$by: not 200"
done
[ "$(get "$AGG/api/v1/venues" "$WORK/venues.json")" = 200 ] || fail "venues: not 200"
python3 - "$WORK/venues.json" "$N" <<'PY' || fail "venues"
import json, sys
d = json.load(open(sys.argv[1])); n = int(sys.argv[2])
assert [v["status"] for v in d["venues"]] == ["reconciled"] * 3, d["venues"]
assert all(v["accepted"] == n and v["stale"] is False for v in d["venues"]), d["venues"]
PY
[ "$(get "$AGG/api/v1/history?limit=5" "$WORK/history.json")" = 200 ] || fail "history: not 200"
python3 - "$WORK/history.json" "$want" <<'PY' || fail "history: $(cat "$WORK/history.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert 1 <= d["count"] <= 5 and len(d["records"]) == d["count"], d
newest = d["records"][0]
assert newest["accepted"] == int(sys.argv[2]) and newest["venues"]["reconciled"] == 3, newest
assert len(newest["digests"]) == len(newest["sequences"]) == len(newest["generations"]) == 8, newest
# one record per change of what is released, never two alike in a row
for r, older in zip(d["records"], d["records"][1:]):
    assert {k: v for k, v in r.items() if k not in ("round", "time")} != \
        {k: v for k, v in older.items() if k not in ("round", "time")}, (r, older)
assert [r["round"] for r in d["records"]] == sorted((r["round"] for r in d["records"]), reverse=True)
PY
grep -qE "round [0-9]+: [0-9]+ shards? changed, [0-9,]+ ballots, 0 stale" "$WORK/agg.log" || fail "no round line logged"
pass "rollup city row, levels, venues and history agree"

# kill -9 the worker of shards 4-7: they turn stale, the view stays
[ "$(get "$AGG/api/v1/summary" "$WORK/before.json")" = 200 ] || fail "summary before the kill"
stop worker2 KILL
killed=$(date +%s%N)
i=0
while true; do
  [ "$(get "$AGG/api/v1/summary" "$WORK/summary.json")" = 200 ] || fail "summary not 200 after the kill"
  python3 - "$WORK/summary.json" <<'PY' && break
import json, sys
s = json.load(open(sys.argv[1]))
stale = {x["shard"] for x in s["shards"] if x["stale"]}
sys.exit(0 if stale == {4, 5, 6, 7} else 1)
PY
  i=$((i + 1))
  [ $i -le 200 ] || fail "shards 4-7 never turned stale: $(head -c 1500 "$WORK/summary.json")"
  sleep 0.05
done
took=$((($(date +%s%N) - killed) / 1000000))
[ $took -le $((STALE + INTERVAL + 1000)) ] || fail "shards 4-7 turned stale only after $took ms"
python3 - "$WORK/before.json" "$WORK/summary.json" "$want" <<'PY' || fail "the view changed when the worker died"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert b["status"] == a["status"] and b["status"]["accepted"] == int(sys.argv[3]), (a["status"], b["status"])
assert b["city"] == a["city"]
assert b["stale_shards"] == 4 and b["final"] is True
for x in b["shards"]:
    if x["shard"] >= 4:
        assert x["age_ms"] > 2000 and x["reason"], x
        old = a["shards"][x["shard"]]
        assert (x["sequence"], x["digest"], x["generation"]) == (old["sequence"], old["digest"], old["generation"]), (x, old)
PY
[ "$(get "$AGG/api/v1/tally" "$WORK/tally-stale.json")" = 200 ] || fail "tally not 200 with a worker down"
python3 "$SRC/tests/integration/compare.py" "$WORK/tally-stale.json" "$WORK"/expect-v0*.json >/dev/null \
  || fail "the tally lost the dead worker's figures"
# the log line comes with the poller's next round
wait_for_log "$WORK/agg.log" "shard 6 is stale" 5
pass "worker killed: shards 4-7 stale after $took ms, the old figures still served"

start_worker 2 4-7
i=0
while true; do
  [ "$(get "$AGG/api/v1/summary" "$WORK/summary.json")" = 200 ] || fail "summary not 200"
  python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); sys.exit(0 if s["stale_shards"] == 0 else 1)' \
    "$WORK/summary.json" && break
  i=$((i + 1))
  [ $i -le 200 ] || fail "shards never turned fresh again: $(head -c 1500 "$WORK/summary.json")"
  sleep 0.1
done
wait_for_log "$WORK/agg.log" "shard 6 is fresh again" 5
pass "worker restarted: every shard fresh again"

# errors: exact bodies
[ "$(get "$AGG/x" "$WORK/e404.json")" = 404 ] || fail "/x: not 404"
[ "$(cat "$WORK/e404.json")" = '{"error":"no such endpoint: /x"}' ] || fail "404 body: $(cat "$WORK/e404.json")"
[ "$(get "$AGG/api/v1/rollup?by=foo" "$WORK/e400.json")" = 400 ] || fail "by=foo: not 400"
[ "$(cat "$WORK/e400.json")" = '{"error":"by: unknown level \"foo\" (expected city|district|town|department|kind|unit|subject)"}' ] \
  || fail "400 body: $(cat "$WORK/e400.json")"
python3 - "$AGG" <<'PY' || fail "POST was not 405"
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/api/v1/summary", data=b"x" * 100000), timeout=10)
    sys.exit(1)
except urllib.error.HTTPError as e:
    assert e.code == 405 and e.headers["Allow"] == "GET", (e.code, e.headers)
except (ConnectionResetError, BrokenPipeError):
    pass  # the server may close before the upload ends: it never reads it
PY
[ "$(get "$AGG/api/v1/stats" "$WORK/stats.json")" = 200 ] || fail "stats: not 200"
python3 - "$WORK/stats.json" <<'PY' || fail "stats: $(cat "$WORK/stats.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["http"]["not_found"] >= 1 and s["http"]["bad_request"] >= 1, s["http"]
assert s["shards"]["refused"] == 0 and s["poller"]["bad_frames"] == 0, s
assert s["shards"]["retries"] > 0, s["shards"]
PY
pass "404, 400 and 405 with exact bodies; every refusal counted"

kill -TERM "${PIDS[agg]}"
set +e
wait "${PIDS[agg]}"
rc=$?
set -e
unset "PIDS[agg]"
[ $rc -eq 0 ] || fail "pingyi-agg exited $rc on SIGTERM"
grep -q "pingyi-agg info: stopped" "$WORK/agg.log" || fail "no 'stopped' line"
pass "SIGTERM: the aggregator stopped cleanly (exit 0)"

#!/usr/bin/env bash
# pingyi monitor against the real binaries: a broker, two workers (8
# shards), three venues sending.  The figures of `pingyi monitor --once
# --json` equal the traffic the generators sent, counted independently:
# a closed venue's accepted equals its generator's count exactly; an open
# venue's is a multiple of k and at most the exact one (the k rule).  A
# worker killed: its shards show without owner within the heartbeat
# timeout, with a trouble line; restarted: owned again.  The live screen
# under tmux at 80x24 and 200x50 shows the venue, worker and shard rows.
source "$(dirname "$0")/lib.sh"

command -v tmux >/dev/null || { echo "tmux missing: skipped"; exit 77; }
TS=pingyi-monitor-$$
monitor_cleanup() {
  local rc=$?
  tmux -L "$TS" kill-server >/dev/null 2>&1 || true
  set +e
  (exit $rc)
  cleanup
}
trap monitor_cleanup EXIT

setup_deploy "$(drill_definition)" 2
start_broker
start_worker 1 0-3
start_worker 2 4-7
wait_workers 2

monitor_json() {
  "$BIN/pingyi" monitor --deploy "$WORK/deploy" --broker "$ENDPOINT" --once --json >"$WORK/$1.json" \
    2>"$WORK/$1.err"
}

# before any venue: every shard owned, no trouble about shards
monitor_json m0 || fail "monitor --once --json exited $?: $(cat "$WORK/m0.err")"
python3 - "$WORK/m0.json" <<'PY' || fail "first snapshot"
import json, sys
m = json.load(open(sys.argv[1]))
for key in ("time", "broker", "workers", "shards", "venues", "refusals", "trouble"):
    assert key in m, key
assert m["broker"]["reached"] is True and m["broker"]["k"] == 10, m["broker"]
assert len(m["shards"]) == 8 and all(s["owner"] in ("1", "2") for s in m["shards"]), m["shards"]
assert sorted(w["name"] for w in m["workers"]) == ["1", "2"], m["workers"]
assert all(w["live"] for w in m["workers"]), m["workers"]
assert [v["id"] for v in m["venues"]] == ["v01", "v02", "v03"], m["venues"]
assert all(v["status"] == "unseen" and v["accepted"] == 0 for v in m["venues"]), m["venues"]
assert not any("no owner" in t["what"] for t in m["trouble"]), m["trouble"]
print("first snapshot ok")
PY

# v01 stays open (503 ballots, no close); v02 and v03 close
"$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v01 --broker "$ENDPOINT" --generate 503 --seed 1 \
  --outbox "$WORK/outbox-v01" >"$WORK/client-v01.out" 2>"$WORK/client-v01.log" || fail "client v01"
"$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v02 --broker "$ENDPOINT" --generate 300 --seed 2 \
  --outbox "$WORK/outbox-v02" --close --issued 300 --collected 300 >"$WORK/client-v02.out" 2>"$WORK/client-v02.log" ||
  fail "client v02"
"$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v03 --broker "$ENDPOINT" --generate 257 --seed 3 \
  --outbox "$WORK/outbox-v03" --close --issued 257 --collected 257 >"$WORK/client-v03.out" 2>"$WORK/client-v03.log" ||
  fail "client v03"

monitor_json m1 || fail "monitor exited $?: $(cat "$WORK/m1.err")"
python3 - "$WORK/m1.json" <<'PY' || fail "figures after the venues sent"
import json, sys
m = json.load(open(sys.argv[1]))
v = {x["id"]: x for x in m["venues"]}
# closed: exact, equal to the generators' counts
for vid, n in (("v02", 300), ("v03", 257)):
    x = v[vid]
    assert x["status"] == "closed" and x["exact"] is True, x
    assert x["accepted"] == n, (vid, x["accepted"], n)
    assert x["rejected"] == 0 and x["void"] is False, x
    assert x["envelopes_in"] >= n, x
    assert x["last_seen_ms_ago"] is not None, x
# open: a multiple of k, at most the exact count, within one step of it
x = v["v01"]
assert x["status"] == "open" and x["exact"] is False, x
assert x["accepted"] % 10 == 0 and 490 <= x["accepted"] <= 503, x
assert x["envelopes_in"] % 10 == 0 and x["envelopes_in"] <= 600, x
assert x["duplicate"] % 10 == 0 and x["retries"] % 10 == 0, x
# workers forwarded every envelope the venues sent, shards all owned
fwd = sum(w["envelopes_forwarded"] for w in m["workers"])
assert fwd >= 300 + 257 + 503, fwd
assert all(w["batches"] is not None and w["batches"] >= 1 for w in m["workers"] if w["shards"]), m["workers"]
# commit latency from the workers' histograms: p50 <= p99, both at least 1 ms
# (a bucket bound) once a batch committed, p99 never above the max bound kept
assert all(1 <= w["commit_p50_ms"] <= w["commit_p99_ms"] for w in m["workers"] if w["shards"] and w["batches"]), m["workers"]
assert all(s["owner"] is not None for s in m["shards"]), m["shards"]
assert isinstance(m["refusals"], dict) and "forbidden" in m["refusals"], m["refusals"]
print("figures ok: v01", x["accepted"], "of 503 shown while open; v02 300, v03 257 exact")
PY

# the live screen under tmux, 80x24 then 200x50: venue, worker and shard rows
screen_check() {
  local cols=$1 rows=$2 s=mon$1
  tmux -L "$TS" new-session -d -s "$s" -x "$cols" -y "$rows" \
    "TERM=xterm-256color LANG=C.UTF-8 '$BIN/pingyi' monitor --deploy '$WORK/deploy' --broker '$ENDPOINT'; sleep 30"
  sleep 2
  tmux -L "$TS" capture-pane -p -t "$s" >"$WORK/screen-$cols-venues.txt"
  grep -qE '^v01 +yes|^v01 +no' "$WORK/screen-$cols-venues.txt" || fail "${cols}x$rows: no venue row v01: $(cat "$WORK/screen-$cols-venues.txt")"
  grep -qE '^v02 .*closed +[0-9]+ +300 ' "$WORK/screen-$cols-venues.txt" || fail "${cols}x$rows: venue v02 row: $(cat "$WORK/screen-$cols-venues.txt")"
  tmux -L "$TS" send-keys -t "$s" w
  sleep 1.5
  tmux -L "$TS" capture-pane -p -t "$s" >"$WORK/screen-$cols-workers.txt"
  grep -qE '^1 +yes +0,1,2,3 ' "$WORK/screen-$cols-workers.txt" || fail "${cols}x$rows: worker 1 row: $(cat "$WORK/screen-$cols-workers.txt")"
  grep -qE '^2 +yes +4,5,6,7 ' "$WORK/screen-$cols-workers.txt" || fail "${cols}x$rows: worker 2 row"
  tmux -L "$TS" send-keys -t "$s" s
  sleep 1.5
  tmux -L "$TS" capture-pane -p -t "$s" >"$WORK/screen-$cols-shards.txt"
  grep -qE '^ +7 +2 +- +running' "$WORK/screen-$cols-shards.txt" || fail "${cols}x$rows: shard 7 row: $(cat "$WORK/screen-$cols-shards.txt")"
  python3 - "$cols" "$WORK/screen-$cols-"*.txt <<'PY' || fail "${cols}x$rows: a line wider than the terminal"
import sys, unicodedata
w = int(sys.argv[1])
for f in sys.argv[2:]:
    for line in open(f, encoding="utf-8"):
        cols = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line.rstrip("\n"))
        assert cols <= w, (f, cols, line)
PY
  tmux -L "$TS" send-keys -t "$s" q
  sleep 0.5
  tmux -L "$TS" kill-session -t "$s" 2>/dev/null || true
  pass "screen ${cols}x$rows: venue, worker and shard rows"
}
screen_check 80 24
screen_check 200 50

# worker 2 killed: shards 4-7 without owner within the heartbeat timeout (3 s)
stop worker2 KILL
killed_at=$(date +%s%N)
ok=""
for _ in $(seq 1 50); do
  monitor_json m2 || true
  if python3 - "$WORK/m2.json" <<'PY' 2>/dev/null; then ok=1; break; fi
import json, sys
m = json.load(open(sys.argv[1]))
gone = [s for s in m["shards"] if s["owner"] is None]
assert sorted(s["shard"] for s in gone) == [4, 5, 6, 7], gone
assert all(s["unowned_ms"] is not None for s in gone)
assert any("shard 4 has no owner" in t["what"] and t["severity"] == "critical" for t in m["trouble"]), m["trouble"]
assert m["trouble"][0]["severity"] == "critical"
w2 = [w for w in m["workers"] if w["name"] == "2"][0]
assert w2["live"] is False and w2["shards"] == [], w2
PY
  sleep 0.2
done
[ -n "$ok" ] || fail "shards 4-7 not shown without owner: $(cat "$WORK/m2.json") $(cat "$WORK/m2.err")"
elapsed=$((($(date +%s%N) - killed_at) / 1000000))
[ "$elapsed" -le 5000 ] || fail "shards shown without owner only after $elapsed ms"
pass "worker 2 killed: shards 4-7 without owner after $elapsed ms, with a trouble line"

start_worker 2 4-7
ok=""
for _ in $(seq 1 50); do
  monitor_json m3 || true
  if python3 - "$WORK/m3.json" <<'PY' 2>/dev/null; then ok=1; break; fi
import json, sys
m = json.load(open(sys.argv[1]))
assert all(s["owner"] is not None for s in m["shards"]), m["shards"]
assert [s["owner"] for s in m["shards"] if s["shard"] >= 4] == ["2"] * 4
assert not any("no owner" in t["what"] for t in m["trouble"]), m["trouble"]
PY
  sleep 0.2
done
[ -n "$ok" ] || fail "shards 4-7 not owned again: $(cat "$WORK/m3.json")"
pass "worker 2 restarted: shards 4-7 owned again"

# the broker gone: exit 3, and a venue key may not ask (ERROR 2)
stop broker
"$BIN/pingyi" monitor --deploy "$WORK/deploy" --broker "$ENDPOINT" --once --json --timeout-ms 500 \
  >/dev/null 2>"$WORK/m4.err" && rc=0 || rc=$?
[ "$rc" -eq 3 ] || fail "broker gone: exit $rc, want 3"
grep -q "no answer in time" "$WORK/m4.err" || fail "broker gone: $(cat "$WORK/m4.err")"
pass "broker not reached: exit 3"
pass "monitor"

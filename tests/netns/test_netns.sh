#!/usr/bin/env bash
# Several hosts on one machine: the broker, two workers, the aggregator and
# three venue clients each in a network namespace of its own, with its own
# address, on one switched LAN. Mid-run one venue's link and one worker's
# link are cut for 6 s (longer than the 3 s heartbeat timeout) and restored;
# the count must still end exact: every venue's generated ballots counted
# exactly once in the workers' shards (`pingyi tally --json` against the
# clients' --expect files), the recount clean, every client exiting 0, and
# the aggregator's HTTP view (read from another host) equal to the
# expectation.
#
# Topology (all names carry this shell's PID, $$, so parallel runs never
# clash; every address is 10.77.0.0/24 and exists only inside namespaces
# this test creates — the root namespace gets no interface, no address, no
# route, so no packet of the test can leave them):
#
#   namespace pyn$$-sw (the "switch"): bridge br$$, ports s$$1..s$$7
#                   │
#     veth pairs    ├─ s$$1 ── e$$1 10.77.0.1   pyn$$-broker  pingyi-broker (binds 10.77.0.1:7701)
#     (host end e,  ├─ s$$2 ── e$$2 10.77.0.11  pyn$$-w1      pingyi-worker 1, shards 0-3, data $WORK/data-w1
#      switch end s)├─ s$$3 ── e$$3 10.77.0.12  pyn$$-w2      pingyi-worker 2, shards 4-7, data $WORK/data-w2
#                   ├─ s$$4 ── e$$4 10.77.0.20  pyn$$-agg     pingyi-agg (HTTP on 10.77.0.20:8080)
#                   ├─ s$$5 ── e$$5 10.77.0.31  pyn$$-v01     pingyi-client v01 (shard 1, worker 1)
#                   ├─ s$$6 ── e$$6 10.77.0.32  pyn$$-v02     pingyi-client v02 (shard 2, worker 1)
#                   └─ s$$7 ── e$$7 10.77.0.33  pyn$$-v03     pingyi-client v03 (shard 5, worker 2)
#
# A link is cut at the switch (`ip -n pyn$$-sw link set s$$N down`): the
# host keeps its address and route but loses carrier, as with a pulled
# cable. Cut: v02 (its shard is on worker 1, so only the venue's own link
# matters) and worker 2 (shards 4-7, which v03 writes to); v01 is untouched.
#
# The processes all share the file system ($WORK); only the network is
# separate. Offline checks (`pingyi tally`) read the files from the root
# namespace; the HTTP view is read from the broker's host across the switch.
#
# Needs root and network namespaces with veth and bridge devices: otherwise
# it prints "SKIP: ..." and exits 77 (ctest SKIP_RETURN_CODE). Everything it
# creates is deleted on exit, failure or SIGINT/SIGTERM/SIGHUP (not after
# SIGKILL, which no shell can trap: then `ip netns list | grep pyn<PID>-`).
set -euo pipefail

TAG=$$
NS_PREFIX="pyn$TAG-"

skip() {
  echo "SKIP: $*"
  exit 77
}

# --- can this machine do it? (probe in a throwaway namespace, before
# lib.sh: a skip leaves no work directory and prints no failure logs)
[ "$(id -u)" -eq 0 ] || skip "network namespaces need root (uid $(id -u))"
command -v ip >/dev/null 2>&1 || skip "no 'ip' command (iproute2)"
probe="${NS_PREFIX}probe"
trap 'ip netns del "$probe" 2>/dev/null || true' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
if ! err=$(ip netns add "$probe" 2>&1); then
  skip "this machine does not allow network namespaces: ip netns add: $err"
fi
if ! err=$(ip -n "$probe" link add "pa$TAG" type veth peer name "pb$TAG" 2>&1); then
  skip "no veth devices in a network namespace: $err"
fi
if ! err=$(ip -n "$probe" link add "br$TAG" type bridge 2>&1); then
  skip "no bridge devices in a network namespace: $err"
fi
ip netns del "$probe"
trap - EXIT

source "$(dirname "$0")/../integration/lib.sh"

# --- namespaces: created below, deleted (with every veth and the bridge in
# them) by ns_cleanup, which then hands over to lib.sh's cleanup (kill the
# processes, print the logs on failure, remove $WORK, exit with the status).
NAMESPACES=()
ns_cleanup() {
  local rc=$?
  set +e
  trap - INT TERM HUP
  # the processes first: a namespace lives on while a process is inside it
  for name in "${!PIDS[@]}"; do
    kill -9 "${PIDS[$name]}" 2>/dev/null
  done
  wait 2>/dev/null
  local ns
  for ns in "${NAMESPACES[@]}"; do
    ip netns del "$ns" 2>/dev/null || echo "warning: could not delete namespace $ns" >&2
  done
  if ip netns list 2>/dev/null | grep -q "^$NS_PREFIX"; then
    echo "warning: namespaces left: $(ip netns list | grep "^$NS_PREFIX" | tr '\n' ' ')" >&2
  fi
  if ip -br link show 2>/dev/null | grep -qE "^[es]$TAG[0-9]|^br$TAG"; then
    echo "warning: devices left in the root namespace: $(ip -br link show | grep -E "^[es]$TAG[0-9]|^br$TAG")" >&2
  fi
  _status() { return "$1"; }
  _status "$rc"
  cleanup
}
trap ns_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

NET=10.77.0
SW="${NS_PREFIX}sw"
BR="br$TAG"
declare -A NS_OF=() PORT_OF=() ADDR_OF=()

new_ns() {
  ip netns add "$1" || fail "ip netns add $1"
  NAMESPACES+=("$1")
  ip -n "$1" link set lo up
}

# host ROLE INDEX ADDRESS: a namespace for ROLE, a veth pair e$$INDEX (in it,
# with ADDRESS/24) to s$$INDEX (a port of the switch's bridge). Both ends are
# created directly in their namespaces, never in the root namespace.
host() {
  local role=$1 idx=$2 addr=$3 ns="${NS_PREFIX}$1"
  new_ns "$ns"
  ip link add "e$TAG$idx" netns "$ns" type veth peer name "s$TAG$idx" netns "$SW" \
    || fail "veth pair for $role"
  ip -n "$SW" link set "s$TAG$idx" master "$BR" up
  ip -n "$ns" addr add "$addr/24" dev "e$TAG$idx"
  ip -n "$ns" link set "e$TAG$idx" up
  NS_OF[$role]=$ns
  PORT_OF[$role]="s$TAG$idx"
  ADDR_OF[$role]=$addr
}

new_ns "$SW"
ip -n "$SW" link add "$BR" type bridge
ip -n "$SW" link set "$BR" up
host broker 1 "$NET.1"
host w1 2 "$NET.11"
host w2 3 "$NET.12"
host agg 4 "$NET.20"
host v01 5 "$NET.31"
host v02 6 "$NET.32"
host v03 7 "$NET.33"

# on ROLE CMD...: run CMD on ROLE's host, in the foreground. A program kept
# running is started as the simple command `ip netns exec NS PROGRAM ... &`
# (never through a function: that would fork a subshell, and $! would be
# the subshell's PID): ip execs PROGRAM, so $! is the program's own PID,
# the one lib.sh's cleanup kills and `wait` reports.
on() {
  local role=$1
  shift
  ip netns exec "${NS_OF[$role]}" "$@"
}
cut() { ip -n "$SW" link set "${PORT_OF[$1]}" down; }
restore() { ip -n "$SW" link set "${PORT_OF[$1]}" up; }

# nothing of the test's network is in the root namespace: no device, so no
# address and no route into 10.77.0.0/24
if ip -br link show | grep -qE "^([es]$TAG[0-9]|br$TAG)\b"; then
  fail "a device of the test network is in the root namespace"
fi
pass "7 hosts on one switch: broker ${ADDR_OF[broker]}, workers ${ADDR_OF[w1]} ${ADDR_OF[w2]}, agg ${ADDR_OF[agg]}, venues ${ADDR_OF[v01]} ${ADDR_OF[v02]} ${ADDR_OF[v03]}"

# --- the election: the example's venues without "issued" (a drill sends more
# than the real meeting issued), each pinned to a shard so the cuts hit what
# they should: v01 -> 1 and v02 -> 2 (worker 1), v03 -> 5 (worker 2).
DEF=$WORK/netns-election.json
python3 - "$SRC/examples/2022-district-review.json" "$DEF" <<'PY'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8-sig"))
assert d.get("shards") == 8, d.get("shards")
pins = {"v01": 1, "v02": 2, "v03": 5}
assert sorted(v["id"] for v in d["venues"]) == sorted(pins), [v["id"] for v in d["venues"]]
for v in d["venues"]:
    v.pop("issued", None)
    v["shard"] = pins[v["id"]]
json.dump(d, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False, indent=1)
PY
"$BIN/pingyi" init "$DEF" "$WORK/deploy" --workers 2 >/dev/null
ENDPOINT="tcp://${ADDR_OF[broker]}:7701"
HTTP="${ADDR_OF[agg]}:8080"
AGG="http://$HTTP"

# a worker flag being added elsewhere: --create for a first start
create=$("$BIN/pingyi-worker" --help 2>&1 | grep -q -- '--create' && echo --create || true)

ip netns exec "${NS_OF[broker]}" "$BIN/pingyi-broker" --deploy "$WORK/deploy" --bind "$ENDPOINT" --stats-every 0 >>"$WORK/broker.log" 2>&1 &
PIDS[broker]=$!
wait_for_log "$WORK/broker.log" "listening on" 10

run_worker() {   # ID SHARDS
  # shellcheck disable=SC2086
  ip netns exec "${NS_OF[w$1]}" "$BIN/pingyi-worker" --deploy "$WORK/deploy" --id "$1" --broker "$ENDPOINT" --data "$WORK/data-w$1" \
    --shards "$2" $create >>"$WORK/worker$1.log" 2>&1 &
  PIDS[worker$1]=$!
}
run_worker 1 0-3
run_worker 2 4-7
wait_workers 2

ip netns exec "${NS_OF[agg]}" "$BIN/pingyi-agg" --deploy "$WORK/deploy" --broker "$ENDPOINT" --http "$HTTP" \
  --interval-ms 500 --stale-ms 2000 --data "$WORK/agg-data" >>"$WORK/agg.log" 2>&1 &
PIDS[agg]=$!
wait_for_log "$WORK/agg.log" "listening on" 10

# --- figures read offline from the shard files. Each worker is a host of its
# own with its own data directory; $WORK/data joins them (a symlink per
# shard and one per manifest) so that `pingyi tally --data` reads and
# verifies all 8 shards at once.
mkdir "$WORK/data"
n=0
for d in "$WORK"/data-w1/shard-* "$WORK"/data-w2/shard-*; do
  [ -d "$d" ] || continue
  [ ! -e "$WORK/data/${d##*/}" ] || fail "shard ${d##*/} is on both workers"
  ln -s "$d" "$WORK/data/${d##*/}"
  # and its manifest, so the tally verifies it (not "unverified")
  [ -f "$d.manifest" ] || fail "shard ${d##*/} has no manifest"
  ln -s "$d.manifest" "$WORK/data/${d##*/}.manifest"
  n=$((n + 1))
done
[ $n -eq 8 ] || fail "expected 8 shard directories across the two workers' data directories, found $n"
# figures: A1 A2 A3 = accepted ballots of v01 v02 v03 committed so far
figures() {
  read -r A1 A2 A3 < <("$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --json 2>/dev/null |
    python3 -c '
import json, sys
try:
    acc = {v["venue"]: v["accepted"] for v in json.load(sys.stdin)["venues"]}
except ValueError:
    acc = {}
print(acc.get("v01", 0), acc.get("v02", 0), acc.get("v03", 0))')
}

N=${PINGYI_NETNS_BALLOTS:-40000}
seed=31
for v in v01 v02 v03; do
  ip netns exec "${NS_OF[$v]}" "$BIN/pingyi-client" --deploy "$WORK/deploy" --venue "$v" --broker "$ENDPOINT" --generate "$N" --seed $seed \
    --expect "$WORK/expect-$v.json" --outbox "$WORK/outbox-$v" --close --issued "$N" --collected "$N" \
    --give-up-s 100 --json >"$WORK/client-$v.json" 2>"$WORK/client-$v.log" &
  PIDS[client-$v]=$!
  seed=$((seed + 1))
done
running() { kill -0 "${PIDS[$1]}" 2>/dev/null; }

# --- mid-run: both cut venues have some of their ballots counted, not all
i=0
while :; do
  figures
  b=$A2 c=$A3
  [ "$b" -lt "$N" ] && [ "$c" -lt "$N" ] || fail "v02 ($b) or v03 ($c) finished before the cut: raise PINGYI_NETNS_BALLOTS"
  [ "$b" -ge $((N / 5)) ] && [ "$c" -ge $((N / 5)) ] && break
  i=$((i + 1))
  [ $i -le 600 ] || fail "v02 ($b) and v03 ($c) never reached $((N / 5)) committed ballots"
  sleep 0.1
done
running client-v02 || fail "client v02 exited before the cut"
running client-v03 || fail "client v03 exited before the cut"
cut v02
cut w2
echo "cut the links of v02 and worker 2 with v02 $b, v03 $c of $N ballots committed"
# what was already in flight settles within a second or so; after that
# nothing of v02 nor of shards 4-7 (v03) may move while the links are down
sleep 2
figures
b1=$A2 c1=$A3
sleep 4
figures
b2=$A2 c2=$A3
restore v02
restore w2
echo "restored both links after 6 s: v02 $b2, v03 $c2 committed"
[ "$b1" -eq "$b2" ] || fail "v02's count moved from $b1 to $b2 while its link was down: the cut did not cut"
[ "$c1" -eq "$c2" ] || fail "v03's count (shard 5, worker 2) moved from $c1 to $c2 while worker 2's link was down"
[ "$b2" -lt "$N" ] && [ "$c2" -lt "$N" ] || fail "v02 or v03 completed while cut off ($b2, $c2 of $N)"
grep -qE "worker 2 (silent for [0-9]+ ms|is unreachable|disconnected)" "$WORK/broker.log" \
  || fail "the broker never noticed worker 2's link was down"
pass "links cut for 6 s: v02 and worker 2's shards stood still, the broker released worker 2's shards"

# --- the run ends: every client 0, worker 2 back
for v in v01 v02 v03; do
  set +e
  wait "${PIDS[client-$v]}"
  rc=$?
  set -e
  unset "PIDS[client-$v]"
  [ $rc -eq 0 ] || fail "client $v exited $rc: $(tail -n 3 "$WORK/client-$v.log")"
done
[ "$(grep -c 'worker 2 owns shards' "$WORK/broker.log")" -ge 2 ] || fail "worker 2 never registered again"
pass "every client exited 0 after the cuts"

# --- the aggregator's view (read from the broker's host, across the switch)
# reaches every ballot, final, nothing stale
cat >"$WORK/get.py" <<'PY'
import sys, urllib.request, urllib.error
url, out = sys.argv[1], sys.argv[2]
try:
    with urllib.request.urlopen(url, timeout=10) as r:
        status, body = r.status, r.read()
except urllib.error.HTTPError as e:
    status, body = e.code, e.read()
except OSError as e:
    status, body = 0, str(e).encode()
open(out, "wb").write(body)
print(status)
PY
get() { on broker python3 "$WORK/get.py" "$AGG$1" "$2"; }
want=$((3 * N))
i=0
while :; do
  [ "$(get /api/v1/summary "$WORK/summary.json")" = 200 ] || fail "GET /api/v1/summary: $(head -c 300 "$WORK/summary.json")"
  python3 - "$WORK/summary.json" "$want" <<'PY' && break
import json, sys
s = json.load(open(sys.argv[1]))
sys.exit(0 if s["status"]["accepted"] == int(sys.argv[2]) and s["final"] is True and s["stale_shards"] == 0 else 1)
PY
  i=$((i + 1))
  [ $i -le 150 ] || fail "the aggregator never showed $want accepted, final, nothing stale: $(head -c 800 "$WORK/summary.json")"
  sleep 0.2
done
grep -q "shard 5 is stale: its snapshot" "$WORK/agg.log" || fail "the aggregator never marked shard 5 stale while worker 2 was cut off"
grep -q "shard 5 is fresh again" "$WORK/agg.log" || fail "shard 5 never turned fresh again"

# --- exactness, offline: the workers stop (SIGTERM), then their shards (two
# hosts, two data directories) are read together through $WORK/data
for w in 1 2; do
  kill -TERM "${PIDS[worker$w]}"
  set +e
  wait "${PIDS[worker$w]}"
  rc=$?
  set -e
  unset "PIDS[worker$w]"
  [ $rc -eq 0 ] || fail "worker $w exited $rc on SIGTERM"
done
"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --json >"$WORK/tally.json"
python3 "$SRC/tests/integration/compare.py" "$WORK/tally.json" "$WORK"/expect-v0*.json \
  || fail "the count differs from the generators' expectation"
python3 - "$WORK/tally.json" "$N" <<'PY' || fail "venue figures"
import json, sys
t = json.load(open(sys.argv[1])); n = int(sys.argv[2])
assert sorted(v["venue"] for v in t["venues"]) == ["v01", "v02", "v03"], t["venues"]
for v in t["venues"]:
    assert v["closed"] is True, v
    assert v["accepted"] == n and v["issued"] == n and v["collected"] == n and v["sent"] == n, v
    assert v["rejected"] == 0, v
print("venue figures ok: " + ", ".join("%s %d accepted, %d duplicates" % (v["venue"], v["accepted"], v["duplicates"])
                                       for v in t["venues"]))
PY
"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --recount >/dev/null 2>"$WORK/recount.log" \
  || fail "recount differs: $(cat "$WORK/recount.log")"
[ "$(grep -c 'matches counters and digest' "$WORK/recount.log")" -ge 3 ] || fail "fewer than 3 shards recounted: $(cat "$WORK/recount.log")"
pass "shards of both workers: 3 x $N ballots counted exactly once; recount matches"

# --- exactness, online: the aggregator's raw tally and city row equal the
# expectation (N ballots a venue: every group far above k, nothing withheld)
[ "$(get /api/v1/tally "$WORK/agg-tally.json")" = 200 ] || fail "GET /api/v1/tally: $(head -c 300 "$WORK/agg-tally.json")"
python3 "$SRC/tests/integration/compare.py" "$WORK/agg-tally.json" "$WORK"/expect-v0*.json \
  || fail "GET /api/v1/tally differs from the generators' expectation"
[ "$(get '/api/v1/rollup?by=city' "$WORK/city.json")" = 200 ] || fail "GET /api/v1/rollup?by=city: $(head -c 300 "$WORK/city.json")"
python3 - "$WORK/city.json" "$want" "$WORK"/expect-v0*.json <<'PY' || fail "the aggregator's city row differs from the expectation"
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["status"]["accepted"] == int(sys.argv[2]) and doc["final"] is True, doc["status"]
assert doc["level"] == "city" and len(doc["rows"]) == 1, doc["level"]
row = doc["rows"][0]
want = {}
for p in sys.argv[3:]:
    for c in json.load(open(p))["counters"]:
        if c["item"] == doc["item"]:
            want[c["mark"]] = want.get(c["mark"], 0) + c["count"]
for label in doc["labels"]:
    assert row["choices"][label] == want.get(label, 0), (label, row["choices"][label], want.get(label, 0))
assert row["blank"] == want.get("BLANK", 0), (row["blank"], want.get("BLANK"))
assert row["over"] == want.get("OVER", 0), (row["over"], want.get("OVER"))
print("city row: valid %d, blank %d, over %d" % (row["valid"], row["blank"], row["over"]))
PY
pass "the aggregator's view over HTTP equals the expectation: $want ballots"

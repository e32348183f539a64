#!/usr/bin/env bash
# Shards are bound to worker keys, one connection per key (PROTOCOL §3 HELLO).
#   1. With worker 1's key an attacker says HELLO for worker 2's shards:
#      refused whole, ERROR 2 "worker 1 is not assigned shard 4
#      (keyring.tsv)"; nothing moves (worker 1 is not even displaced) and a
#      venue on those shards (v01, shard 6) counts exactly through worker 2.
#   2. A copy of worker 2's bundle says HELLO: the newest connection wins,
#      the real worker 2 is told DISPLACED; a second copy says HELLO and the
#      first copy hears ERROR 7 "worker 2: another connection with this
#      worker's key said HELLO and took its shards".
#   3. The copies disconnect; the real worker 2, never restarted, takes its
#      shards back within seconds (the broker calls it back with ERROR 4 as
#      soon as the connection that displaced it is gone), and v01 counts
#      more ballots exactly.
source "$(dirname "$0")/../integration/lib.sh"

PY=${PINGYI_PYTHON_ZMQ:-/usr/bin/python3}
ATTACK="$SRC/tests/security/attack.py"
"$PY" -c 'import zmq, sys; sys.exit(0 if zmq.has("curve") else 1)' 2>/dev/null ||
  fail "$PY has no pyzmq with CURVE: run scripts/install-deps (python3-zmq)"

N=${PINGYI_SEC_BALLOTS:-3000}
setup_deploy "$SRC/examples/2022-district-review.json" 2
start_broker
start_worker 1 0-3
start_worker 2 4-7
wait_workers 2
worker2_pid=${PIDS[worker2]}

broker_stats() {
  "$BIN/pingyi" stats --deploy "$WORK/deploy" --broker "$ENDPOINT" --json >"$1" || fail "broker stats query"
}
attack() {
  local bundle=$1
  shift
  "$PY" "$ATTACK" --deploy "$WORK/deploy" --bundle "$WORK/thief/worker/$bundle" --broker "$ENDPOINT" "$@"
}
# count_v01 SEED [FLAGS]: N more ballots of v01 (shard 6), to completion.
# Each seed is a further batch in its own outbox: from the second on it
# needs --append (the shard already holds v01's earlier batch).
count_v01() {
  "$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v01 --broker "$ENDPOINT" --generate "$N" --seed "$1" \
    --expect "$WORK/expect-v01-$1.json" --outbox "$WORK/outbox-v01-$1" --give-up-s 60 "${@:2}" \
    >"$WORK/client-v01-$1.out" 2>"$WORK/client-v01-$1.log" || fail "v01's client (seed $1) exited non-zero"
}

mkdir -p "$WORK/thief/worker"
cp -a "$WORK/deploy/worker/1" "$WORK/thief/worker/1"
cp -a "$WORK/deploy/worker/2" "$WORK/thief/worker/2"
cp -a "$WORK/deploy/worker/2" "$WORK/thief/worker/2b"

# --- 1. worker 1's key claims worker 2's shards -----------------------------
attack 1 hello:4-7 expect:ERROR:2 hello:0,5 expect:ERROR:2 recv:1 >"$WORK/hijack1.out" ||
  fail "no refusal: $(cat "$WORK/hijack1.out")"
python3 - "$WORK/hijack1.out" <<'PY' || fail "refusal texts: $(cat "$WORK/hijack1.out")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
errors = [l for l in lines if l.get("type") == "ERROR"]
assert [(e["code"], e["tag"], e["text"]) for e in errors] == [
    (2, 0, "worker 1 is not assigned shard 4 (keyring.tsv)"),
    (2, 0, "worker 1 is not assigned shard 5 (keyring.tsv)")], errors
assert not any(l.get("type") == "READY" for l in lines), lines
print("both HELLOs refused with the exact text")
PY
broker_stats "$WORK/stats1.json"
python3 - "$WORK/stats1.json" <<'PY' || fail "broker counters: $(cat "$WORK/stats1.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["hello_refused"] == 2, s
assert s["workers_displaced"] == 0 and s["workers_reconnected"] == 0, s
assert s["shards_owned"] == 8 and s["workers_live"] == 2, s
PY
! grep -q "DISPLACED" "$WORK/worker1.log" || fail "a refused HELLO displaced worker 1"
count_v01 31
pass "worker 1's key cannot claim worker 2's shards; v01 counts through worker 2"

# --- 2. copies of worker 2's key: the newest connection wins ---------------
attack 2 --timeout 30 hello:4-7 expect:READY expect:ERROR:7 >"$WORK/hijack2.out" &
PIDS[thief2]=$!
wait_for_log "$WORK/hijack2.out" '"type": "READY"' 10
wait_for_log "$WORK/worker2.log" "DISPLACED" 10
broker_stats "$WORK/stats2.json"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["workers_displaced"] == 1, s' \
  "$WORK/stats2.json" || fail "the real worker 2 was not counted displaced: $(cat "$WORK/stats2.json")"
kill -0 "$worker2_pid" || fail "worker 2 exited when displaced"
displaced_at=$(date +%s)

attack 2b hello:4-7 expect:READY recv:1 >"$WORK/hijack3.out" || fail "second copy: $(cat "$WORK/hijack3.out")"
set +e
wait "${PIDS[thief2]}"
rc=$?
set -e
unset "PIDS[thief2]"
[ $rc -eq 0 ] || fail "the first copy never heard DISPLACED: $(cat "$WORK/hijack2.out")"
python3 - "$WORK/hijack2.out" <<'PY' || fail "DISPLACED text: $(cat "$WORK/hijack2.out")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
e = [l for l in lines if l.get("type") == "ERROR"]
assert len(e) == 1 and e[0]["code"] == 7 and e[0]["tag"] == 0, e
assert e[0]["text"] == "worker 2: another connection with this worker's key said HELLO and took its shards", e
print("the displaced copy heard: " + e[0]["text"])
PY
pass "one connection per worker key: the newest HELLO wins, the older hears ERROR 7"

# --- 3. the copies gone, the real worker 2 takes its shards back -----------
# Back when the broker owns all 8 shards again and worker 2 has been granted
# its shards (READY) once more than it was displaced: nobody else holds the
# key now, so that is the real worker 2.
gone_at=$(date +%s)
i=0
while :; do
  broker_stats "$WORK/stats3.json"
  readys=$(grep -c "READY" "$WORK/worker2.log" || true)
  displaced=$(grep -c "DISPLACED" "$WORK/worker2.log" || true)
  if [ "$readys" -gt "$displaced" ] &&
    python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); sys.exit(0 if s["shards_owned"] == 8 else 1)' \
      "$WORK/stats3.json"; then
    break
  fi
  i=$((i + 1))
  [ $i -le 100 ] || fail "worker 2 did not take its shards back within 20 s: $(cat "$WORK/stats3.json")"
  sleep 0.2
done
now=$(date +%s)
echo "worker 2 owns shards 4-7 again $((now - gone_at)) s after the copies left," \
  "$((now - displaced_at)) s after it was displaced"
# The broker calls it back (ERROR 4) once the connection that displaced it
# is gone, so it need not wait out its 10 s pause.
[ $((now - gone_at)) -le 6 ] || fail "worker 2 took $((now - gone_at)) s to come back after the copies left"
[ "${PIDS[worker2]}" = "$worker2_pid" ] && kill -0 "$worker2_pid" || fail "worker 2 was restarted"
count_v01 32 --append
"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --json >"$WORK/tally.json"
python3 - "$WORK/expect-v01-31.json" "$WORK/expect-v01-32.json" >"$WORK/expect-v01.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
total = {}
for c in a["counters"] + b["counters"]:
    k = (c["subject"], c["item"], c["category"], c["mark"])
    total[k] = total.get(k, 0) + c["count"]
a["counters"] = [dict(subject=k[0], item=k[1], category=k[2], mark=k[3], count=v) for k, v in sorted(total.items())]
a["ballots"] += b["ballots"]
a["blank_ballots"] += b["blank_ballots"]
json.dump(a, sys.stdout)
PY
python3 "$SRC/tests/integration/compare.py" "$WORK/tally.json" "$WORK/expect-v01.json" ||
  fail "v01's count differs from its generators'"
broker_stats "$WORK/stats4.json"
python3 - "$WORK/stats4.json" <<'PY' || fail "broker counters: $(cat "$WORK/stats4.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["hello_refused"] == 2, s
assert s["workers_displaced"] >= 2, s      # the real worker 2 by the first copy, the first copy by the second
assert s["workers_recalled"] >= 1, s       # the real worker 2, when the second copy left
assert s["shards_owned"] == 8 and s["workers_live"] == 2, s
print("broker: hello_refused=%d workers_displaced=%d workers_recalled=%d workers_reconnected=%d" %
      (s["hello_refused"], s["workers_displaced"], s["workers_recalled"], s["workers_reconnected"]))
PY
pass "the real worker 2 took its shards back by itself; v01 counts 2 x $N ballots exactly"

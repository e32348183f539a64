#!/usr/bin/env bash
# Clean shutdown on SIGTERM and SIGINT (docs/exit-codes.md), each daemon in
# turn; the worker's batch on SIGTERM is test_worker_sigterm.sh's, not here.
#   broker:     exit 0 on each signal, and its sockets closed: a new broker
#               binds the same endpoint at once;
#   worker:     SIGINT exits 0 like SIGTERM;
#   client:     interrupted twice mid-count (SIGTERM, then SIGINT): exit 3
#               ("interrupted", docs/exit-codes.md), the outbox kept; the same
#               command run again finishes, and the shards hold exactly the
#               generator's expected tally;
#   aggregator: exit 0 on each signal, and its history kept: restarted on the
#               same --data (the broker down, so nothing can be fetched
#               again) it serves the very same history records.
source "$(dirname "$0")/lib.sh"

setup_deploy "$(drill_definition)" 1

# signal_exit NAME SIG WANT: send SIG to NAME, its status must be WANT
signal_exit() {
  local name=$1 sig=$2 want=$3 rc
  kill -"$sig" "${PIDS[$name]}"
  set +e
  wait "${PIDS[$name]}"
  rc=$?
  set -e
  unset "PIDS[$name]"
  [ $rc -eq "$want" ] || fail "$name exited $rc on SIG$sig, expected $want"
}

# --- broker ----------------------------------------------------------------------
for sig in TERM INT; do
  "$BIN/pingyi-broker" --deploy "$WORK/deploy" --bind "$ENDPOINT" --stats-every 0 >"$WORK/broker-$sig.log" 2>&1 &
  PIDS[broker]=$!
  # "listening on" here also says the previous broker let the endpoint go
  wait_for_log "$WORK/broker-$sig.log" "listening on" 10
  signal_exit broker $sig 0
  grep -q "stopping" "$WORK/broker-$sig.log" || fail "the broker did not log its stop on SIG$sig"
done
pass "broker: SIGTERM and SIGINT exit 0, its endpoint free again at once"

start_broker
# --- worker: SIGINT (SIGTERM is test_worker_sigterm.sh) ----------------------
start_worker 1 0-7
wait_workers 1
signal_exit worker1 INT 0
grep -q "stopped" "$WORK/worker1.log" || fail "the worker did not log its clean stop on SIGINT"
start_worker 1 0-7
wait_workers 2
pass "worker: SIGINT exits 0"

# the aggregator watches the whole count: its history grows record by record
HTTP_PORT=$(free_port)
AGG="http://127.0.0.1:$HTTP_PORT"
start_agg() {
  "$BIN/pingyi-agg" --deploy "$WORK/deploy" --broker "$ENDPOINT" --http "127.0.0.1:$HTTP_PORT" \
    --interval-ms 200 --data "$WORK/agg-data" >"$WORK/agg-$1.log" 2>&1 &
  PIDS[agg]=$!
  wait_for_log "$WORK/agg-$1.log" "listening on" 10
}
# history FILE: GET /api/v1/history?limit=10000 into FILE; prints the newest accepted
history() {
  python3 - "$AGG/api/v1/history?limit=10000" "$1" <<'PY'
import json, sys, urllib.request
body = urllib.request.urlopen(sys.argv[1], timeout=10).read()
open(sys.argv[2], "wb").write(body)
records = json.loads(body)["records"]
print(records[0]["accepted"] if records else 0)
PY
}
start_agg first

# --- client: interrupted twice, the outbox kept, then finished exactly -------------
N=100000
client() {
  "$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v03 --broker "$ENDPOINT" --generate "$N" --seed 3 \
    --expect "$WORK/expect.json" --outbox "$WORK/outbox" --timeout-ms 1000 >>"$WORK/client.out" 2>>"$WORK/client.log" &
  PIDS[client]=$!
}
client
wait_accepted 3000
kill -0 "${PIDS[client]}" 2>/dev/null || fail "the client finished before SIGTERM: raise N"
signal_exit client TERM 3
grep -q "interrupted" "$WORK/client.out" || fail "the client did not say it was interrupted: $(tail -3 "$WORK/client.out")"
[ -d "$WORK/outbox" ] || fail "the client's outbox is gone after SIGTERM"
first=$(accepted_now)
[ "$first" -lt "$N" ] || fail "the count finished before SIGTERM: raise N"
client
wait_accepted $((first + 3000))
if kill -0 "${PIDS[client]}" 2>/dev/null; then
  signal_exit client INT 3
  second=$(accepted_now)
  echo "client: interrupted at $first, then at $second of $N ballots"
  client
fi
wait "${PIDS[client]}" || fail "the client run after the interruptions exited $?"
unset "PIDS[client]"
"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --json >"$WORK/tally.json"
python3 "$SRC/tests/integration/compare.py" "$WORK/tally.json" "$WORK/expect.json" ||
  fail "the count after the client's interruptions is not exact"
pass "client: SIGTERM and SIGINT exit 3 with the outbox kept; run again it finishes, $N ballots counted exactly"

# --- aggregator: history kept across restarts ----------------------------------
"$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v01 --broker "$ENDPOINT" --generate 300 --seed 1 \
  --outbox "$WORK/outbox-v01" --close --issued 300 --collected 300 >"$WORK/client-v01.out" 2>"$WORK/client-v01.log" ||
  fail "client v01 exited $?"
TOTAL=$((N + 300))
i=0
until [ "$(history "$WORK/history-1.json")" = "$TOTAL" ]; do
  i=$((i + 1))
  [ $i -le 150 ] || fail "the aggregator's history never reached $TOTAL accepted: $(head -c 300 "$WORK/history-1.json")"
  sleep 0.2
done
records=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["records"]))' "$WORK/history-1.json")
[ "$records" -ge 2 ] || fail "the aggregator recorded $records history records: too few to tell a kept history"
# what it served just before the stop (it may still add a record between
# this fetch and the signal: a round that saw the last close, say)
history "$WORK/history-1.json" >/dev/null
signal_exit agg TERM 0
grep -q "stopped" "$WORK/agg-first.log" || fail "the aggregator did not log its clean stop on SIGTERM"
stop broker
start_agg second
history "$WORK/history-2.json" >/dev/null
python3 - "$WORK/history-1.json" "$WORK/history-2.json" <<'PY' || fail "the history after a restart differs"
import json, sys
a, b = (json.load(open(p))["records"] for p in sys.argv[1:3])
# every record served before the stop is served again, the same, in order;
# at most the records of the last moments before the signal follow
if b[:len(a)] != a:
    print("before: %d records, after: %d records, not the same" % (len(a), len(b)), file=sys.stderr)
    sys.exit(1)
PY
signal_exit agg INT 0
grep -q "stopped" "$WORK/agg-second.log" || fail "the aggregator did not log its clean stop on SIGINT"
pass "aggregator: SIGTERM and SIGINT exit 0; restarted, it serves the same $records history records (to $TOTAL accepted)"

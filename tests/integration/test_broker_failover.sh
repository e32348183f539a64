#!/usr/bin/env bash
# Two brokers: workers register with both, clients list both. Killing the
# broker a client uses makes it fail over to the other; nothing is lost and
# nothing is counted twice.
source "$(dirname "$0")/lib.sh"

N=100000
setup_deploy "$SRC/examples/2022-district-review.json" 2
ENDPOINT_A=$ENDPOINT
ENDPOINT_B="tcp://127.0.0.1:$(free_port)"
"$BIN/pingyi-broker" --deploy "$WORK/deploy" --bind "$ENDPOINT_A" --stats-every 0 >>"$WORK/brokerA.log" 2>&1 &
PIDS[brokerA]=$!
"$BIN/pingyi-broker" --deploy "$WORK/deploy" --bind "$ENDPOINT_B" --stats-every 0 >>"$WORK/brokerB.log" 2>&1 &
PIDS[brokerB]=$!
wait_for_log "$WORK/brokerA.log" "listening on" 10
wait_for_log "$WORK/brokerB.log" "listening on" 10
ENDPOINT="$ENDPOINT_A,$ENDPOINT_B"
start_worker 1 0-3
start_worker 2 4-7
for f in brokerA brokerB; do
  i=0
  while [ "$(grep -c 'owns shards' "$WORK/$f.log" || true)" -lt 2 ]; do
    i=$((i + 1)); [ $i -le 100 ] || fail "workers did not register with $f"; sleep 0.1
  done
done

clients=()
for v in v01 v02; do
  "$BIN/pingyi-client" --deploy "$WORK/deploy" --venue $v --broker "$ENDPOINT_A,$ENDPOINT_B" --generate "$N" \
    --seed 7 --expect "$WORK/expect-$v.json" --outbox "$WORK/outbox-$v" --timeout-ms 500 \
    >"$WORK/client-$v.out" 2>"$WORK/client-$v.log" &
  clients+=($!)
done
wait_accepted 10000
for p in "${clients[@]}"; do kill -0 "$p" 2>/dev/null || fail "a client finished before the broker died: raise N"; done
stop brokerA KILL
echo "killed broker A"
for p in "${clients[@]}"; do wait "$p" || fail "a client exited non-zero after failover"; done
"$BIN/pingyi" stats --deploy "$WORK/deploy" --broker "$ENDPOINT_B" --json >"$WORK/statsB.json" || fail "stats of B"
python3 - "$WORK/statsB.json" <<'PY' || fail "broker B carried nothing: $(cat "$WORK/statsB.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["envelopes_forwarded"] > 0, s
print("broker B forwarded %d envelopes after the failover" % s["envelopes_forwarded"])
PY
"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --json >"$WORK/tally.json"
python3 "$SRC/tests/integration/compare.py" "$WORK/tally.json" "$WORK/expect-v01.json" "$WORK/expect-v02.json" \
  || fail "the failover lost or doubled ballots"
pass "a client fails over to the second broker; 2 x $N ballots counted exactly once"

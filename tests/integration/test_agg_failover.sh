#!/usr/bin/env bash
# pingyi-agg with two brokers: it queries through the first; when that
# broker dies (kill -9) it hears nothing for a few rounds, switches to the
# second, and every shard is fresh again there with the same figures.
source "$(dirname "$0")/lib.sh"

N=500
INTERVAL=300
STALE=5000
setup_deploy "$(drill_definition)" 2
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
    i=$((i + 1))
    [ $i -le 100 ] || fail "workers did not register with $f"
    sleep 0.1
  done
done

HTTP_PORT=$(free_port)
AGG="http://127.0.0.1:$HTTP_PORT"
"$BIN/pingyi-agg" --deploy "$WORK/deploy" --broker "$ENDPOINT_A,$ENDPOINT_B" --http "127.0.0.1:$HTTP_PORT" \
  --interval-ms $INTERVAL --stale-ms $STALE --data "$WORK/agg-data" >>"$WORK/agg.log" 2>&1 &
PIDS[agg]=$!
wait_for_log "$WORK/agg.log" "listening on" 10

"$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v01 --broker "$ENDPOINT_B" --generate "$N" --seed 3 \
  --outbox "$WORK/outbox-v01" --close --issued "$N" --collected "$N" >"$WORK/client.out" 2>"$WORK/client.log" \
  || fail "the client failed"

# summary.py URL: exit 0 when every shard is fresh and N are counted
cat >"$WORK/summary.py" <<'PY'
import json, sys, urllib.request
s = json.load(urllib.request.urlopen(sys.argv[1] + "/api/v1/summary", timeout=5))
sys.exit(0 if s["stale_shards"] == 0 and s["status"]["accepted"] == int(sys.argv[2]) else 1)
PY
wait_view() {
  local i=0
  until python3 "$WORK/summary.py" "$AGG" "$N"; do
    i=$((i + 1))
    [ $i -le 150 ] || fail "$1"
    sleep 0.1
  done
}
wait_view "the view never showed $N ballots through broker A"
pass "$N ballots seen through broker A"

stop brokerA KILL
wait_for_log "$WORK/agg.log" "switching to $ENDPOINT_B" 10
# fresh through B: a snapshot newer than the switch
sleep 0.5
wait_view "the view never became fresh through broker B"
python3 - "$AGG" "$ENDPOINT_B" <<'PY' || fail "stats after the failover"
import json, sys, urllib.request
s = json.load(urllib.request.urlopen(sys.argv[1] + "/api/v1/stats", timeout=5))
assert s["broker"] == sys.argv[2], s["broker"]
assert s["poller"]["failovers"] == 1, s["poller"]
PY
pass "broker A killed: the aggregator switched to B and every shard is fresh"

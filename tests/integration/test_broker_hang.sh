#!/usr/bin/env bash
# Two brokers: workers register with both, clients list both (A first). Broker
# A is hung with SIGSTOP mid-run, not killed (test_broker_failover.sh kills
# it): its process holds the port and the TCP connections stay up, so only
# the silence tells. The clients must fail over to B, finish and close with
# exit 0 while A stays hung; then A is let go (SIGCONT), replays whatever it
# held, and is stopped. Every ballot is counted exactly once, every venue
# closed, and the recount is clean.
source "$(dirname "$0")/lib.sh"

N=${PINGYI_IT_HANG_BALLOTS:-60000}
VENUES="v01 v02 v03"   # shards 6, 3, 0: both workers carry venues
create=$("$BIN/pingyi-worker" --help 2>&1 | grep -q -- '--create' && echo --create || true)
setup_deploy "$(drill_definition)" 2
ENDPOINT_A=$ENDPOINT
ENDPOINT_B="tcp://127.0.0.1:$(free_port)"
for b in A B; do
  ep=ENDPOINT_$b
  "$BIN/pingyi-broker" --deploy "$WORK/deploy" --bind "${!ep}" --stats-every 0 >>"$WORK/broker$b.log" 2>&1 &
  PIDS[broker$b]=$!
  wait_for_log "$WORK/broker$b.log" "listening on" 10
done
for id in 1 2; do
  # shellcheck disable=SC2086
  "$BIN/pingyi-worker" --deploy "$WORK/deploy" --id $id --broker "$ENDPOINT_A,$ENDPOINT_B" --data "$WORK/data" \
    $create >>"$WORK/worker$id.log" 2>&1 &
  PIDS[worker$id]=$!
done
for b in A B; do
  i=0
  while [ "$(grep -c 'owns shards' "$WORK/broker$b.log" || true)" -lt 2 ]; do
    i=$((i + 1)); [ $i -le 100 ] || fail "workers did not register with broker $b"; sleep 0.1
  done
done

seed=31
for v in $VENUES; do
  "$BIN/pingyi-client" --deploy "$WORK/deploy" --venue $v --broker "$ENDPOINT_A,$ENDPOINT_B" --generate "$N" \
    --seed $seed --expect "$WORK/expect-$v.json" --outbox "$WORK/outbox-$v" --timeout-ms 500 --give-up-s 150 \
    --close --issued "$N" --collected "$N" --json >"$WORK/client-$v.json" 2>"$WORK/client-$v.log" &
  PIDS[client-$v]=$!
  seed=$((seed + 1))
done

wait_accepted $((N / 3))
for v in $VENUES; do
  kill -0 "${PIDS[client-$v]}" 2>/dev/null || fail "client $v finished before broker A hung: raise PINGYI_IT_HANG_BALLOTS"
done
kill -STOP "${PIDS[brokerA]}"
hung_at=$(accepted_now)
echo "broker A hung (SIGSTOP) with $hung_at of $((3 * N)) ballots committed"
[ "$hung_at" -lt $((3 * N)) ] || fail "the count finished before broker A hung: raise PINGYI_IT_HANG_BALLOTS"

for v in $VENUES; do
  rc=0
  wait "${PIDS[client-$v]}" || rc=$?
  unset "PIDS[client-$v]"
  [ $rc -eq 0 ] || fail "client $v exited $rc with broker A hung: $(tail -n 5 "$WORK/client-$v.log")"
done
[ "$(ps -o stat= -p "${PIDS[brokerA]}" | cut -c1)" = T ] || fail "broker A was not hung until the clients were done"
echo "every client finished with broker A still hung"
for v in $VENUES; do
  grep -q "failing over to $ENDPOINT_B" "$WORK/client-$v.log" ||
    fail "client $v did not say it failed over to B: $(tail -n 5 "$WORK/client-$v.log")"
done
"$BIN/pingyi" stats --deploy "$WORK/deploy" --broker "$ENDPOINT_B" --json >"$WORK/statsB.json" || fail "stats of B"
python3 - "$WORK/statsB.json" <<'PY' || fail "broker B carried nothing: $(cat "$WORK/statsB.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["envelopes_forwarded"] > 0, s
print("broker B forwarded %d envelopes after the hang" % s["envelopes_forwarded"])
PY

# let A go: whatever it held is delivered late (duplicates to the workers,
# or refused as the venues are closed); then stop it and the workers
kill -CONT "${PIDS[brokerA]}"
sleep 2
for name in brokerA brokerB worker1 worker2; do
  kill -0 "${PIDS[$name]}" 2>/dev/null || fail "$name died: $(tail -n 5 "$WORK/$name.log")"
  kill -TERM "${PIDS[$name]}"
  rc=0
  wait "${PIDS[$name]}" || rc=$?
  unset "PIDS[$name]"
  [ $rc -eq 0 ] || fail "$name exited $rc on SIGTERM: $(tail -n 5 "$WORK/$name.log")"
done

"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --json >"$WORK/tally.json"
python3 "$SRC/tests/integration/compare.py" "$WORK/tally.json" "$WORK"/expect-v0*.json ||
  fail "the hung broker lost or doubled ballots"
python3 - "$WORK/tally.json" "$N" "$WORK"/client-v0*.json <<'PY' || fail "venue figures"
import json, sys
t = json.load(open(sys.argv[1])); n = int(sys.argv[2])
assert len(t["venues"]) == 3, t["venues"]
for v in t["venues"]:
    assert v["closed"] is True and not v.get("void"), v
    assert v["issued"] == n and v["collected"] == n and v["sent"] == n and v["accepted"] == n, v
    assert v["rejected"] == 0, v
for path in sys.argv[3:]:
    s = json.loads(open(path).read().strip().splitlines()[-1])
    r = s["reconciliation"]
    assert s["accepted"] + s["duplicates"] == n and r["closed"] is True and r["void"] is False, s
print("every venue closed and reconciled")
PY
"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --recount >/dev/null 2>"$WORK/recount.log" ||
  fail "recount differs: $(cat "$WORK/recount.log")"
[ "$(grep -c 'matches counters and digest' "$WORK/recount.log")" -eq 8 ] || fail "not every shard was recounted"
pass "broker A hung (SIGSTOP) mid-run: the clients fail over to B and exit 0; 3 x $N ballots counted exactly once"

#!/usr/bin/env bash
# kill -9 a worker, a client and the broker in the middle of a count, restart
# each: when the system settles every ballot is counted exactly once.
source "$(dirname "$0")/lib.sh"

N=${PINGYI_IT_CRASH_BALLOTS:-60000}
setup_deploy "$SRC/examples/2022-district-review.json" 2
start_broker
start_worker 1 0-3
start_worker 2 4-7
wait_workers 2

run_client() {   # venue seed
  "$BIN/pingyi-client" --deploy "$WORK/deploy" --venue "$1" --broker "$ENDPOINT" --generate "$N" --seed "$2" \
    --expect "$WORK/expect-$1.json" --outbox "$WORK/outbox-$1" --timeout-ms 1000 --json \
    >>"$WORK/client-$1.json" 2>>"$WORK/client-$1.log" &
  PIDS[client-$1]=$!
}
run_client v01 21
run_client v02 22
run_client v03 23

running() { kill -0 "${PIDS[$1]}" 2>/dev/null; }

# 1. both workers die mid-run and come back on the same data.
wait_accepted $((N / 4))
stop worker1 KILL
stop worker2 KILL
n=$(accepted_now)
echo "killed both workers with $n of $((3 * N)) ballots committed"
[ "$n" -lt $((3 * N)) ] || fail "the count finished before the workers were killed: raise PINGYI_IT_CRASH_BALLOTS"
sleep 0.5
start_worker 1 0-3
start_worker 2 4-7

# 2. a client dies mid-run and restarts on the same outbox (after the
#    restarted workers have committed more).
wait_accepted $(($(accepted_now) + N / 6))
running client-v02 || fail "client v02 finished before it was killed: raise PINGYI_IT_CRASH_BALLOTS"
stop client-v02 KILL
echo "killed client v02 with $(accepted_now) ballots committed"
run_client v02 22

# 3. the broker dies and comes back on the same endpoint.
wait_accepted $(($(accepted_now) + N / 6))
running client-v02 || fail "client v02 finished before the broker was killed: raise PINGYI_IT_CRASH_BALLOTS"
stop broker KILL
echo "killed the broker with $(accepted_now) ballots committed"
sleep 0.5
start_broker

for v in v01 v02 v03; do
  wait "${PIDS[client-$v]}" || fail "client $v exited non-zero"
  unset "PIDS[client-$v]"
done
"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --json >"$WORK/tally.json"
python3 "$SRC/tests/integration/compare.py" "$WORK/tally.json" "$WORK"/expect-v0*.json \
  || fail "a crash lost or doubled ballots"
"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --recount >/dev/null 2>"$WORK/recount.log" \
  || fail "recount differs: $(cat "$WORK/recount.log")"
pass "kill -9 of workers, a client and the broker mid-run: 3 x $N ballots counted exactly once"

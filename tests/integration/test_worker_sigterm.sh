#!/usr/bin/env bash
# SIGTERM to a worker mid-run: it commits what it holds, acknowledges it and
# exits 0; a worker restarted on the same data finishes the count exactly.
source "$(dirname "$0")/lib.sh"

N=100000
setup_deploy "$SRC/examples/2022-district-review.json" 1
start_broker
start_worker 1 0-7
wait_workers 1

"$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v03 --broker "$ENDPOINT" --generate "$N" --seed 3 \
  --expect "$WORK/expect.json" --outbox "$WORK/outbox" --timeout-ms 1000 >"$WORK/client.out" 2>"$WORK/client.log" &
PIDS[client]=$!
wait_accepted 5000
kill -0 "${PIDS[client]}" 2>/dev/null || fail "the client finished before SIGTERM: raise N"
kill -TERM "${PIDS[worker1]}"
set +e
wait "${PIDS[worker1]}"
rc=$?
set -e
unset "PIDS[worker1]"
[ $rc -eq 0 ] || fail "the worker exited $rc on SIGTERM, expected 0"
grep -q "stopped" "$WORK/worker1.log" || fail "the worker did not log its clean stop"
committed=$("$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --json |
  python3 -c 'import json,sys; print(sum(v["accepted"] for v in json.load(sys.stdin)["venues"]))')
echo "worker stopped cleanly with $committed of $N ballots committed"
[ "$committed" -lt "$N" ] || fail "the count finished before SIGTERM: raise N"

start_worker 1 0-7
wait "${PIDS[client]}" || fail "the client exited non-zero"
unset "PIDS[client]"
"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --json >"$WORK/tally.json"
python3 "$SRC/tests/integration/compare.py" "$WORK/tally.json" "$WORK/expect.json" || fail "count after SIGTERM"
pass "SIGTERM: the worker exits 0, and after restart $N ballots are counted exactly"

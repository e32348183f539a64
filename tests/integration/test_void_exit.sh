#!/usr/bin/env bash
# A void round is not a success: more forms collected than issued, or more
# ballots accepted than collected, ends the venue client with exit status 4
# (docs/client.md), after every ballot was delivered exactly.
source "$(dirname "$0")/lib.sh"

setup_deploy "$SRC/examples/2022-district-review.json" 1
start_broker
start_worker 1 0-7
wait_workers 1

set +e
"$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v01 --broker "$ENDPOINT" --generate 20 --seed 3 \
  --expect "$WORK/expect.json" --outbox "$WORK/outbox" --close --issued 10 --collected 20 \
  >"$WORK/client.out" 2>"$WORK/client.log"
rc=$?
set -e
[ $rc -eq 4 ] || fail "collected 20 > issued 10 exited $rc, want 4: $(tail -3 "$WORK/client.log")"
grep -q 'VOID: collected 20 > issued 10' "$WORK/client.out" "$WORK/client.log" || fail "no VOID line: $(cat "$WORK/client.out")"
"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --json >"$WORK/tally.json"
python3 "$SRC/tests/integration/compare.py" --dup 0 "$WORK/tally.json" "$WORK/expect.json" || fail "count"
pass "a void round exits 4, its 20 ballots counted exactly"

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

# The definition bounds the close: v02 was issued 80 forms, so a close that
# declares more (to turn a void round into a reconciled one) is refused by
# the client before it starts (exit 2) ...
set +e
"$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v02 --broker "$ENDPOINT" --generate 5 --seed 4 \
  --outbox "$WORK/outbox-v02" --close --issued 90 --collected 85 >"$WORK/v02.out" 2>"$WORK/v02.log"
rc=$?
set -e
want='venue v02: issued 90 is more than the 80 forms its definition says were issued; a close may declare fewer, never more (a wrong definition is for the election office to correct)'
[ $rc -eq 2 ] || fail "--issued 90 for a venue issued 80 exited $rc, want 2"
grep -qF "$want" "$WORK/v02.log" || fail "no bound message: $(tail -3 "$WORK/v02.log")"
[ ! -e "$WORK/outbox-v02" ] || fail "the refused client took ballots into its outbox"

# ... and by the worker, for a client whose copy of the definition was edited
# to drop the bound: VENUE_CLOSE refused (ERROR 2, counted), the venue stays open.
python3 - "$WORK/deploy/venue/v02/election.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
d["venues"][0].pop("issued")
json.dump(d, open(sys.argv[1], "w", encoding="utf-8"), ensure_ascii=False)
PY
set +e
"$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v02 --broker "$ENDPOINT" --generate 5 --seed 4 \
  --expect "$WORK/expect-v02.json" --outbox "$WORK/outbox-v02" --close --issued 90 --collected 85 \
  >"$WORK/v02b.out" 2>"$WORK/v02b.log"
rc=$?
set -e
[ $rc -eq 2 ] || fail "a close over the definition's issued exited $rc, want 2: $(tail -3 "$WORK/v02b.log")"
grep -qF "$want" "$WORK/v02b.log" || fail "the worker's refusal is not shown: $(tail -3 "$WORK/v02b.log")"
grep -qF "VENUE_CLOSE refused: $want" "$WORK/worker1.log" || fail "the worker did not log the refusal"
"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --json >"$WORK/tally2.json"
python3 - "$WORK/tally2.json" <<'PY' || fail "v02 after the refused close"
import json, sys
v = [v for v in json.load(open(sys.argv[1]))["venues"] if v["venue"] == "v02"][0]
assert v["closed"] is False and v["accepted"] == 5, v
PY
pass "a close declaring more than the definition's issued is refused by the client and by the worker"

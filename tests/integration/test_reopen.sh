#!/usr/bin/env bash
# Close is a decision, a reopen its correction: a venue closed with wrong
# totals (collected 40 for 50 ballots: VOID) is reopened by an operator with
# a reason (`pingyi reopen`), shows open with reopens 1 ("v01 reopened" in the
# PROVISIONAL reasons), and its client closes it again with the right totals:
# reconciled.  A venue key may not send VENUE_REOPEN (the broker refuses it,
# ERROR 2), and reopening an open venue is refused with its reason.
source "$(dirname "$0")/lib.sh"

PY=${PINGYI_PYTHON_ZMQ:-/usr/bin/python3}
ATTACK="$SRC/tests/security/attack.py"

setup_deploy "$SRC/examples/2022-district-review.json" 1
start_broker
start_worker 1 0-7
wait_workers 1

venue_json() { # the offline view of v01, one field
  "$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --json |
    python3 -c 'import json,sys; v=[v for v in json.load(sys.stdin)["venues"] if v["venue"]=="v01"][0]; print(v[sys.argv[1]])' "$1"
}

# 1. Closed with the wrong totals: void.
set +e
"$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v01 --broker "$ENDPOINT" --generate 50 --seed 5 \
  --expect "$WORK/expect.json" --outbox "$WORK/outbox" --close --issued 50 --collected 40 \
  >"$WORK/client1.out" 2>"$WORK/client1.log"
rc=$?
set -e
[ $rc -eq 4 ] || fail "collected 40 for 50 ballots exited $rc, want 4: $(tail -3 "$WORK/client1.log")"
[ "$(venue_json closed)" = "True" ] || fail "v01 not closed after the first close"

# 2. A venue key may not reopen (the broker refuses it); an operator
#    connection whose VENUE_REOPEN carries no valid MAC (what a broker lying
#    about a sender's role would have to send) is refused by the worker.
"$PY" "$ATTACK" --deploy "$WORK/deploy" --bundle "$WORK/deploy/venue/v01" --broker "$ENDPOINT" --timeout 5 \
  reopen:v01 expect:ERROR:2 >"$WORK/attack.out" 2>&1 || fail "a venue's VENUE_REOPEN was not refused: $(cat "$WORK/attack.out")"
grep -q 'a venue key may not send VENUE_REOPEN' "$WORK/attack.out" || fail "refusal text: $(cat "$WORK/attack.out")"
"$PY" "$ATTACK" --deploy "$WORK/deploy" --bundle "$WORK/deploy/operator" --broker "$ENDPOINT" --timeout 5 \
  reopen:v01 expect:ERROR:2 >"$WORK/attack2.out" 2>&1 || fail "a VENUE_REOPEN without its MAC was not refused: $(cat "$WORK/attack2.out")"
grep -q 'VENUE_REOPEN for venue v01 refused: its MAC does not verify' "$WORK/attack2.out" \
  || fail "refusal text: $(cat "$WORK/attack2.out")"
[ "$(venue_json closed)" = "True" ] || fail "a forged VENUE_REOPEN reopened v01"
pass "a venue key's VENUE_REOPEN is refused by the broker, one without the operator's MAC by the worker; v01 stays closed"

# 3. The operator reopens it, with a reason.
"$BIN/pingyi" reopen --deploy "$WORK/deploy" --broker "$ENDPOINT" --venue v01 --reason "收回数录错" \
  >"$WORK/reopen.out" 2>"$WORK/reopen.err" || fail "reopen failed: $(cat "$WORK/reopen.err")"
grep -q 'venue v01 reopened (reopen 1): open' "$WORK/reopen.out" || fail "reopen output: $(cat "$WORK/reopen.out")"
grep -q 'accepted 50 ' "$WORK/reopen.out" || fail "reopen figures: $(cat "$WORK/reopen.out")"
grep -q 'v01 reopened.*收回数录错' "$WORK/worker1.log" || fail "the worker did not log the reason"
[ "$(venue_json closed)" = "False" ] || fail "v01 not open after the reopen"
[ "$(venue_json reopens)" = "1" ] || fail "v01 reopens $(venue_json reopens), want 1"
[ "$(venue_json collected)" = "-1" ] || fail "v01's declared collected survived the reopen"
"$BIN/pingyi" query --deploy "$WORK/deploy" --data "$WORK/data" >"$WORK/view1.txt" 2>&1 || true
grep -q 'v01 reopened' "$WORK/view1.txt" || fail "the view does not say v01 reopened: $(head -20 "$WORK/view1.txt")"
pass "the operator reopened v01 (reopens 1, open, \"v01 reopened\" in the view)"

# 4. Reopening an open venue is refused, exactly.
set +e
"$BIN/pingyi" reopen --deploy "$WORK/deploy" --broker "$ENDPOINT" --venue v01 --reason "again" \
  >"$WORK/reopen2.out" 2>"$WORK/reopen2.err"
rc=$?
set -e
[ $rc -eq 1 ] || fail "reopening an open venue exited $rc, want 1"
grep -qx 'pingyi reopen: refused: venue v01 is not closed' "$WORK/reopen2.err" ||
  fail "refusal text: $(cat "$WORK/reopen2.err")"
[ "$(venue_json reopens)" = "1" ] || fail "a refused reopen counted"
pass "reopening an open venue is refused: venue v01 is not closed"

# 5. The client closes again with the right totals: reconciled.
"$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v01 --broker "$ENDPOINT" --generate 50 --seed 5 \
  --outbox "$WORK/outbox" --close --issued 50 --collected 50 \
  >"$WORK/client2.out" 2>"$WORK/client2.log" || fail "the second close exited $?: $(tail -3 "$WORK/client2.log")"
[ "$(venue_json closed)" = "True" ] || fail "v01 not closed after the second close"
[ "$(venue_json collected)" = "50" ] || fail "v01 collected $(venue_json collected), want 50"
[ "$(venue_json reopens)" = "1" ] || fail "v01 reopens after the new close $(venue_json reopens), want 1"
"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --json >"$WORK/tally.json"
python3 "$SRC/tests/integration/compare.py" --dup 0 "$WORK/tally.json" "$WORK/expect.json" || fail "count"
"$BIN/pingyi" query --deploy "$WORK/deploy" --data "$WORK/data" >"$WORK/view2.txt" 2>&1 || true
if grep -q 'v01 reopened\|v01 void\|v01 open' "$WORK/view2.txt"; then
  fail "v01 still held after its new close: $(grep 'v01' "$WORK/view2.txt" | head -5)"
fi
pass "closed again with the right totals: reconciled, 50 ballots counted exactly"

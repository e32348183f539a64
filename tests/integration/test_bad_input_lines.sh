#!/usr/bin/env bash
# A CSV with bad lines: each is reported as FILE:LINE:COLUMN: reason and not
# sent, everything else is counted exactly, and the client exits 1.
source "$(dirname "$0")/lib.sh"

setup_deploy "$(drill_definition)" 1
start_broker
start_worker 1 0-7
wait_workers 1

cd "$WORK"
python3 "$SRC/tests/integration/make_csv.py" "$WORK/drill-election.json" ballots.csv expect.json \
  want-errors.txt >/dev/null
set +e
"$BIN/pingyi-client" --deploy deploy --venue v01 --broker "$ENDPOINT" --input ballots.csv --outbox outbox --json \
  >client.json 2>client.log
rc=$?
set -e
[ $rc -eq 1 ] || fail "a client with bad input lines exited $rc, expected 1"
grep -E '^ballots\.csv:' client.log >got-errors.txt || true
diff -u want-errors.txt got-errors.txt || fail "error lines differ"
python3 - client.json <<'PY' || fail "client summary: $(cat client.json)"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["ballots_read"] == 297 and s["bad_lines"] == 3 and s["accepted"] == 297, s
print("297 ballots sent, 3 bad lines reported")
PY
"$BIN/pingyi" tally --deploy deploy --data data --json >tally.json
python3 "$SRC/tests/integration/compare.py" tally.json expect.json || fail "the good lines were not counted exactly"
pass "bad lines reported with FILE:LINE:COLUMN, the rest counted exactly"

# Closing is a decision: bad lines left unresolved hold the close back (exit
# 1, the venue stays open); --close-with-bad-lines closes without them, and
# collected then counts the ballots read, not the bad lines.
set +e
"$BIN/pingyi-client" --deploy deploy --venue v01 --broker "$ENDPOINT" --input ballots.csv --outbox outbox --close \
  --issued 300 >close1.out 2>close1.log
rc=$?
set -e
[ $rc -eq 1 ] || fail "a close with bad lines left exited $rc, expected 1"
grep -qF "venue v01: 3 bad lines (listed above) are not counted: the close is not sent; correct them and run again, or give --close-with-bad-lines to close without them" close1.log \
  || fail "no hold-back message: $(tail -3 close1.log)"
"$BIN/pingyi" tally --deploy deploy --data data --json >tally2.json
python3 - tally2.json <<'PY' || fail "venue v01 was closed with bad lines unresolved"
import json, sys
v = [v for v in json.load(open(sys.argv[1]))["venues"] if v["venue"] == "v01"][0]
assert v["closed"] is False, v
PY
set +e
"$BIN/pingyi-client" --deploy deploy --venue v01 --broker "$ENDPOINT" --input ballots.csv --outbox outbox --close \
  --close-with-bad-lines --issued 300 >close2.out 2>close2.log
rc=$?
set -e
[ $rc -eq 1 ] || fail "a close with --close-with-bad-lines exited $rc, expected 1 (bad lines)"
"$BIN/pingyi" tally --deploy deploy --data data --json >tally3.json
python3 - tally3.json <<'PY' || fail "the close with --close-with-bad-lines"
import json, sys
v = [v for v in json.load(open(sys.argv[1]))["venues"] if v["venue"] == "v01"][0]
assert v["closed"] is True and v["collected"] == 297 and v["issued"] == 300 and v["accepted"] == 297, v
PY
pass "bad lines hold the close back; --close-with-bad-lines closes with collected = ballots read (297)"

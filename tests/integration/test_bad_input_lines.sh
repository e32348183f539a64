#!/usr/bin/env bash
# A CSV with bad lines: each is reported as FILE:LINE:COLUMN: reason and not
# sent, everything else is counted exactly, and the client exits 1.
source "$(dirname "$0")/lib.sh"

setup_deploy "$SRC/examples/2022-district-review.json" 1
start_broker
start_worker 1 0-7
wait_workers 1

cd "$WORK"
python3 "$SRC/tests/integration/make_csv.py" "$SRC/examples/2022-district-review.json" ballots.csv expect.json \
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

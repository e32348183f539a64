#!/usr/bin/env bash
# The same sealed ballots sent twice: the second time every one is answered
# "duplicate" and no counter moves.  A copy of a venue's outbox taken after
# ingest (--ingest-only) and before sending holds the very same envelopes.
source "$(dirname "$0")/lib.sh"

N=3000
setup_deploy "$SRC/examples/2022-district-review.json" 1
start_broker
start_worker 1 0-7
wait_workers 1

client() {
  "$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v02 --broker "$ENDPOINT" --generate "$N" --seed 5 \
    --expect "$WORK/expect.json" --json "$@"
}
client --outbox "$WORK/outbox" --ingest-only >/dev/null 2>"$WORK/ingest.log" || fail "ingest-only failed"
cp -a "$WORK/outbox" "$WORK/outbox-copy"
client --outbox "$WORK/outbox" >"$WORK/first.json" 2>"$WORK/first.log" || fail "first send failed"
"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --json >"$WORK/tally1.json"
python3 "$SRC/tests/integration/compare.py" --dup 0 "$WORK/tally1.json" "$WORK/expect.json" || fail "first count"

# The copy was never cleared to send and the shard already holds all N of
# v02's ballots: without --append the client refuses (a fresh outbox cannot
# tell its own envelopes from the same file sealed again under new ids).
# This is the attack case of sending twice, so it is forced with --append;
# the envelopes are the same, so the shard answers duplicate to every one.
client --outbox "$WORK/outbox-copy" --append >"$WORK/second.json" 2>"$WORK/second.log" || fail "second send failed"
"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --json >"$WORK/tally2.json"
python3 "$SRC/tests/integration/compare.py" --dup "$N" "$WORK/tally2.json" "$WORK/expect.json" \
  || fail "counters moved on resend"
python3 - "$WORK/first.json" "$WORK/second.json" "$N" <<'PY' || fail "client summaries"
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2])); n = int(sys.argv[3])
assert a["accepted"] == n and a["duplicates"] == 0, a
assert b["accepted"] == 0 and b["duplicates"] == n, b
print("first send: %d accepted; second: %d duplicates" % (a["accepted"], b["duplicates"]))
PY
pass "resending $N sealed ballots: all duplicates, counters unchanged"

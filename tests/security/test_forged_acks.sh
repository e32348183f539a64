#!/usr/bin/env bash
# A broker gone bad (it holds the real broker's key) forges what would make a
# venue give up its ballots: ACK "accepted" with the right receipts and
# VENUE_STATUS "closed, reconciled".  The venue client must refuse every one
# (their MACs are not under its link key), say why, and keep its envelopes;
# run again against the real system, it delivers all of them, exactly.  The
# same broker then forges a VENUE_CLOSE to a real worker: refused, counted,
# and the venue's round stays open.
source "$(dirname "$0")/../integration/lib.sh"

PY=/usr/bin/python3
N=60
setup_deploy "$SRC/examples/2022-district-review.json" 1

# --- 1. forged ACK and VENUE_STATUS reach a venue client -------------------
"$PY" "$SRC/tests/security/fake_broker.py" --deploy "$WORK/deploy" --bind "$ENDPOINT" --mode forge-acks \
  --seconds 60 >"$WORK/fake.jsonl" 2>"$WORK/fake.log" &
PIDS[fake]=$!
wait_for_log "$WORK/fake.jsonl" '"listening"' 10
start_worker 1 0-7

CLIENT=("$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v01 --broker "$ENDPOINT" --generate "$N" --seed 11
  --outbox "$WORK/outbox" --expect "$WORK/expect.json" --close --json)
"${CLIENT[@]}" >"$WORK/c1.json" 2>"$WORK/c1.log" &
PIDS[client]=$!
# it must be answered several times (forged ACKs and statuses) and believe none
wait_for_log "$WORK/fake.jsonl" '"forged_ack"' 20
wait_for_log "$WORK/c1.log" 'MAC does not verify' 20
sleep 2
kill -0 "${PIDS[client]}" 2>/dev/null || fail "the client stopped, as if the forged acks had been believed"
stop client TERM
stop fake KILL
stop worker1 TERM
grep -q '"relayed"' "$WORK/fake.jsonl" || fail "the genuine VENUE_STATUS was never relayed"
acks=$(grep -c '"forged_ack"' "$WORK/fake.jsonl" || true)
[ "$acks" -ge 1 ] || fail "the fake broker answered no SUBMIT"
grep -q 'refused [0-9]* ACK message.* whose MAC does not verify: not from the worker of our shard' "$WORK/c1.log" \
  || fail "client did not say why it refused: $(tail -5 "$WORK/c1.log")"
grep -q 'reconciled' "$WORK/c1.log" "$WORK/c1.json" && fail "client printed a reconciliation from a forged status"
python3 - "$WORK/c1.json" "$N" <<'PY' || fail "client summary after the forged acks: $(cat "$WORK/c1.json")"
import json, sys
s = json.load(open(sys.argv[1])); n = int(sys.argv[2])
assert s["refused"]["forged_acks"] >= 1 and s["refused"]["forged_statuses"] >= 1, s
assert s["accepted"] == 0 and s["pending"] == n, s
PY
pass "a venue client refuses $acks forged ACKs (right receipts, wrong MAC) and keeps its envelopes"

# --- 2. the real system: every kept envelope is delivered, exactly ---------
start_broker
start_worker 1 0-7
wait_workers 1
"${CLIENT[@]}" >"$WORK/c2.json" 2>"$WORK/c2.log" || fail "second run failed: $(tail -5 "$WORK/c2.log")"
"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --json >"$WORK/tally.json"
python3 "$SRC/tests/integration/compare.py" --dup 0 "$WORK/tally.json" "$WORK/expect.json" \
  || fail "count differs from the generator's after the forged acks"
python3 - "$WORK/c2.json" "$N" <<'PY' || fail "client summary"
import json, sys
s = json.load(open(sys.argv[1])); n = int(sys.argv[2])
assert s["accepted"] == n and s["duplicates"] == 0, s
PY
pass "after the forgeries the venue's $N ballots are all counted once"

# A close is recorded once: the same client again with other totals (or the
# broker replaying an earlier genuine close) cannot rewrite it.
set +e
"${CLIENT[@]}" --collected 1 >"$WORK/c3.json" 2>"$WORK/c3.log"
rc=$?
set -e
[ $rc -ne 0 ] || fail "a second close with other totals was accepted"
grep -q "venue v01 is already closed with issued [0-9]*, collected $N, sent $N: a close is not rewritten" \
  "$WORK/c3.log" || fail "no refusal of the rewritten close: $(tail -3 "$WORK/c3.log")"
"${CLIENT[@]}" >"$WORK/c4.json" 2>"$WORK/c4.log" || fail "the same close again was refused: $(tail -3 "$WORK/c4.log")"
pass "a recorded close is not rewritten (other totals refused, the same totals answered again)"
stop worker1 TERM
stop broker TERM

# --- 3. a forged VENUE_CLOSE reaches a worker -------------------------------
rm -f "$WORK/broker.log"
"$PY" "$SRC/tests/security/fake_broker.py" --deploy "$WORK/deploy" --bind "$ENDPOINT" --mode forge-close \
  --venue v02 --seconds 20 >"$WORK/fake2.jsonl" 2>"$WORK/fake2.log" &
PIDS[fake]=$!
wait_for_log "$WORK/fake2.jsonl" '"listening"' 10
start_worker 1 0-7
wait "${PIDS[fake]}" || fail "fake broker failed: $(cat "$WORK/fake2.log")"
unset "PIDS[fake]"
"$PY" - "$WORK/fake2.jsonl" <<'PY' || fail "worker's answers to a forged close"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
err = [e for e in ev if e["event"] == "reply_error"]
assert err, ev
assert err[0]["code"] == 2, err
assert err[0]["text"] == "VENUE_CLOSE for venue v02 refused: its MAC does not verify", err
stats = [e for e in ev if e["event"] == "reply_stats"]
assert stats and stats[0]["stats"]["forged_closes"] == 1, stats
assert not [e for e in ev if e["event"] == "reply_status"], ev
PY
grep -q 'venue v02: VENUE_CLOSE refused: its MAC does not verify' "$WORK/worker1.log" || fail "worker did not log it"
stop worker1 TERM
"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --json >"$WORK/tally2.json"
"$PY" - "$WORK/tally2.json" <<'PY' || fail "venue v02 was closed by a forgery"
import json, sys
t = json.load(open(sys.argv[1]))
v = [v for v in t["venues"] if v["venue"] == "v02"][0]
assert v["closed"] is False, v
PY
pass "a forged VENUE_CLOSE is refused (ERROR 2), counted (forged_closes 1), and v02 stays open"

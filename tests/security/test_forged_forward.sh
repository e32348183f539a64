#!/usr/bin/env bash
# A worker key cannot address frames (PROTOCOL §5). With a copy of worker
# 1's bundle an attacker says HELLO for worker 1's own shards (it must be a
# registered worker for its REPLYs to be judged at all; this displaces the
# real worker 1 until its HELLO 10 s later) and then:
#   - sends REPLYs with guessed tickets carrying an ACK, a forged FORWARD of
#     a SUBMIT (what version 1 let it hand to worker 2), a SUBMIT, garbage:
#     each is refused, ERROR 2 "REPLY ticket T was not forwarded to this
#     connection";
#   - answers a real request forwarded to it (venue v02's VENUE_OPEN) with a
#     forged FORWARD, a SUBMIT and garbage: ERROR 2 "REPLY ticket T answers a
#     VENUE_OPEN: FORWARD is not an answer to it" (…);
#   - answers it properly once (a RETRY, relayed), then replays the ticket:
#     refused, one answer per request.
# The broker counts each cause; worker 2 sees nothing forged; venue v01
# (shard 6, worker 2) counting all along, and v02 (shard 3, worker 1) after
# the attack, both count exactly.
source "$(dirname "$0")/../integration/lib.sh"

PY=${PINGYI_PYTHON_ZMQ:-/usr/bin/python3}
ATTACK="$SRC/tests/security/attack.py"
"$PY" -c 'import zmq, sys; sys.exit(0 if zmq.has("curve") else 1)' 2>/dev/null ||
  fail "$PY has no pyzmq with CURVE: run scripts/install-deps (python3-zmq)"

N=${PINGYI_SEC_BALLOTS:-20000}
setup_deploy "$(drill_definition)" 2
start_broker
start_worker 1 0-3
start_worker 2 4-7
wait_workers 2

broker_stats() {
  "$BIN/pingyi" stats --deploy "$WORK/deploy" --broker "$ENDPOINT" --json >"$1" || fail "broker stats query"
}

# v01 counts for real, through the whole attack.
"$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v01 --broker "$ENDPOINT" --generate "$N" --seed 21 \
  --expect "$WORK/expect-v01.json" --outbox "$WORK/outbox-v01" --close --issued "$N" --collected "$N" \
  --give-up-s 120 >"$WORK/client-v01.out" 2>"$WORK/client-v01.log" &
PIDS[v01]=$!

mkdir -p "$WORK/thief/worker"
cp -a "$WORK/deploy/worker/1" "$WORK/thief/worker/1"

# The attacker's whole script runs within worker 1's 10 s pause.
"$PY" "$ATTACK" --deploy "$WORK/deploy" --bundle "$WORK/thief/worker/1" --broker "$ENDPOINT" --timeout 8 \
  hello:0-3 expect:READY \
  reply:random:ack expect:ERROR:2 \
  reply:random:forward expect:ERROR:2 \
  reply:random:submit expect:ERROR:2 \
  reply:random:garbage expect:ERROR:2 \
  reply:1:ack expect:ERROR:2 \
  expect:FORWARD \
  reply:last:forward expect:ERROR:2 \
  reply:last:submit expect:ERROR:2 \
  reply:last:garbage expect:ERROR:2 \
  reply:last:retry \
  reply:last:ack expect:ERROR:2 \
  >"$WORK/attack.out" 2>"$WORK/attack.log" &
PIDS[attack]=$!
wait_for_log "$WORK/attack.out" '"type": "READY"' 10

# v02 (shard 3) opens now: its VENUE_OPEN goes to whoever holds shard 3.
"$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v02 --broker "$ENDPOINT" --generate 2000 --seed 22 \
  --expect "$WORK/expect-v02.json" --outbox "$WORK/outbox-v02" --close --issued 2000 --collected 2000 \
  --give-up-s 120 >"$WORK/client-v02.out" 2>"$WORK/client-v02.log" &
PIDS[v02]=$!

set +e
wait "${PIDS[attack]}"
rc=$?
set -e
unset "PIDS[attack]"
cat "$WORK/attack.out"
[ $rc -eq 0 ] || fail "the attacker's script stopped early (exit $rc): $(tail -3 "$WORK/attack.out")"

# Every REPLY got exactly the refusal it should, naming its ticket.
python3 - "$WORK/attack.out" <<'PY' || fail "refusals"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
forward = None
checked = relayed = 0
for i, l in enumerate(lines):
    if l.get("type") == "FORWARD" and forward is None:
        forward = l
    if l.get("sent") != "REPLY":
        continue
    t, kind = l["ticket"], l["inner"]
    if forward and t == forward["ticket"] and kind == "retry":
        relayed += 1      # a proper answer: relayed, nothing comes back to the worker
        continue
    err = next(x for x in lines[i + 1:] if x.get("type") == "ERROR")
    assert err["code"] == 2 and err["tag"] == t, err
    if forward and t == forward["ticket"] and kind != "ack":
        what = {"forward": "FORWARD", "submit": "SUBMIT",
                "garbage": "a frame that is not a version 3 message"}[kind]
        want = "REPLY ticket %d answers a %s: %s is not an answer to it" % (t, forward["inner_type"], what)
    else:
        want = "REPLY ticket %d was not forwarded to this connection" % t
    assert err["text"] == want, (err["text"], want)
    checked += 1
assert forward and forward["inner_type"] == "VENUE_OPEN" and forward["sender"] == "v02", forward
assert checked == 9 and relayed == 1, (checked, relayed)
assert not any(l.get("type") == "ERROR" and l.get("code") == 7 for l in lines), "displaced mid-attack"
print("9 forged REPLYs refused with the exact texts; 1 proper answer relayed")
PY

broker_stats "$WORK/stats.json"
python3 - "$WORK/stats.json" <<'PY' || fail "broker counters: $(cat "$WORK/stats.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["replies_unknown_ticket"] == 6, s     # 5 guessed, 1 replayed
assert s["replies_wrong_kind"] == 3, s
assert s["replies_wrong_worker"] == 0, s
assert s["replies_routed"] >= 1, s
assert s["workers_displaced"] >= 1, s          # the attacker's HELLO displaced worker 1
assert s["hello_refused"] == 0, s
print("broker counted unknown_ticket=%d wrong_kind=%d" % (s["replies_unknown_ticket"], s["replies_wrong_kind"]))
PY
grep -q "sent a REPLY with ticket" "$WORK/broker.log" || fail "the broker did not log the refusals"
[ "$(grep -c 'sent a REPLY with ticket' "$WORK/broker.log")" -le 2 ] ||
  fail "refusals were logged one line each, not rate-limited"
pass "forged REPLYs refused, counted, logged once per cause"

# Both venues finish; the count is exact.
wait "${PIDS[v01]}" || fail "v01's client exited non-zero"
unset "PIDS[v01]"
wait "${PIDS[v02]}" || fail "v02's client exited non-zero"
unset "PIDS[v02]"
"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --json >"$WORK/tally.json"
python3 "$SRC/tests/integration/compare.py" "$WORK/tally.json" "$WORK/expect-v01.json" \
  || fail "v01's count differs from its generator's"
python3 "$SRC/tests/integration/compare.py" "$WORK/tally.json" "$WORK/expect-v02.json" \
  || fail "v02's count differs from its generator's"
pass "v01 ($N ballots, during the attack) and v02 (after it) counted exactly"

# Worker 2 never saw a forged frame: nothing bad, nothing refused, nothing rejected.
"$BIN/pingyi" stats --deploy "$WORK/deploy" --broker "$ENDPOINT" --shard 4 --json >"$WORK/w2.json" ||
  fail "worker 2 stats query"
python3 - "$WORK/w2.json" "$N" <<'PY' || fail "worker 2 counters: $(cat "$WORK/w2.json")"
import json, sys
s = json.load(open(sys.argv[1])); n = int(sys.argv[2])
assert s["source"] == "worker", s
for k in ("bad_messages", "forbidden", "forged_closes", "ballots_rejected", "wrong_election", "unknown_venue"):
    assert s.get(k, 0) == 0, (k, s.get(k))
assert s["ballots_accepted"] == n, s
print("worker 2: %d accepted, nothing forged reached it" % s["ballots_accepted"])
PY
pass "worker 2 counted nothing forged"

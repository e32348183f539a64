#!/usr/bin/env bash
# Garbage for every message type of docs/PROTOCOL.md (1 HELLO … 17
# VENUE_REOPEN), from an authenticated venue key (v02), against the real
# broker, while an honest venue (v01) counts.  frames.py writes the frames
# and, for each, the exact answer PROTOCOL.md §2 and docs/broker.md "What it
# refuses" promise:
#   - not msgpack, a map, a str, an empty frame, an empty array, a count
#     announcing more than the frame holds, version only, unknown types 0,
#     18, 99, a type that is a str or negative: ERROR 1, tag 0;
#   - per type: one field too many and one too few ("SUBMIT: expected 6
#     fields, got 7"), the body cut after the tag and the last byte cut
#     ("… truncated", naming the field), a byte that is no msgpack (0xc1)
#     and a nil in each field in turn ("VENUE_CLOSE.mac: expected bin, got
#     nil"), trailing bytes after a whole message: ERROR 1 with the tag
#     whenever it can be read (§2), else 0;
#   - per type a venue may not send, the well-formed message: ERROR 2 "a
#     venue key may not send SNAPSHOT to the broker";
#   - per type, a frame one byte over its kind's limit (4096; SUBMIT and
#     REPLY 2096128), and one whose kind cannot be read: ERROR 1 "frame of
#     4097 bytes exceeds 4096 (the limit of a HELLO)", counted
#     oversized_<kind>; a frame right at the limit is decoded, not refused
#     for its size;
#   - a message of several frames: ERROR 1 "one frame per message
#     expected, got several" with its first part's tag.
# The broker's counters move by exactly the number of each refusal
# (bad_messages, forbidden, every oversized_*); its log stays a few lines
# (rate-limited); nothing reaches the worker; v01's ballots all count once.
source "$(dirname "$0")/../integration/lib.sh"

PY=${PINGYI_PYTHON_ZMQ:-/usr/bin/python3}
ATTACK="$SRC/tests/security/attack.py"
"$PY" -c 'import zmq, sys; sys.exit(0 if zmq.has("curve") else 1)' 2>/dev/null ||
  fail "$PY has no pyzmq with CURVE: run scripts/install-deps (python3-zmq)"

N=${PINGYI_SEC_BALLOTS:-5000}
setup_deploy "$(drill_definition)" 1
start_broker
start_worker 1 0-7
wait_workers 1
D=$WORK/deploy
broker_stats() {
  "$BIN/pingyi" stats --deploy "$D" --broker "$ENDPOINT" --json >"$1" || fail "broker stats query"
}

"$PY" "$SRC/tests/security/frames.py" garbage "$D" "$WORK/garbage.seq" "$WORK/garbage.json" >/dev/null
"$PY" "$SRC/tests/security/frames.py" oversized "$D" "$WORK/oversized.seq" "$WORK/oversized.json" >/dev/null
# a message of two frames, the first a SUBMIT head with tag 77
echo "960304cd004d,c1" >"$WORK/multi.seq"
echo '[{"case": "two frames", "type": "SUBMIT", "answer": {"type": "ERROR", "code": 1, "tag": 77,
  "text": "one frame per message expected, got several"}}]' >"$WORK/multi.json"
broker_stats "$WORK/s0.json"
log_before=$(wc -l <"$WORK/broker.log")

"$BIN/pingyi-client" --deploy "$D" --venue v01 --broker "$ENDPOINT" --generate "$N" --seed 9 \
  --batch 64 --expect "$WORK/expect-v01.json" --outbox "$WORK/outbox-v01" --close --issued "$N" \
  --collected "$N" --give-up-s 100 >"$WORK/client-v01.out" 2>"$WORK/client-v01.log" &
PIDS[v01]=$!

for set in garbage oversized multi; do
  "$PY" "$ATTACK" --deploy "$D" --bundle "$D/venue/v02" --broker "$ENDPOINT" --timeout 20 \
    rawseq:"$WORK/$set.seq" >"$WORK/$set.out" || fail "$set: a frame got no answer: $(tail -2 "$WORK/$set.out")"
  python3 - "$WORK/$set.json" "$WORK/$set.out" <<'PY' || fail "$set: answers differ from the protocol"
import json, sys
want = json.load(open(sys.argv[1]))
got = {}
for l in open(sys.argv[2]):
    d = json.loads(l)
    if "seq" in d:
        assert d["seq"] not in got, ("two answers to one frame", d)
        got[d["seq"]] = {k: d.get(k) for k in ("type", "code", "tag", "text")}
bad = [(i, w["case"], w["type"], w["answer"], got.get(i)) for i, w in enumerate(want) if got.get(i) != w["answer"]]
for b in bad:
    print("frame %d (%s, %s):\n  want %s\n  got  %s" % b)
assert not bad
print("%d frames, each answered exactly as documented" % len(want))
PY
done
pass "garbage and oversized frames of every type refused with the documented code, tag and text"

broker_stats "$WORK/s1.json"
python3 - "$WORK/s0.json" "$WORK/s1.json" "$WORK"/garbage.json "$WORK"/oversized.json "$WORK"/multi.json <<'PY' ||
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
cases = [c for p in sys.argv[3:] for c in json.load(open(p))]
ones = sum(1 for c in cases if c["answer"]["code"] == 1)
twos = sum(1 for c in cases if c["answer"]["code"] == 2)
d = {k: b[k] - a[k] for k in b if isinstance(b[k], int) and isinstance(a.get(k), int)}
assert d["bad_messages"] == ones, (d["bad_messages"], ones)
assert d["forbidden"] == twos, (d["forbidden"], twos)
over = {k: v for k, v in d.items() if k.startswith("oversized_")}
assert over == {k: 1 for k in over} and len(over) == 20, over   # oversized_frame and one per type 1..19
assert d["wrong_election"] == 0 and d["unknown_venue"] == 0, d
print("broker: bad_messages +%d, forbidden +%d, each of the 20 oversized_* +1" % (ones, twos))
PY
  fail "broker counters: $(cat "$WORK/s1.json")"
lines=$(($(wc -l <"$WORK/broker.log") - log_before))
echo "broker log: $lines lines for all of it"
[ "$lines" -le 6 ] || fail "the broker wrote $lines log lines for the garbage (rate-limited: at most a few)"

wait "${PIDS[v01]}" || fail "the honest client exited non-zero: $(tail -3 "$WORK/client-v01.log")"
unset "PIDS[v01]"
"$BIN/pingyi" stats --deploy "$D" --broker "$ENDPOINT" --shard 0 --json >"$WORK/w.json" || fail "worker stats"
python3 - "$WORK/w.json" "$N" <<'PY' || fail "worker counters: $(cat "$WORK/w.json")"
import json, sys
w = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
assert w["ballots_accepted"] == n and w.get("ballots_rejected", 0) == 0, w
assert w.get("bad_messages", 0) == 0 and w.get("forbidden", 0) == 0, w
print("worker: %d accepted, nothing bad reached it" % n)
PY
"$BIN/pingyi" tally --deploy "$D" --data "$WORK/data" --json >"$WORK/tally.json"
python3 "$SRC/tests/integration/compare.py" --dup 0 "$WORK/tally.json" "$WORK/expect-v01.json" ||
  fail "v01's count differs from its generator's"
python3 -c '
import json, sys
v = {x["venue"]: x for x in json.load(open(sys.argv[1]))["venues"]}
assert v["v02"]["accepted"] == 0 and v["v02"]["rejected"] == 0, v["v02"]' "$WORK/tally.json" ||
  fail "the attacker v02 has figures"
pass "v01's $N ballots counted exactly once during the garbage; v02 has nothing"

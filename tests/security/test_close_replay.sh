#!/usr/bin/env bash
# A replayed VENUE_CLOSE must not roll a venue's close back (docs/PROTOCOL.md
# §2 "The link MAC": "a replayed earlier close can neither roll a venue's
# figures back nor declare a void round away").  Whoever relays a venue's
# frames in the clear — the broker: CURVE ends there — keeps a copy of its
# close.  Here:
#   1. venue v02 closes with collected 60 > issued 50: its round is void;
#   2. an operator reopens v02 (a genuine VENUE_REOPEN, number 1, MAC under
#      its reopen key), to let the venue correct its totals;
#   3. the copy of the void close from step 1 is sent again, byte for byte;
#   4. the venue sends its corrected close, issued 50, collected 50.
# The replay (3) must change nothing and the corrected close (4) must be
# recorded.  Were a close's MAC the same in every round, a close from
# before a reopen would verify after it: the worker would record the replay
# as the venue's new close, the void round would be back and the venue's own
# correction refused ("already closed … a close is not rewritten"), as often
# as the operator
# reopens.  So the close of each round after a reopen is MACed under that
# round's key (docs/PROTOCOL.md, "The link MAC"): the replay is refused as a
# close that does not verify, counted forged_closes, and the venue's
# corrected close (under the key of round 1) is recorded.
source "$(dirname "$0")/../integration/lib.sh"

PY=${PINGYI_PYTHON_ZMQ:-/usr/bin/python3}
ATTACK="$SRC/tests/security/attack.py"
"$PY" -c 'import zmq, cryptography' 2>/dev/null ||
  fail "$PY needs pyzmq and cryptography (scripts/install-deps: python3-zmq, python3-cryptography)"

setup_deploy "$SRC/examples/2022-district-review.json" 1
start_broker
start_worker 1 0-7
wait_workers 1
D=$WORK/deploy
attack() {
  local bundle=$1
  shift
  "$PY" "$ATTACK" --deploy "$D" --bundle "$D/$bundle" --broker "$ENDPOINT" --timeout 10 "$@"
}
figures() { # figures FILE TAG: "closed issued collected sent reopens" of the VENUE_STATUS with TAG
  python3 -c '
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("type") == "VENUE_STATUS" and d["tag"] == int(sys.argv[2]):
        f = d["figures"]
        print(f["closed"], f["issued"], f["collected"], f["sent"], f["reopens"])' "$1" "$2"
}

# 1. the void close
attack venue/v02 close:601:50:60:0 expect:VENUE_STATUS >"$WORK/close1.out" || fail "no answer to the close"
[ "$(figures "$WORK/close1.out" 601)" = "True 50 60 0 0" ] || fail "first close: $(cat "$WORK/close1.out")"
CLOSE_HEX=$(python3 -c '
import json, sys
print([json.loads(l) for l in open(sys.argv[1]) if "\"sent\"" in l][0]["hex"])' "$WORK/close1.out")
# 2. the operator's reopen
attack operator reopensig:602:v02:1 expect:VENUE_STATUS >"$WORK/reopen.out" || fail "reopen: $(cat "$WORK/reopen.out")"
[ "$(figures "$WORK/reopen.out" 602)" = "False -1 -1 -1 1" ] || fail "reopen: $(cat "$WORK/reopen.out")"
pass "a void close, then an operator's reopen: v02 open again, reopens 1"

# 3. the copy of the void close, 4. the venue's corrected close
attack venue/v02 raw:"$CLOSE_HEX" recv:2 close:603:50:50:0:1 recv:3 >"$WORK/replay.out" || fail "replay"
grep -qF '"text": "VENUE_CLOSE for venue v02 refused: its MAC does not verify"' "$WORK/replay.out" ||
  fail "the replayed close was not refused as unverified: $(grep -v '"sent"' "$WORK/replay.out")"
after=$(figures "$WORK/replay.out" 603)
[ "$after" = "True 50 50 0 1" ] ||
  fail "the venue's corrected close (issued 50, collected 50) was not recorded after a replay of its void close; got: $(grep -v '"sent"' "$WORK/replay.out")"
"$BIN/pingyi" tally --deploy "$D" --data "$WORK/data" --json >"$WORK/tally.json"
python3 -c '
import json, sys
v = [x for x in json.load(open(sys.argv[1]))["venues"] if x["venue"] == "v02"][0]
assert (v["closed"], v["issued"], v["collected"]) == (True, 50, 50), v' "$WORK/tally.json" ||
  fail "the shard holds the replayed void close: $(cat "$WORK/tally.json" | head -c 600)"
pass "a close replayed after a reopen changes nothing; the corrected close is recorded"

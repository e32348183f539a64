#!/usr/bin/env bash
# Nobody speaks as someone else: a venue key submitting as another venue is
# refused and counted; a key not in the keyring cannot connect at all; a
# secret key file readable by others is refused at start.
source "$(dirname "$0")/lib.sh"

setup_deploy "$SRC/examples/2022-district-review.json" 1
start_broker
start_worker 1 0-7
wait_workers 1

# A hostile bundle: venue v02's directory, but holding v01's CURVE key (and a
# keyring edited to match, so the client starts: v02's line carries v01's
# key, and v01's line is gone).  The broker knows the key as v01's, so
# everything it sends "as v02" must be refused.
mkdir -p "$WORK/hostile/venue"
cp -a "$WORK/deploy/venue/v02" "$WORK/hostile/venue/v02"
cp "$WORK/deploy/venue/v01/curve.secret" "$WORK/hostile/venue/v02/curve.secret"
v01_curve=$(awk -F'\t' '$1=="venue" && $2=="v01" {print $3}' "$WORK/deploy/keyring.tsv")
awk -F'\t' -v OFS='\t' -v k="$v01_curve" '$1=="venue" && $2=="v01" {next} $1=="venue" && $2=="v02" {$3=k} {print}' \
  "$WORK/deploy/venue/v02/keyring.tsv" >"$WORK/hostile/venue/v02/keyring.tsv"

set +e
"$BIN/pingyi-client" --deploy "$WORK/hostile" --venue v02 --broker "$ENDPOINT" --generate 10 --seed 1 \
  --outbox "$WORK/outbox-hostile" --give-up-s 10 >"$WORK/hostile.out" 2>"$WORK/hostile.log"
rc=$?
set -e
[ $rc -eq 2 ] || fail "a venue posing as another exited $rc, expected 2 (refused)"
grep -q "venue v01 may not send VENUE_OPEN as venue v02" "$WORK/hostile.log" \
  || fail "the client did not report the refusal: $(cat "$WORK/hostile.log")"
grep -q "venue v01 tried to send VENUE_OPEN as venue v02: refused" "$WORK/broker.log" \
  || fail "the broker did not log the refusal"
pass "a venue key posing as another venue is refused with a reason"

# A key nobody knows: a fresh CURVE secret (and matching keyring entry) for
# v03's bundle copy.  The ZAP handler refuses the handshake.
mkdir -p "$WORK/stranger/venue"
cp -a "$WORK/deploy/venue/v03" "$WORK/stranger/venue/v03"
rm "$WORK/stranger/venue/v03/curve.secret"
python3 - "$WORK/stranger/venue/v03" <<'PY'
import os, sys
d = sys.argv[1]
sk = os.urandom(32).hex()   # any 32 bytes are an X25519 secret key
fd = os.open(os.path.join(d, "curve.secret"), os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
os.write(fd, (sk + "\n").encode()); os.close(fd)
PY
# The bundle's keyring must match its secret for the client to start.
pub=$("$BIN/pingyi" pubkey "$WORK/stranger/venue/v03/curve.secret")
awk -F'\t' -v OFS='\t' -v k="$pub" '$1=="venue" && $2=="v03" {$3=k} {print}' \
  "$WORK/deploy/venue/v03/keyring.tsv" >"$WORK/stranger/venue/v03/keyring.tsv"
set +e
"$BIN/pingyi-client" --deploy "$WORK/stranger" --venue v03 --broker "$ENDPOINT" --generate 10 --seed 1 \
  --outbox "$WORK/outbox-stranger" --timeout-ms 500 --give-up-s 3 >"$WORK/stranger.out" 2>"$WORK/stranger.log"
rc=$?
set -e
[ $rc -eq 3 ] || fail "a client with an unknown key exited $rc, expected 3 (gave up: cannot connect)"
grep -q "refused a connection: CURVE key ${pub:0:16}... is not in the keyring" "$WORK/broker.log" \
  || fail "the broker did not log the refused key"
pass "a client with an unknown key cannot connect"

# The broker counted both: one refusal, and at least one refused handshake.
"$BIN/pingyi" stats --deploy "$WORK/deploy" --broker "$ENDPOINT" --json >"$WORK/stats.json" || fail "stats query"
python3 - "$WORK/stats.json" <<'PY' || fail "broker counters: $(cat "$WORK/stats.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["source"] == "broker", s
assert s["forbidden"] == 1, s
assert s["connections_refused"] >= 1, s
assert s["envelopes_forwarded"] == 0, s
print("broker counted forbidden=%d connections_refused=%d" % (s["forbidden"], s["connections_refused"]))
PY

# Nothing from either reached a shard.
"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --json >"$WORK/tally.json"
python3 - "$WORK/tally.json" <<'PY' || fail "refused senders left counts behind"
import json, sys
t = json.load(open(sys.argv[1]))
assert t["counters"] == [], t["counters"][:3]
assert all(v["accepted"] == 0 for v in t["venues"]), t["venues"]
print("no counts from refused senders")
PY

# A secret key readable by others is refused, naming the file and the fix.
chmod 644 "$WORK/deploy/venue/v01/box.secret"
set +e
"$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v01 --broker "$ENDPOINT" --generate 1 --seed 1 \
  --outbox "$WORK/outbox-perm" >/dev/null 2>"$WORK/perm.log"
rc=$?
set -e
[ $rc -eq 2 ] || fail "a world-readable secret key was accepted (exit $rc)"
grep -qF "$WORK/deploy/venue/v01/box.secret: mode 0644 lets others read this secret key; run: chmod 600 $WORK/deploy/venue/v01/box.secret" \
  "$WORK/perm.log" || fail "unexpected message: $(cat "$WORK/perm.log")"
pass "a world-readable secret key is refused with the fix"

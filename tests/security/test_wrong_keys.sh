#!/usr/bin/env bash
# Every key speaks only as what its keyring line says (docs/PROTOCOL.md §1,
# §4; docs/SECURITY.md §2), against the real broker and worker, while an
# honest venue (v03) counts:
#   1. keys the broker must never admit: a fresh random CURVE key, the
#      broker's own key, a venue's *box* key used as a CURVE key (its public
#      half is in keyring.tsv, in the box column): none completes the ZAP
#      handshake (no answer at all), each is counted in connections_refused
#      and named once in the log;
#   2. a venue key speaking as another venue (SUBMIT, VENUE_OPEN,
#      VENUE_CLOSE as v01 from v02's key; and as a venue that does not
#      exist): ERROR 2 "venue v02 may not send SUBMIT as venue v01", the
#      request's tag, counted forbidden; v01's genuine envelopes inside
#      v02's own SUBMIT: each rejected venue_mismatch (4) in its result;
#   3. a worker key submitting, opening, closing, querying, reopening:
#      ERROR 2 "a worker key may not send SUBMIT to the broker" …;
#   4. a venue key querying (STATS_QUERY of the broker and of a shard,
#      TALLY_QUERY), reopening, saying HELLO: ERROR 2 with the exact text;
#   5. the aggregator's key reopening or submitting, an operator's key
#      submitting: ERROR 2; an operator's VENUE_REOPEN with a MAC of zeros:
#      refused by the worker, ERROR 2 "VENUE_REOPEN for venue v01 refused:
#      its MAC does not verify", counted forged_reopens.
# Exact broker counters (forbidden, connections_refused, envelopes
# forwarded), nothing counted from any attacker (v01 and v02 hold 0
# ballots), v03's ballots all counted exactly once.
source "$(dirname "$0")/../integration/lib.sh"

PY=${PINGYI_PYTHON_ZMQ:-/usr/bin/python3}
ATTACK="$SRC/tests/security/attack.py"
"$PY" -c 'import zmq, sys; sys.exit(0 if zmq.has("curve") else 1)' 2>/dev/null ||
  fail "$PY has no pyzmq with CURVE: run scripts/install-deps (python3-zmq)"
command -v mdb_dump >/dev/null || fail "mdb_dump (lmdb-utils, scripts/install-deps) is needed"

N=${PINGYI_SEC_BALLOTS:-3000}
setup_deploy "$(drill_definition)" 1
start_broker
start_worker 1 0-7
wait_workers 1
D=$WORK/deploy
FP=$(sha256sum "$D/election.json" | cut -d' ' -f1)

attack() { # attack BUNDLE STEP...: the steps with BUNDLE's CURVE key, output on stdout
  local bundle=$1
  shift
  "$PY" "$ATTACK" --deploy "$D" --bundle "$bundle" --broker "$ENDPOINT" --timeout 10 "$@"
}
broker_stats() {
  "$BIN/pingyi" stats --deploy "$D" --broker "$ENDPOINT" --json >"$1" || fail "broker stats query"
}
# errors FILE: the ERRORs of an attack.py output as "tag code text" lines
errors() {
  python3 -c '
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("type") == "ERROR":
        print(d["tag"], d["code"], d["text"])' "$1"
}
# expect_errors FILE <<EOF lines "tag code text": exactly those ERRORs, in order
expect_errors() {
  local got
  got=$(errors "$1")
  [ "$got" = "$(cat)" ] || fail "$1: the refusals differ:
--- got
$got
--- output
$(cat "$1")"
}

# the honest venue, all along
"$BIN/pingyi-client" --deploy "$D" --venue v03 --broker "$ENDPOINT" --generate "$N" --seed 7 \
  --expect "$WORK/expect-v03.json" --outbox "$WORK/outbox-v03" --close --issued "$N" --collected "$N" \
  --give-up-s 100 >"$WORK/client-v03.out" 2>"$WORK/client-v03.log" &
PIDS[v03]=$!

# --- 1. keys the broker must not admit --------------------------------------
mkdir -p "$WORK/keys/random" "$WORK/keys/broker" "$WORK/keys/boxkey"
"$PY" -c 'import os; print(os.urandom(32).hex())' >"$WORK/keys/random/curve.secret"
cp "$D/broker/curve.secret" "$WORK/keys/broker/curve.secret"
cp "$D/venue/v02/box.secret" "$WORK/keys/boxkey/curve.secret"
chmod 600 "$WORK"/keys/*/curve.secret
broker_stats "$WORK/s0.json"
for k in random broker boxkey; do
  set +e
  attack "$WORK/keys/$k" --timeout 3 --name v02 open:11 expect:VENUE_STATUS >"$WORK/key-$k.out" 2>&1
  rc=$?
  set -e
  [ $rc -eq 3 ] || fail "the $k key got an answer (exit $rc): $(cat "$WORK/key-$k.out")"
  grep -q '"type"' "$WORK/key-$k.out" && fail "the $k key received a frame: $(cat "$WORK/key-$k.out")"
done
# warnings are rate-limited by kind (docs/broker.md "Warnings"): the first key is named
pub=$("$BIN/pingyi" pubkey "$WORK/keys/random/curve.secret")
grep -q "refused a connection: CURVE key ${pub:0:16}\.\.\. is not in the keyring" "$WORK/broker.log" ||
  fail "the broker did not log the refused key"
broker_stats "$WORK/s1.json"
python3 - "$WORK/s0.json" "$WORK/s1.json" <<'PY' || fail "connections_refused"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
d = b["connections_refused"] - a["connections_refused"]
assert d >= 3, (a["connections_refused"], b["connections_refused"])
for k in ("forbidden", "bad_messages", "wrong_election", "unknown_venue"):
    assert a[k] == b[k], (k, a[k], b[k])  # nothing of theirs reached the broker's loop
print("3 keys not in the curve column (random, the broker's own, a box key): %d handshakes refused, "
      "no message of theirs was even refused" % d)
PY
pass "an unknown key, the broker's own key and a box key cannot connect"

# --- 2. a venue key speaking as another venue -------------------------------
"$BIN/pingyi-client" --deploy "$D" --venue v01 --broker "$ENDPOINT" --generate 3 --seed 3 \
  --outbox "$WORK/outbox-v01" --ingest-only --json >/dev/null 2>"$WORK/ingest.log" || fail "ingest-only failed"
mdb_dump -s pending "$WORK/outbox-v01" | python3 -c '
import sys
rows = [l[1:].rstrip("\n") for l in sys.stdin if l.startswith(" ")]
for k, v in zip(rows[0::2], rows[1::2]):
    print(v)' >"$WORK/v01.txt"
[ "$(wc -l <"$WORK/v01.txt")" -eq 3 ] || fail "expected 3 sealed envelopes of v01"
V01=a3763031 V99=a3763939
attack "$D/venue/v02" --name v01 \
  submit:21:"$WORK/v01.txt" expect:ERROR:2 open:22 expect:ERROR:2 \
  raw:990309cd0017c420${FP}${V01}010101c410$(printf '00%.0s' {1..16}) expect:ERROR:2 \
  raw:950308cd0018c420${FP}${V99} expect:ERROR:2 \
  >"$WORK/as-v01.out" || fail "no refusal: $(cat "$WORK/as-v01.out")"
expect_errors "$WORK/as-v01.out" <<'EOF'
21 2 venue v02 may not send SUBMIT as venue v01
22 2 venue v02 may not send VENUE_OPEN as venue v01
23 2 venue v02 may not send VENUE_CLOSE as venue v01
24 2 venue v02 may not send VENUE_OPEN as venue v99
EOF
# v01's genuine envelopes in v02's own SUBMIT: refused one by one
attack "$D/venue/v02" submit:25:"$WORK/v01.txt" expect:ACK open:26 expect:VENUE_STATUS >"$WORK/mismatch.out" ||
  fail "no ACK: $(cat "$WORK/mismatch.out")"
python3 - "$WORK/mismatch.out" <<'PY' || fail "venue_mismatch: $(cat "$WORK/mismatch.out")"
import json, sys
ls = [json.loads(l) for l in open(sys.argv[1])]
ack = [l for l in ls if l.get("type") == "ACK"][0]
assert ack["tag"] == 25, ack
assert [(r["status"], r["reason"], r["receipt"]) for r in ack["results"]] == [(2, 4, "")] * 3, ack
st = [l for l in ls if l.get("type") == "VENUE_STATUS"][0]["figures"]
assert (st["accepted"], st["rejected"], st["rejected_by"]) == (0, 3, {"4": 3}), st
print("v01's envelopes sent by v02: 3 x venue_mismatch; v02 accepted 0, rejected_by {4: 3}")
PY
pass "a venue key cannot speak as another venue, nor pass off another venue's envelopes"

# --- 3. a worker key submitting, opening, closing, querying ------------------
attack "$D/worker/1" --name v01 \
  submit:31:"$WORK/v01.txt" expect:ERROR:2 open:32 expect:ERROR:2 \
  raw:990309cd0021c420${FP}${V01}010101c410$(printf '00%.0s' {1..16}) expect:ERROR:2 \
  stats:34:-1 expect:ERROR:2 stats:35:0 expect:ERROR:2 raw:95030bcd002400c40400000000 expect:ERROR:2 \
  reopen:v01 expect:ERROR:2 \
  >"$WORK/worker-key.out" || fail "no refusal: $(cat "$WORK/worker-key.out")"
expect_errors "$WORK/worker-key.out" <<'EOF'
31 2 a worker key may not send SUBMIT to the broker
32 2 a worker key may not send VENUE_OPEN to the broker
33 2 a worker key may not send VENUE_CLOSE to the broker
34 2 a worker key may not send STATS_QUERY to the broker
35 2 a worker key may not send STATS_QUERY to the broker
36 2 a worker key may not send TALLY_QUERY to the broker
78 2 a worker key may not send VENUE_REOPEN to the broker
EOF
grep -q "DISPLACED" "$WORK/worker1.log" && fail "the worker key's requests displaced the real worker"
pass "a worker key may not submit, open, close, query or reopen"

# --- 4. a venue key querying -------------------------------------------------
attack "$D/venue/v02" \
  stats:41:-1 expect:ERROR:2 stats:42:3 expect:ERROR:2 raw:95030bcd002a03c40400000000 expect:ERROR:2 \
  reopen:v02 expect:ERROR:2 hello:0-7 expect:ERROR:2 \
  >"$WORK/venue-query.out" || fail "no refusal: $(cat "$WORK/venue-query.out")"
expect_errors "$WORK/venue-query.out" <<'EOF'
41 2 a venue key may not send STATS_QUERY to the broker
42 2 a venue key may not send STATS_QUERY to the broker
42 2 a venue key may not send TALLY_QUERY to the broker
78 2 a venue key may not send VENUE_REOPEN to the broker
0 2 a venue key may not send HELLO to the broker
EOF
pass "a venue key may not query, reopen or claim shards"

# --- 5. the aggregator's and an operator's keys ------------------------------
attack "$D/aggregator" --name v01 reopen:v01 expect:ERROR:2 submit:51:"$WORK/v01.txt" expect:ERROR:2 \
  >"$WORK/agg-key.out" || fail "no refusal: $(cat "$WORK/agg-key.out")"
expect_errors "$WORK/agg-key.out" <<'EOF'
78 2 an aggregator key may not send VENUE_REOPEN to the broker
51 2 an aggregator key may not send SUBMIT to the broker
EOF
attack "$D/operator" --name v01 submit:52:"$WORK/v01.txt" expect:ERROR:2 reopen:v01 expect:ERROR:2 \
  >"$WORK/op-key.out" || fail "no refusal: $(cat "$WORK/op-key.out")"
expect_errors "$WORK/op-key.out" <<'EOF'
52 2 an operator key may not send SUBMIT to the broker
78 2 VENUE_REOPEN for venue v01 refused: its MAC does not verify
EOF
pass "the aggregator may not reopen or submit; an operator may not submit, nor reopen without its MAC"

# --- counters and counts -----------------------------------------------------
wait "${PIDS[v03]}" || fail "the honest client v03 exited non-zero: $(tail -3 "$WORK/client-v03.log")"
unset "PIDS[v03]"
broker_stats "$WORK/s2.json"
"$BIN/pingyi" stats --deploy "$D" --broker "$ENDPOINT" --shard 0 --json >"$WORK/w.json" || fail "worker stats"
python3 - "$WORK/s1.json" "$WORK/s2.json" "$WORK/w.json" "$N" <<'PY' || fail "counters: $(cat "$WORK/s2.json" "$WORK/w.json")"
import json, sys
a, b, w = (json.load(open(p)) for p in sys.argv[1:4])
n = int(sys.argv[4])
d = {k: b[k] - a[k] for k in ("forbidden", "wrong_election", "unknown_venue", "bad_messages")}
# 4 (as another venue) + 7 (worker key) + 5 (venue key) + 2 (aggregator) + 1 (operator SUBMIT)
assert d == {"forbidden": 19, "wrong_election": 0, "unknown_venue": 0, "bad_messages": 0}, d
# forwarded: v03's ballots and the 3 envelopes of the venue_mismatch SUBMIT, nothing else
assert b["envelopes_forwarded"] >= n + 3, b["envelopes_forwarded"]
assert w["forged_reopens"] == 1, w
assert w["ballots_accepted"] == n, w
print("broker: forbidden +19, nothing else refused; worker: forged_reopens 1, ballots_accepted %d" % n)
PY
"$BIN/pingyi" tally --deploy "$D" --data "$WORK/data" --json >"$WORK/tally.json"
python3 - "$WORK/tally.json" "$N" <<'PY' || fail "attackers' ballots were counted"
import json, sys
t = json.load(open(sys.argv[1]))
v = {x["venue"]: x for x in t["venues"]}
assert v["v01"]["accepted"] == 0 and v["v02"]["accepted"] == 0, v
assert v["v03"]["accepted"] == int(sys.argv[2]), v["v03"]
print("v01 0, v02 0 (3 rejected venue_mismatch), v03 %d accepted" % v["v03"]["accepted"])
PY
python3 "$SRC/tests/integration/compare.py" "$WORK/tally.json" "$WORK/expect-v03.json" ||
  fail "v03's count differs from its generator's"
pass "nothing counted from any wrong key; the honest venue's $N ballots counted exactly once"

#!/usr/bin/env bash
# Tampered, replayed and misaddressed frames (docs/PROTOCOL.md §2, §4, §6,
# §7, §9), from venue v02's own key, against the real broker and worker:
#   1. flipped bits in an envelope: a genuine sealed envelope of v02 with
#      bit 0 flipped at every byte offset, all in one SUBMIT with the
#      genuine one last.  Each flip is rejected in its own result with the
#      code its place calls for (version: bad_envelope 1; fingerprint:
#      wrong_election 2; venue id length and bytes: unknown_venue 3, or
#      venue_mismatch 4 when the flip names the real venue v03; ballot id,
#      nonce, ciphertext, tag: decrypt 6), the genuine one accepted: the
#      figures say accepted 1, rejected = the number of flips;
#   2. flipped bits in a frame: a genuine SUBMIT of one more envelope, sent
#      once, then with bit 0 flipped at every byte: no variant is ever
#      accepted (each is an ERROR, or an ACK rejecting or calling it a
#      duplicate), every variant gets exactly one answer, and the flips of
#      the fingerprint and the venue id get ERROR 3 and ERROR 2 exactly;
#   3. replays: the captured SUBMIT again (duplicates, reason 0, the same
#      receipts), by v01's key (ERROR 2 "venue v01 may not send SUBMIT as
#      venue v02"), its envelopes in v01's own SUBMIT (venue_mismatch);
#      the captured ACK and VENUE_STATUS sent back to the broker (ERROR 2
#      "a venue key may not send ACK to the broker", the ACK's tag), and as
#      a REPLY by a worker key that said no HELLO (ERROR 4);
#   4. wrong election: SUBMIT, VENUE_OPEN, VENUE_CLOSE with another
#      fingerprint: ERROR 3 with the request's tag, counted wrong_election;
#      a HELLO with another fingerprint: ERROR 3, tag 0, the real worker
#      not displaced;
#   5. unknown versions 0, 2, 4, 255 and 2^32: ERROR 1 "unsupported protocol
#      version N", tag 0; an envelope of version 2: bad_envelope.
# At the end v02 holds exactly its 2 genuine ballots, counted once.
source "$(dirname "$0")/../integration/lib.sh"

PY=${PINGYI_PYTHON_ZMQ:-/usr/bin/python3}
ATTACK="$SRC/tests/security/attack.py"
"$PY" -c 'import zmq, sys; sys.exit(0 if zmq.has("curve") else 1)' 2>/dev/null ||
  fail "$PY has no pyzmq with CURVE: run scripts/install-deps (python3-zmq)"
command -v mdb_dump >/dev/null || fail "mdb_dump (lmdb-utils, scripts/install-deps) is needed"

setup_deploy "$(drill_definition)" 1
start_broker
start_worker 1 0-7
wait_workers 1
D=$WORK/deploy
FP=$(sha256sum "$D/election.json" | cut -d' ' -f1)
attack() { # attack BUNDLE STEP...
  local bundle=$1
  shift
  "$PY" "$ATTACK" --deploy "$D" --bundle "$bundle" --broker "$ENDPOINT" --timeout 15 "$@"
}
broker_stats() {
  "$BIN/pingyi" stats --deploy "$D" --broker "$ENDPOINT" --json >"$1" || fail "broker stats query"
}

"$BIN/pingyi-client" --deploy "$D" --venue v02 --broker "$ENDPOINT" --generate 2 --seed 4 \
  --outbox "$WORK/outbox" --ingest-only --json >/dev/null 2>"$WORK/ingest.log" || fail "ingest-only failed"
mdb_dump -s pending "$WORK/outbox" | python3 -c '
import sys
rows = [l[1:].rstrip("\n") for l in sys.stdin if l.startswith(" ")]
for k, v in zip(rows[0::2], rows[1::2]):
    print(v)' >"$WORK/good.txt"
[ "$(wc -l <"$WORK/good.txt")" -eq 2 ] || fail "expected 2 sealed envelopes"
broker_stats "$WORK/s0.json"

# --- 1. every byte of an envelope, one bit flipped ---------------------------
python3 - "$WORK" <<'PY'
import sys
w = sys.argv[1]
good = bytes.fromhex(open(w + "/good.txt").readline().strip())
flips = []
for i in range(len(good)):
    b = bytearray(good)
    b[i] ^= 1
    flips.append(b.hex())
open(w + "/flips.txt", "w").write("\n".join(flips + [good.hex()]) + "\n")
PY
attack "$D/venue/v02" submit:101:"$WORK/flips.txt" expect:ACK open:102 expect:VENUE_STATUS >"$WORK/flips.out" ||
  fail "no ACK: $(tail -2 "$WORK/flips.out")"
python3 - "$WORK" <<'PY' || fail "results of the flipped envelopes"
import hashlib, json, sys
w = sys.argv[1]
good = bytes.fromhex(open(w + "/good.txt").readline().strip())
L = good[33]
venue = good[34:34 + L].decode()
assert venue == "v02" and L == 3, venue
def want(i):
    if i == 0:
        return 1                                     # version 0: bad_envelope
    if 1 <= i <= 32:
        return 2                                     # fingerprint: wrong_election
    if i == 33:
        return 3                                     # L 3 -> 2: venue "v0", unknown
    if 34 <= i < 34 + L:
        v = bytearray(good[34:34 + L]); v[i - 34] ^= 1
        return 4 if v.decode() in ("v01", "v03") else 3   # another real venue, or none
    return 6                                         # ballot id, nonce, ciphertext, tag: decrypt
ls = [json.loads(l) for l in open(w + "/flips.out")]
ack = [l for l in ls if l.get("type") == "ACK"][0]
res = ack["results"]
assert ack["tag"] == 101 and len(res) == len(good) + 1, (ack["tag"], len(res))
bad = [(i, r["status"], r["reason"], want(i)) for i, r in enumerate(res[:-1])
       if (r["status"], r["reason"], r["receipt"]) != (2, want(i), "")]
assert not bad, bad[:10]
receipt = hashlib.blake2b(good, digest_size=32).hexdigest()[:16]
assert (res[-1]["status"], res[-1]["receipt"]) == (0, receipt), res[-1]
f = [l for l in ls if l.get("type") == "VENUE_STATUS"][0]["figures"]
by = {}
for i in range(len(good)):
    by[str(want(i))] = by.get(str(want(i)), 0) + 1
assert (f["accepted"], f["rejected"], f["rejected_by"]) == (1, len(good), by), (f, by)
print("%d one-bit flips of a %d-byte envelope: each rejected with its code %s; the genuine one accepted" %
      (len(good), len(good), by))
PY
pass "a flipped bit anywhere in an envelope is refused, with the code of its place"

# --- 2. every byte of a SUBMIT frame, one bit flipped -------------------------
"$PY" - "$WORK" "$FP" "$SRC/tests/security" <<'PY'
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[3])
from attack import pack
w, fp = sys.argv[1], bytes.fromhex(sys.argv[2])
env = bytes.fromhex(open(w + "/good.txt").read().split()[1])
frame = pack([3, 4, 201, fp, "v02", [env]])
lines = [frame.hex()]
for i in range(len(frame)):
    b = bytearray(frame)
    b[i] ^= 1
    lines.append(b.hex())
open(w + "/frame.seq", "w").write("\n".join(lines) + "\n")
open(w + "/frame.hex", "w").write(frame.hex())
PY
attack "$D/venue/v02" rawseq:"$WORK/frame.seq" >"$WORK/frame.out" || fail "a flipped frame got no answer"
python3 - "$WORK" "$FP" <<'PY' || fail "answers to the flipped frames"
import hashlib, json, sys
w = sys.argv[1]
env = bytes.fromhex(open(w + "/good.txt").read().split()[1])
receipt = hashlib.blake2b(env, digest_size=32).hexdigest()[:16]
ans = {}
for l in open(w + "/frame.out"):
    d = json.loads(l)
    if "seq" in d:
        assert d["seq"] not in ans, ("two answers", d)
        ans[d["seq"]] = d
n = len(bytes.fromhex(open(w + "/frame.hex").read()))
assert sorted(ans) == list(range(n + 1)), "not one answer per frame"
first = ans[0]
assert first["type"] == "ACK" and first["tag"] == 201 and \
    [(r["status"], r["receipt"]) for r in first["results"]] == [(0, receipt)], first
kinds = {}
fp_at, venue_at = 6, 6 + 32 + 1          # 96 03 04 cc c9 c4 20 | fp | a3 "v02"
for s in range(1, n + 1):
    d, i = ans[s], s - 1
    if d["type"] == "ACK":
        for r in d["results"]:
            assert r["status"] in (1, 2), ("a flipped frame was accepted", i, d)
            if r["status"] == 1:   # its ballot id is counted: same bytes (0) or other bytes (1),
                assert r["receipt"] == receipt and r["reason"] in (0, 1), d  # the stored receipt
        kinds["ACK"] = kinds.get("ACK", 0) + 1
    else:
        assert d["type"] == "ERROR" and d["code"] in (1, 2, 3, 5), (i, d)
        kinds["ERROR %d" % d["code"]] = kinds.get("ERROR %d" % d["code"], 0) + 1
    if fp_at + 1 <= i < fp_at + 33:
        assert (d["type"], d.get("code"), d.get("tag")) == ("ERROR", 3, 201), (i, d)
    if i == venue_at + 3:                 # "v02" -> "v03"
        assert (d["code"], d["tag"], d["text"]) == (2, 201, "venue v02 may not send SUBMIT as venue v03"), d
print("%d one-bit flips of a %d-byte SUBMIT: none accepted; answers %s" % (n, n, kinds))
PY
pass "a flipped bit anywhere in a SUBMIT frame never counts a ballot"

# --- 3. replays ---------------------------------------------------------------
sed -n 1p "$WORK/frame.seq" >"$WORK/replay.seq"
attack "$D/venue/v02" rawseq:"$WORK/replay.seq" open:301 expect:VENUE_STATUS >"$WORK/replay.out" ||
  fail "replayed SUBMIT: $(cat "$WORK/replay.out")"
ACK_HEX=$(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("type") == "ACK":
        assert d["tag"] == 201 and [(r["status"], r["reason"]) for r in d["results"]] == [(1, 0)], d
        print(d["hex"])' "$WORK/replay.out")
STATUS_HEX=$(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("type") == "VENUE_STATUS":
        print(d["hex"])' "$WORK/replay.out")
[ -n "$ACK_HEX" ] && [ -n "$STATUS_HEX" ] || fail "no ACK or VENUE_STATUS captured: $(cat "$WORK/replay.out")"
cut -d' ' -f1 <(sed -n 2p "$WORK/good.txt") >"$WORK/env2.txt"
attack "$D/venue/v01" --name v02 rawseq:"$WORK/replay.seq" >"$WORK/replay-v01.out" || fail "no answer"
attack "$D/venue/v01" submit:302:"$WORK/env2.txt" expect:ACK >"$WORK/replay-v01b.out" || fail "no ACK"
attack "$D/venue/v02" raw:"$ACK_HEX" expect:ERROR:2 raw:"$STATUS_HEX" expect:ERROR:2 >"$WORK/replay-ack.out" ||
  fail "replayed ACK: $(cat "$WORK/replay-ack.out")"
attack "$D/worker/1" replyraw:12345:"$ACK_HEX" expect:ERROR:4 >"$WORK/replay-reply.out" ||
  fail "replayed ACK as REPLY: $(cat "$WORK/replay-reply.out")"
python3 - "$WORK" <<'PY' || fail "replays"
import json, sys
w = sys.argv[1]
def frames(n):
    return [json.loads(l) for l in open("%s/%s.out" % (w, n))]
e = [d for d in frames("replay-v01") if d.get("type") == "ERROR"]
assert [(d["code"], d["tag"], d["text"]) for d in e] == [(2, 201, "venue v01 may not send SUBMIT as venue v02")], e
a = [d for d in frames("replay-v01b") if d.get("type") == "ACK"][0]
assert [(r["status"], r["reason"]) for r in a["results"]] == [(2, 4)], a
e = [(d["code"], d["tag"], d["text"]) for d in frames("replay-ack") if d.get("type") == "ERROR"]
assert e == [(2, 201, "a venue key may not send ACK to the broker"),
             (2, 301, "a venue key may not send VENUE_STATUS to the broker")], e
e = [(d["code"], d["tag"], d["text"]) for d in frames("replay-reply") if d.get("type") == "ERROR"]
assert e == [(4, 0, "unknown worker: send HELLO")], e
print("replays: SUBMIT -> duplicate (same bytes); by v01 -> ERROR 2; in v01's SUBMIT -> venue_mismatch; "
      "ACK and VENUE_STATUS back to the broker -> ERROR 2; ACK as a REPLY without HELLO -> ERROR 4")
PY
grep -q DISPLACED "$WORK/worker1.log" && fail "the replays displaced the real worker"
pass "replayed SUBMITs, ACKs and VENUE_STATUSes count nothing"

# --- 4. wrong election, 5. unknown versions -----------------------------------
OTHER=$(printf 'ab%.0s' {1..32})
V02=a3763032
Z16=$(printf '00%.0s' {1..16})
attack "$D/venue/v02" \
  raw:960304cd0191c420${OTHER}${V02}90 expect:ERROR:3 \
  raw:950308cd0192c420${OTHER}${V02} expect:ERROR:3 \
  raw:990309cd0193c420${OTHER}${V02}010101c410${Z16} expect:ERROR:3 \
  raw:960004cd0194c420${FP}${V02}90 expect:ERROR:1 \
  raw:960204cd0195c420${FP}${V02}90 expect:ERROR:1 \
  raw:960404cd0196c420${FP}${V02}90 expect:ERROR:1 \
  raw:96ccff04cd0197c420${FP}${V02}90 expect:ERROR:1 \
  raw:96cf000000010000000004cd0198c420${FP}${V02}90 expect:ERROR:1 \
  >"$WORK/election.out" || fail "no refusal: $(cat "$WORK/election.out")"
"$PY" "$ATTACK" --deploy "$D" --bundle "$D/worker/1" --broker "$ENDPOINT" --timeout 15 \
  raw:950301c420${OTHER}a13190 expect:ERROR:3 >"$WORK/hello.out" || fail "no refusal of the HELLO"
python3 - "$WORK" "$FP" <<'PY' || fail "wrong election, unknown versions"
import json, sys
w, fp = sys.argv[1], sys.argv[2]
e = [(d["code"], d["tag"], d["text"]) for d in map(json.loads, open(w + "/election.out")) if d.get("type") == "ERROR"]
want = [(3, 401, "SUBMIT names another election; this broker serves " + fp),
        (3, 402, "VENUE_OPEN names another election; this broker serves " + fp),
        (3, 403, "VENUE_CLOSE names another election; this broker serves " + fp),
        (1, 0, "unsupported protocol version 0"), (1, 0, "unsupported protocol version 2"),
        (1, 0, "unsupported protocol version 4"), (1, 0, "unsupported protocol version 255"),
        (1, 0, "unsupported protocol version 4294967296")]
assert e == want, (e, want)
h = [(d["code"], d["tag"]) for d in map(json.loads, open(w + "/hello.out")) if d.get("type") == "ERROR"]
assert h == [(3, 0)], h
print("another election's SUBMIT, VENUE_OPEN, VENUE_CLOSE: ERROR 3 with their tags; a HELLO: ERROR 3, tag 0; "
      "versions 0, 2, 4, 255, 2^32: ERROR 1, tag 0")
PY
# an envelope of version 2 inside a good SUBMIT
python3 -c '
import sys
e = bytearray.fromhex(open(sys.argv[1]).read().split()[1]); e[0] = 2
print(e.hex())' "$WORK/good.txt" >"$WORK/v2env.txt"
attack "$D/venue/v02" submit:501:"$WORK/v2env.txt" expect:ACK >"$WORK/v2env.out" || fail "no ACK"
python3 -c '
import json, sys
a = [d for d in map(json.loads, open(sys.argv[1])) if d.get("type") == "ACK"][0]
r = a["results"]
assert [(x["status"], x["reason"]) for x in r] == [(2, 1)], r
print("an envelope of version 2: rejected bad_envelope (%s)" % r[0]["text"])' "$WORK/v2env.out" ||
  fail "envelope version 2: $(cat "$WORK/v2env.out")"
pass "wrong elections and unknown versions refused with the documented codes"

broker_stats "$WORK/s1.json"
python3 - "$WORK/s0.json" "$WORK/s1.json" <<'PY' || fail "broker counters: $(cat "$WORK/s1.json")"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert b["wrong_election"] - a["wrong_election"] >= 4, (a["wrong_election"], b["wrong_election"])
assert b["workers_displaced"] == 0, b
print("broker: wrong_election +%d, no worker displaced" % (b["wrong_election"] - a["wrong_election"]))
PY
"$BIN/pingyi" tally --deploy "$D" --data "$WORK/data" --json >"$WORK/tally.json"
python3 - "$WORK/tally.json" <<'PY' || fail "counts after the tampering"
import json, sys
v = {x["venue"]: x for x in json.load(open(sys.argv[1]))["venues"]}
assert v["v02"]["accepted"] == 2, v["v02"]
assert v["v01"]["accepted"] == 0 and v["v03"]["accepted"] == 0, v
print("v02: exactly its 2 genuine ballots counted; v01, v03: nothing")
PY
pass "after every tampering and replay, exactly the 2 genuine ballots are counted, once"

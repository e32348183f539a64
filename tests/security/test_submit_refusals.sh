#!/usr/bin/env bash
# One bad envelope refuses that envelope, not its SUBMIT (docs/PROTOCOL.md
# §3 SUBMIT, §6): a venue key sends, from attack.py, one SUBMIT of four
# genuine envelopes (sealed by the real client, read out of its outbox)
# with a garbled one (a ciphertext bit flipped: decrypt), an empty one and
# one of 4601 bytes (bad_envelope) among them.  The ACK answers each in its
# place: the four counted, the three rejected with their codes; the
# figures are exact, rejected_by a map {code: count}.  The same SUBMIT again
# moves nothing but duplicates, each duplicate saying "same bytes"
# (reason 0).  A genuine ballot id resent with other bytes is answered
# duplicate with reason 1 ("other bytes") and the stored receipt, counted
# by the worker (duplicates_differing), never counted as a ballot.  And
# every refusal names its request: an undecodable SUBMIT and a forbidden
# query come back with their own tags; only a frame whose tag cannot be
# read (a version 2 frame, a tag that is a str) gets tag 0.
source "$(dirname "$0")/../integration/lib.sh"

command -v mdb_dump >/dev/null || fail "mdb_dump (lmdb-utils, scripts/install-deps) is needed"
PY=/usr/bin/python3
setup_deploy "$SRC/examples/2022-district-review.json" 1
start_broker
start_worker 1 0-7
wait_workers 1

# Four genuine envelopes of v02, sealed by the client and never sent.
"$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v02 --broker "$ENDPOINT" --generate 5 --seed 3 \
  --outbox "$WORK/outbox" --ingest-only --json >/dev/null 2>"$WORK/ingest.log" || fail "ingest-only failed"
mdb_dump -s pending "$WORK/outbox" | python3 -c '
import sys
rows = [l[1:].rstrip("\n") for l in sys.stdin if l.startswith(" ")]
for k, v in zip(rows[0::2], rows[1::2]):
    print(v)' >"$WORK/good.txt"
[ "$(wc -l <"$WORK/good.txt")" -eq 5 ] || fail "expected 5 sealed envelopes"

python3 - "$WORK" <<'PY'
import sys
work = sys.argv[1]
good = [l.strip() for l in open(work + "/good.txt") if l.strip()]
garbled = bytearray.fromhex(good[4])
garbled[-1] ^= 0x01                      # inside the MAC: decrypt
other = bytearray.fromhex(good[0])
other[-20] ^= 0x80                       # good[0]'s ballot id, other bytes
batch = [good[0], garbled.hex(), good[1], "-", good[2], "00" * 4601, good[3]]
open(work + "/batch.txt", "w").write("\n".join(batch) + "\n")
open(work + "/other.txt", "w").write(other.hex() + "\n")
PY

attack() {
  "$PY" "$SRC/tests/security/attack.py" --deploy "$WORK/deploy" --bundle "$WORK/deploy/venue/v02" \
    --broker "$ENDPOINT" --timeout 15 "$@"
}

# 1. the mixed SUBMIT, then the venue's figures
attack submit:101:"$WORK/batch.txt" expect:ACK open:201 expect:VENUE_STATUS >"$WORK/first.jsonl" \
  || fail "no ACK or VENUE_STATUS: $(cat "$WORK/first.jsonl")"
# 2. the very same SUBMIT again, then the figures
attack submit:102:"$WORK/batch.txt" expect:ACK open:202 expect:VENUE_STATUS >"$WORK/again.jsonl" \
  || fail "no ACK to the resend: $(cat "$WORK/again.jsonl")"
# 3. good[0]'s ballot id with other bytes, then the figures
attack submit:103:"$WORK/other.txt" expect:ACK open:203 expect:VENUE_STATUS >"$WORK/other.jsonl" \
  || fail "no ACK to the other bytes: $(cat "$WORK/other.jsonl")"

python3 - "$WORK" <<'PY' || fail "per-envelope results or figures"
import hashlib, json, sys
work = sys.argv[1]
good = [bytes.fromhex(l.strip()) for l in open(work + "/good.txt") if l.strip()]
def receipt(e):
    return hashlib.blake2b(e, digest_size=32).hexdigest()[:16]
def frames(name):
    return [json.loads(l) for l in open("%s/%s.jsonl" % (work, name))]
def ack(name, tag):
    a = [d for d in frames(name) if d.get("type") == "ACK"]
    assert len(a) == 1 and a[0]["tag"] == tag, a
    return [(r["status"], r["reason"], r["receipt"]) for r in a[0]["results"]]
def figures(name, tag):
    s = [d for d in frames(name) if d.get("type") == "VENUE_STATUS"]
    assert len(s) == 1 and s[0]["tag"] == tag, s
    f = s[0]["figures"]
    return f["accepted"], f["rejected"], f["duplicates"], f["rejected_by"]

# accepted 0, duplicate 1, rejected 2; bad_envelope 1, decrypt 6
first = ack("first", 101)
want = [(0, 0, receipt(good[0])), (2, 6, ""), (0, 0, receipt(good[1])), (2, 1, ""),
        (0, 0, receipt(good[2])), (2, 1, ""), (0, 0, receipt(good[3]))]
assert first == want, (first, want)
assert figures("first", 201) == (4, 3, 0, {"1": 2, "6": 1}), figures("first", 201)
print("one SUBMIT: 4 genuine envelopes accepted in place, garbled -> decrypt, empty and 4601 bytes -> "
      "bad_envelope; figures accepted 4, rejected 3, rejected_by {1: 2, 6: 1}")

again = ack("again", 102)
want = [(1, 0, receipt(good[0])), (2, 6, ""), (1, 0, receipt(good[1])), (2, 1, ""),
        (1, 0, receipt(good[2])), (2, 1, ""), (1, 0, receipt(good[3]))]
assert again == want, (again, want)
assert figures("again", 202) == (4, 3, 7, {"1": 2, "6": 1}), figures("again", 202)
print("the same SUBMIT again: duplicates with reason 0 (same bytes), the refusals again; "
      "accepted 4, rejected 3, duplicates 7")

other = ack("other", 103)
assert other == [(1, 1, receipt(good[0]))], other
assert figures("other", 203) == (4, 3, 8, {"1": 2, "6": 1}), figures("other", 203)
print("good[0]'s ballot id with other bytes: duplicate, reason 1 (other bytes), the stored receipt; "
      "nothing counted")
PY
grep -q "resent a ballot id with other bytes than the envelope counted under it" "$WORK/worker1.log" \
  || fail "the worker did not log the resend with other bytes"
"$PY" "$SRC/tests/security/attack.py" --deploy "$WORK/deploy" --bundle "$WORK/deploy/operator" \
  --broker "$ENDPOINT" --timeout 15 stats:301:0 expect:STATS >"$WORK/stats.jsonl" || fail "no worker STATS"
python3 - "$WORK/stats.jsonl" <<'PY' || fail "worker stats: $(cat "$WORK/stats.jsonl")"
import json, sys
s = [json.loads(l) for l in open(sys.argv[1])]
st = [d for d in s if d.get("type") == "STATS"][0]
assert st["tag"] == 301 and st["source"] == "worker", st
assert st["stats"]["duplicates_differing"] == 1, st["stats"]["duplicates_differing"]
assert st["stats"]["ballots_accepted"] == 4, st["stats"]["ballots_accepted"]
PY
pass "one bad envelope refuses that envelope: the rest of its SUBMIT counted exactly, resends and other bytes told apart"

# 4. the tag of every refusal
FP=$(sha256sum "$WORK/deploy/election.json" | cut -d' ' -f1)
V02=a3763032 # "v02"
attack \
  raw:960304cd022bc420${FP}${V02}a178 expect:ERROR:1 \
  raw:94030dcd022c00 expect:ERROR:2 \
  raw:960304cd022dc420${FP}a376303190 expect:ERROR:2 \
  raw:960204cd022ec420${FP}${V02}90 expect:ERROR:1 \
  raw:960304a178c420${FP}${V02}90 expect:ERROR:1 \
  >"$WORK/tags.jsonl" || fail "refusals: $(cat "$WORK/tags.jsonl")"
python3 - "$WORK/tags.jsonl" <<'PY' || fail "tags of refusals: $(cat "$WORK/tags.jsonl")"
import json, sys
errs = [json.loads(l) for l in open(sys.argv[1])]
errs = [(d["tag"], d["code"], d["text"]) for d in errs if d.get("type") == "ERROR"]
want = [(555, 1, "SUBMIT.envelopes: expected array, got str"),
        (556, 2, "a venue key may not send STATS_QUERY to the broker"),
        (557, 2, "venue v02 may not send SUBMIT as venue v01"),
        (0, 1, "unsupported protocol version 2"),
        (0, 1, "SUBMIT.tag: expected uint, got str")]
assert errs == want, (errs, want)
print("refusals carry their request's tag (555, 556, 557); tag 0 only when it cannot be read")
PY
pass "every refusal names its request by tag; tag 0 only when the tag is unreadable"

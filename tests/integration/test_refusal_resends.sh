#!/usr/bin/env bash
# Figures count ballots, not messages: an envelope refused before it opens
# (here one byte of its ciphertext flipped: DECRYPT) is remembered by its
# bytes, so sending the same outbox again and again leaves the venue's
# `rejected` exactly where the first send put it; the resends are counted
# as duplicates.  The outbox is taken with --ingest-only, one envelope
# altered in its LMDB with mdb_dump/mdb_load (lmdb-utils), and copied
# before the first send, so every copy holds the very same envelopes.
source "$(dirname "$0")/lib.sh"

# lmdb-utils is installed by scripts/install-deps: its absence is a failure, not a skip
command -v mdb_dump >/dev/null && command -v mdb_load >/dev/null || fail "mdb_dump/mdb_load (lmdb-utils) missing"

N=40
SENDS=3
setup_deploy "$SRC/examples/2022-district-review.json" 1
start_broker
start_worker 1 0-7
wait_workers 1

client() {
  "$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v02 --broker "$ENDPOINT" --generate "$N" --seed 7 \
    --json "$@"
}
client --outbox "$WORK/outbox" --ingest-only >/dev/null 2>"$WORK/ingest.log" || fail "ingest-only failed"

# flip the last byte (inside the MAC) of the first pending envelope
mdb_dump -s pending "$WORK/outbox" >"$WORK/pending.dump" || fail "mdb_dump"
python3 - "$WORK/pending.dump" <<'PY' || fail "editing the dump"
import sys
path = sys.argv[1]
# older mdb_load does not know the db_pagesize keyword newer mdb_dump writes
lines = [l for l in open(path).read().split("\n") if not l.startswith("db_pagesize=")]
end = lines.index("HEADER=END")
# after the header: " key" / " value" pairs, then DATA=END
i = end + 1
assert lines[i].startswith(" ") and lines[i + 1].startswith(" "), lines[i:i + 2]
v = bytearray.fromhex(lines[i + 1].strip())
v[-1] ^= 0x01
lines[i + 1] = " " + v.hex()
open(path, "w").write("\n".join(lines))
PY
mdb_load -s pending -f "$WORK/pending.dump" "$WORK/outbox" || fail "mdb_load"
rm -f "$WORK/outbox/lock.mdb" # made by mdb_load; the client opens with MDB_NOLOCK
for i in $(seq 1 "$SENDS"); do cp -a "$WORK/outbox" "$WORK/outbox-copy$i"; done

figures() {
  "$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --json >"$WORK/tally.json" || fail "tally"
  python3 - "$WORK/tally.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
v = [x for x in t["venues"] if x["venue"] == "v02"][0]
print(v["accepted"], v["rejected"], v["duplicates"])
PY
}

client --outbox "$WORK/outbox" >"$WORK/first.json" 2>"$WORK/first.log" || fail "first send failed"
read -r acc0 rej0 dup0 < <(figures)
[ "$acc0" = $((N - 1)) ] || fail "first send: accepted $acc0, expected $((N - 1))"
[ "$rej0" = 1 ] || fail "first send: rejected $rej0, expected 1"
[ "$dup0" = 0 ] || fail "first send: duplicates $dup0, expected 0"
python3 - "$WORK/first.json" <<'PY' || fail "first client summary"
import json, sys
a = json.load(open(sys.argv[1]))
assert a["rejected"] == {"decrypt": 1}, a
PY

for i in $(seq 1 "$SENDS"); do
  client --outbox "$WORK/outbox-copy$i" --append >"$WORK/send$i.json" 2>"$WORK/send$i.log" ||
    fail "resend $i failed"
  read -r acc rej dup < <(figures)
  [ "$acc" = "$acc0" ] || fail "resend $i: accepted moved $acc0 -> $acc"
  [ "$rej" = "$rej0" ] || fail "resend $i: rejected moved $rej0 -> $rej (a refusal counted again)"
  [ "$dup" = $((i * N)) ] || fail "resend $i: duplicates $dup, expected $((i * N))"
  python3 - "$WORK/send$i.json" "$N" <<'PY' || fail "resend $i client summary"
import json, sys
b = json.load(open(sys.argv[1])); n = int(sys.argv[2])
assert b["rejected"] == {"decrypt": 1} and b["duplicates"] == n - 1, b
PY
done

# the offline recount agrees with the remembered refusal
"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --recount >"$WORK/recount.log" 2>&1 ||
  fail "recount failed"
pass "an altered envelope sent $((SENDS + 1)) times: rejected stays $rej0, the resends are duplicates"

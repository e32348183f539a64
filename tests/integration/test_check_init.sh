#!/usr/bin/env bash
# `pingyi check` reports every error of a definition at once, each naming the
# JSON path and the reason; `pingyi init` writes secrets 0600 in 0700 bundles
# and refuses to overwrite a deploy directory.
source "$(dirname "$0")/lib.sh"

"$BIN/pingyi" check "$SRC/examples/2022-district-review.json" >"$WORK/summary.txt" || fail "the example does not check"
grep -q "11 subjects" "$WORK/summary.txt" || fail "summary lacks the subject count: $(head -5 "$WORK/summary.txt")"
"$BIN/pingyi" check "$SRC/examples/choice-sets.json" >/dev/null || fail "choice-sets example does not check"

python3 - "$SRC/examples/2022-district-review.json" "$WORK/broken.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
d["subjects"][3]["unit"] = "镇党委2"
d["venues"][1]["subjects"].append("s99")
d["categories"][2]["weight"] = -1
d["units"][5]["id"] = d["units"][2]["id"]
json.dump(d, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False, indent=1)
PY
set +e
"$BIN/pingyi" check "$WORK/broken.json" >"$WORK/check.out" 2>"$WORK/check.err"
rc=$?
set -e
[ $rc -eq 1 ] || fail "a broken definition exited $rc, expected 1"
B="$WORK/broken.json"
cat >"$WORK/want.err" <<EOT
$B: categories[2] (一般干部).weight: must be a number in 0..1000
$B: units[5] (**街道党工委).id: duplicate id "u03" (first at units[2])
$B: subjects[3] (区区委办党支部书记).unit: unknown unit "镇党委2"
$B: subjects[5] (**街道党工委书记).unit: unknown unit "u06"
$B: venues[1] (分会场一).subjects[11]: unknown subject "s99"
$B: 5 errors
EOT
diff -u "$WORK/want.err" "$WORK/check.err" || fail "check errors differ"
pass "pingyi check lists every error with its JSON path"

"$BIN/pingyi" init "$SRC/examples/2022-district-review.json" "$WORK/deploy" --workers 2 >/dev/null
for f in broker/curve.secret worker/1/curve.secret worker/1/shard-00.secret worker/2/shard-07.secret \
  recount/shard-03.secret aggregator/curve.secret operator/curve.secret venue/v01/curve.secret venue/v01/box.secret venue/v03/box.secret; do
  [ "$(stat -c %a "$WORK/deploy/$f")" = 600 ] || fail "$f has mode $(stat -c %a "$WORK/deploy/$f"), want 600"
done
for d in broker worker/1 recount aggregator operator venue/v02; do
  [ "$(stat -c %a "$WORK/deploy/$d")" = 700 ] || fail "bundle $d has mode $(stat -c %a "$WORK/deploy/$d"), want 700"
done
# A shard's secret lives only with the worker its key is assigned to (8 shards,
# 2 workers: 0-3 and 4-7, written in the keyring) and in the recount bundle.
for s in 0 1 2 3 4 5 6 7; do
  w=$((s / 4 + 1))
  found=$(cd "$WORK/deploy" && find . -name "shard-0$s.secret" | sort | tr '\n' ' ')
  [ "$found" = "./recount/shard-0$s.secret ./worker/$w/shard-0$s.secret " ] || fail "shard-0$s.secret found at: $found"
done
grep -qP '^worker\t1\t[0-9a-f]{64}\t-\t0-3$' "$WORK/deploy/keyring.tsv" || fail "keyring does not assign 0-3 to worker 1"
grep -qP '^worker\t2\t[0-9a-f]{64}\t-\t4-7$' "$WORK/deploy/keyring.tsv" || fail "keyring does not assign 4-7 to worker 2"
[ "$(grep -cP '^shard\t[0-7]\t-\t[0-9a-f]{64}$' "$WORK/deploy/keyring.tsv")" = 8 ] || fail "keyring lacks 8 shard keys"
[ -z "$(cd "$WORK/deploy" && find venue broker aggregator operator -name 'shard-*')" ] || fail "a shard secret outside worker/recount"
# A venue bundle carries the keyring lines it uses, no more: the broker, itself
# and its shard's box key (the whole keyring in every bundle grew as venues²).
roles=$(grep -v '^#' "$WORK/deploy/venue/v01/keyring.tsv" | cut -f1,2 | tr '\t\n' ': ')
case "$roles" in
  "broker:broker venue:v01 shard:"[0-7]" ") ;;
  *) fail "venue keyring holds: $roles" ;;
esac
# The venue's bundle folder copied alone to the venue laptop is enough.
cp -a "$WORK/deploy/venue/v01" "$WORK/laptop-v01"
"$BIN/pingyi-client" --deploy "$WORK/laptop-v01" --venue v01 --generate 5 --seed 1 --ingest-only \
  --outbox "$WORK/laptop-outbox" >/dev/null 2>"$WORK/laptop.err" || fail "client on a copied bundle: $(cat "$WORK/laptop.err")"
set +e
"$BIN/pingyi-client" --deploy "$WORK/nowhere" --venue v01 --generate 5 --seed 1 --ingest-only --outbox "$WORK/o2" \
  2>"$WORK/nowhere.err"
rc=$?
set -e
[ $rc -ne 0 ] || fail "a missing bundle was accepted"
grep -q "never run pingyi init on a venue host" "$WORK/nowhere.err" || fail "missing-bundle hint: $(cat "$WORK/nowhere.err")"
set +e
"$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v99 --generate 5 --seed 1 --ingest-only --outbox "$WORK/o3" \
  2>"$WORK/v99.err"
rc=$?
set -e
[ $rc -ne 0 ] || fail "an unknown venue was accepted"
grep -qF 'unknown venue "v99": the election 2022-district-review has 3 venues (v01, v02, v03)' "$WORK/v99.err" \
  || fail "unknown-venue message: $(cat "$WORK/v99.err")"
pass "venue bundles: three keyring lines; a copied bundle folder works; clear words for a missing bundle or venue"
# Every bundle's definition is the same bytes, so the same fingerprint.
fp=$("$BIN/pingyi" fingerprint "$SRC/examples/2022-district-review.json")
want=$(python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' \
  "$SRC/examples/2022-district-review.json")
[ "$fp" = "$want" ] || fail "fingerprint $fp, sha256 says $want"
[ "$("$BIN/pingyi" fingerprint "$WORK/deploy/venue/v01/election.json")" = "$want" ] || fail "bundle definition differs"
pass "pingyi init: secrets 0600, bundles 0700, each shard secret only with its worker and the recount bundle"

set +e
"$BIN/pingyi" init "$SRC/examples/2022-district-review.json" "$WORK/deploy" >/dev/null 2>"$WORK/again.err"
rc=$?
set -e
[ $rc -eq 1 ] || fail "init over an existing directory exited $rc"
grep -qF "pingyi init: $WORK/deploy: already exists; refusing to overwrite a deploy directory" "$WORK/again.err" \
  || fail "unexpected message: $(cat "$WORK/again.err")"
pass "pingyi init refuses to overwrite"

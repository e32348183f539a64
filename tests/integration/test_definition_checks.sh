#!/usr/bin/env bash
# `pingyi check` on what editors really write: a UTF-8 BOM is accepted and
# fingerprinted with the file's bytes as they are; a GBK/ANSI file is refused
# naming the first byte that is not UTF-8; a valid but suspicious definition
# passes with `warning:` lines; a misspelt key gets a suggestion.
source "$(dirname "$0")/lib.sh"

EX="$SRC/examples/2022-district-review.json"

# check FILE: run `pingyi check`, keep stdout/stderr in $WORK/out, $WORK/err, exit code in $rc.
check() {
  set +e
  "$BIN/pingyi" check "$1" >"$WORK/out" 2>"$WORK/err"
  rc=$?
  set -e
}

# The example is clean: exit 0, nothing on stderr.
check "$EX"
[ $rc -eq 0 ] || fail "the example exited $rc"
[ ! -s "$WORK/err" ] || fail "the example gave stderr: $(cat "$WORK/err")"
pass "the example checks without warnings"

# BOM: accepted; the fingerprint is the SHA-256 of the bytes, BOM included.
BOM="$WORK/bom.json"
printf '\xef\xbb\xbf' >"$BOM"
cat "$EX" >>"$BOM"
check "$BOM"
[ $rc -eq 0 ] || fail "a BOM file exited $rc: $(cat "$WORK/err")"
[ ! -s "$WORK/err" ] || fail "a BOM file gave stderr: $(cat "$WORK/err")"
want=$(sha256sum "$BOM" | cut -d' ' -f1)
plain=$(sha256sum "$EX" | cut -d' ' -f1)
[ "$want" != "$plain" ] || fail "the BOM did not change the bytes"
grep -qx "fingerprint  $want" "$WORK/out" || fail "fingerprint is not sha256sum $want: $(grep fingerprint "$WORK/out")"
[ "$("$BIN/pingyi" fingerprint "$BOM")" = "$want" ] || fail "pingyi fingerprint differs from sha256sum"
pass "a UTF-8 BOM is accepted and the fingerprint is sha256sum of the file"

# GBK: refused, naming the first byte that is not UTF-8 (1-based).
GBK="$WORK/gbk.json"
iconv -f UTF-8 -t GB18030 "$EX" >"$GBK"
pos=$(python3 -c '
import sys
b = open(sys.argv[1], "rb").read()
try:
    b.decode("utf-8")
    print(0)
except UnicodeDecodeError as e:
    print(e.start + 1)' "$GBK")
[ "$pos" -gt 0 ] || fail "iconv wrote UTF-8"
check "$GBK"
[ $rc -eq 1 ] || fail "a GBK file exited $rc"
cat >"$WORK/want" <<EOT
$GBK: definition: byte $pos is not UTF-8 (saved as GBK/ANSI? re-save it as UTF-8)
$GBK: 1 error
EOT
diff -u "$WORK/want" "$WORK/err" || fail "GBK stderr differs"
[ ! -s "$WORK/out" ] || fail "a refused file printed a summary"
# The same with a BOM in front: the position counts the BOM's bytes.
printf '\xef\xbb\xbf' >"$WORK/bom-gbk.json"
cat "$GBK" >>"$WORK/bom-gbk.json"
check "$WORK/bom-gbk.json"
[ $rc -eq 1 ] || fail "a BOM+GBK file exited $rc"
grep -qxF "$WORK/bom-gbk.json: definition: byte $((pos + 3)) is not UTF-8 (saved as GBK/ANSI? re-save it as UTF-8)" "$WORK/err" \
  || fail "BOM+GBK stderr: $(cat "$WORK/err")"
pass "a GBK file is refused naming byte $pos"

# Warnings: exit 0, summary on stdout, warning lines and their count on stderr.
W="$WORK/warnings.json"
python3 - "$EX" "$W" <<'PY'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
for c in d["categories"]:
    c["weight"] = 0
d["districts"].append({"id": "d2", "name": "新区"})
d["units"].append({"id": "u12", "name": "空单位", "kind": "other", "district": "d1"})
d["subjects"].append({"id": "s12", "name": "未上表书记", "unit": "u01"})
json.dump(d, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False, indent=1)
PY
check "$W"
[ $rc -eq 0 ] || fail "warnings exited $rc: $(cat "$WORK/err")"
grep -q "12 subjects" "$WORK/out" || fail "no summary with warnings"
cat >"$WORK/want" <<EOT
$W: warning: categories: every weight is 0, so no weighted score can be computed
$W: warning: districts[1] (新区): has no unit and no venue
$W: warning: units[11] (空单位): has no subjects
$W: warning: subjects[11] (未上表书记): on no venue's form, so never evaluated
$W: 4 warnings
EOT
diff -u "$WORK/want" "$WORK/err" || fail "warning lines differ"
pass "warnings: exit 0, one line each, counted"

# A misspelt key: an error with a suggestion; names in the path.
M="$WORK/misspelt.json"
python3 - "$EX" "$M" <<'PY'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
d["venues"][0]["isued"] = d["venues"][0].pop("issued")
d["categories"][1]["wieght"] = 1
json.dump(d, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False, indent=1)
PY
check "$M"
[ $rc -eq 1 ] || fail "a misspelt key exited $rc"
cat >"$WORK/want" <<EOT
$M: categories[1] (中层干部): unknown key "wieght" (did you mean "weight"?)
$M: venues[0] (区委大礼堂主会场): unknown key "isued" (did you mean "issued"?)
$M: 2 errors
EOT
diff -u "$WORK/want" "$WORK/err" || fail "misspelt-key stderr differs"
pass "a misspelt key gets a suggestion"

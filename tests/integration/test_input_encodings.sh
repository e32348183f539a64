#!/usr/bin/env bash
# Ballot files as a clerk on a Chinese Windows PC saves them
# (docs/ballot-input.md, "Encodings" and "Normalisation"): a GBK/GB18030
# file and a UTF-8 file with a BOM, both with Chinese category names and
# grade labels, full-width letters, U+3000 padding, 、 over-marks and Excel's
# cleared rows, are counted exactly; a file whose first lines are all bad
# (here: GB18030 read with --encoding utf-8) stops before taking anything,
# and the same outbox then takes the file read right.
source "$(dirname "$0")/lib.sh"

DEF="$SRC/examples/2022-district-review.json"
setup_deploy "$DEF" 1
start_broker
start_worker 1 0-7
wait_workers 1

cd "$WORK"
client() { # VENUE FILE OUTBOX [extra flags]
  local venue=$1 file=$2 outbox=$3
  shift 3
  "$BIN/pingyi-client" --deploy deploy --venue "$venue" --broker "$ENDPOINT" --input "$file" --outbox "$outbox" \
    --json "$@"
}

# 1. GB18030 (GBK), detected.
python3 "$SRC/tests/integration/make_encoded_csv.py" "$DEF" v01 a.utf8.csv a.json 11 >/dev/null
iconv -f UTF-8 -t GB18030 a.utf8.csv >a.csv
client v01 a.csv outbox-a >a.out 2>a.log || fail "the GB18030 file: client exited $?"
grep -qxF 'pingyi-client info: a.csv: not UTF-8 (line 2): read as GB18030 (GBK); if that is wrong, give --encoding utf-8' <(untimed a.log) \
  || fail "no note that a.csv was read as GB18030: $(cat a.log)"
if grep -E '^a\.csv:' a.log; then fail "bad lines in the GB18030 file"; fi

# 2. UTF-8 with a BOM.
python3 "$SRC/tests/integration/make_encoded_csv.py" "$DEF" v02 b.utf8.csv b.json 12 >/dev/null
{ printf '\xef\xbb\xbf'; cat b.utf8.csv; } >b.csv
client v02 b.csv outbox-b >b.out 2>b.log || fail "the UTF-8 file with a BOM: client exited $?"
if grep -E '^b\.csv:' b.log; then fail "bad lines in the UTF-8 file"; fi

# 3. GB18030 forced to be read as UTF-8: every line is bad, nothing is taken.
python3 "$SRC/tests/integration/make_encoded_csv.py" "$DEF" v03 c.utf8.csv c.json 13 >/dev/null
iconv -f UTF-8 -t GB18030 c.utf8.csv >c.csv
set +e
client v03 c.csv outbox-c --encoding utf-8 >c.out 2>c.log
rc=$?
set -e
[ $rc -eq 2 ] || fail "a file whose first lines are all bad: client exited $rc, expected 2"
n=$(grep -cE '^c\.csv:[0-9]+:[0-9]+: not valid UTF-8 \(use --encoding gb18030, or re-save the file as UTF-8\)$' c.log || true)
[ "$n" -eq 20 ] || fail "expected the 20 bad lines reported, found $n: $(cat c.log)"
grep -qxF "pingyi-client error: c.csv: the first 20 lines after the header are all bad, so nothing was taken: is it in another encoding (give --encoding gb18030 or --encoding utf-8) or not made from venue v03's template?" <(untimed c.log) \
  || fail "the refusal is not the one expected: $(cat c.log)"
# The same outbox, the same file read right: had the refused run taken any
# record, this run would skip it (and the count below would be short).
client v03 c.csv outbox-c --encoding gbk >c2.out 2>c2.log || fail "c.csv with --encoding gbk: client exited $?"
if grep -E '^c\.csv:' c2.log; then fail "bad lines in c.csv read as GBK"; fi

python3 - a.out b.out c2.out <<'PY' || fail "client summaries: $(cat a.out b.out c2.out)"
import json, sys
for f in sys.argv[1:]:
    s = json.load(open(f))
    assert s["ballots_read"] == 200 and s["bad_lines"] == 0 and s["accepted"] == 200, (f, s)
PY
"$BIN/pingyi" tally --deploy deploy --data data --json >tally.json
python3 "$SRC/tests/integration/compare.py" tally.json a.json b.json c.json || fail "not counted exactly"
pass "GB18030 and UTF-8-with-BOM files counted exactly; an all-bad start refused, nothing taken"

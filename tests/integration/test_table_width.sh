#!/usr/bin/env bash
# The table for people (`pingyi query`, `pingyi tally`): the example
# election counted with fixed seeds (3 venues × 100 generated ballots),
# then the table compared byte for byte with the files under expected/ at
# --width 80 and --width 200 (the snapshot time, which moves, normalised
# to "T"); COLUMNS taking effect when no --width is given; --sort rank in
# the order of the JSON view's ranks; --category by name printing what
# --category by id prints; an unknown category refused with the exact list;
# --lang en headers.  PINGYI_UPDATE_EXPECTED=1 rewrites the expected files
# (then read them: names distinct, columns aligned, nothing cut mid-character).
source "$(dirname "$0")/lib.sh"
unset COLUMNS

N=100
EXPECTED="$SRC/tests/integration/expected"
DEF="$(drill_definition)"
setup_deploy "$DEF" 2
start_broker
start_worker 1 0-3
start_worker 2 4-7
wait_workers 2

clients=()
seed=71
for v in v01 v02 v03; do
  "$BIN/pingyi-client" --deploy "$WORK/deploy" --venue $v --broker "$ENDPOINT" --generate "$N" --seed $seed \
    --outbox "$WORK/outbox-$v" --close --issued "$N" --collected "$N" --json \
    >"$WORK/client-$v.json" 2>"$WORK/client-$v.log" &
  clients+=($!)
  seed=$((seed + 1))
done
for p in "${clients[@]}"; do wait "$p" || fail "a client exited non-zero"; done
stop worker1
stop worker2
stop broker

Q=("$BIN/pingyi" query --deploy "$WORK/deploy" --data "$WORK/data")
norm() { sed -E "s/^(快照时间|snapshot) [0-9T:+-]+ *$/\1 T/" "$1"; }

# line widths: every line of a table the same display width
widths() {
  python3 - "$1" "$2" <<'PY'
import sys, unicodedata
def width(s):
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 0 if unicodedata.combining(ch) else 1 for ch in s)
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")[:-1]
w = {width(l) for l in lines}
assert w == {int(sys.argv[2])}, (sys.argv[1], w)
PY
}

for w in 80 200; do
  "${Q[@]}" --width $w >"$WORK/table-$w.txt" || fail "query --width $w"
  widths "$WORK/table-$w.txt" $w || fail "--width $w: lines of another width"
  norm "$WORK/table-$w.txt" >"$WORK/table-$w.norm"
  if [ -n "${PINGYI_UPDATE_EXPECTED:-}" ]; then
    cp "$WORK/table-$w.norm" "$EXPECTED/table-$w.txt"
  fi
  diff -u "$EXPECTED/table-$w.txt" "$WORK/table-$w.norm" || fail "--width $w differs from expected/table-$w.txt"
  "$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --width $w >"$WORK/tally-$w.txt" \
    || fail "tally --width $w"
  widths "$WORK/tally-$w.txt" $w || fail "tally --width $w: lines of another width"
done

# COLUMNS: taken when no --width; --width overrides it; a bad COLUMNS is ignored (80 off a tty)
COLUMNS=120 "${Q[@]}" >"$WORK/table-c120.txt" || fail "COLUMNS=120 query"
widths "$WORK/table-c120.txt" 120 || fail "COLUMNS=120 not taken"
COLUMNS=120 "$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" >"$WORK/tally-c120.txt" || fail "tally"
widths "$WORK/tally-c120.txt" 120 || fail "COLUMNS=120 not taken by pingyi tally"
COLUMNS=120 "${Q[@]}" --width 90 >"$WORK/table-c120w90.txt" || fail "COLUMNS=120 --width 90"
widths "$WORK/table-c120w90.txt" 90 || fail "--width does not override COLUMNS"
COLUMNS=abc "${Q[@]}" >"$WORK/table-cbad.txt" || fail "COLUMNS=abc"
widths "$WORK/table-cbad.txt" 80 || fail "a bad COLUMNS is not ignored"
COLUMNS=20 "${Q[@]}" >"$WORK/table-c20.txt" || fail "COLUMNS=20"
widths "$WORK/table-c20.txt" 80 || fail "COLUMNS out of 40..1000 is not ignored"

# --sort rank: the order of the JSON view's ranks (ties in definition order, no rank last)
"${Q[@]}" --format json >"$WORK/view.json" || fail "query --format json"
"${Q[@]}" --width 200 --sort rank >"$WORK/table-rank.txt" || fail "query --sort rank"
python3 - "$WORK/view.json" "$WORK/table-rank.txt" <<'PY' || fail "--sort rank order"
import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
rows = doc["rows"]
order = sorted(range(len(rows)), key=lambda i: (rows[i]["rank"] is None, rows[i]["rank"] or 0, i))
want = [(rows[i]["rank"], rows[i]["name"]) for i in order]
lines = open(sys.argv[2], encoding="utf-8").read().split("\n")
head = next(i for i, l in enumerate(lines) if l.startswith("名次 "))
got = []
for l in lines[head + 1:]:
    if l.startswith("---"):
        break
    parts = l.split()
    got.append((None if parts[0] == "-" else int(parts[0]), parts[1]))
assert got == want, (got, want)
assert [r for r, _ in got] == sorted(r for r, _ in got), got
print("sort rank:", [r for r, _ in got])
PY

# --category by name prints what --category by id prints
"${Q[@]}" --width 120 --category leaders >"$WORK/cat-id.txt" || fail "--category leaders"
"${Q[@]}" --width 120 --category 领导班子成员 >"$WORK/cat-name.txt" || fail "--category 领导班子成员"
cmp -s <(norm "$WORK/cat-id.txt") <(norm "$WORK/cat-name.txt") || fail "--category by name differs from by id"
grep -q "类别：领导班子成员" "$WORK/cat-name.txt" || fail "the table does not name the category"
"${Q[@]}" --category 中层干部 --format json | python3 -c 'import json,sys; assert json.load(sys.stdin)["category"] == "middle"' \
  || fail "--category by name in JSON"

# an unknown category: exit 2, every id and name listed
set +e
"${Q[@]}" --category boss >/dev/null 2>"$WORK/e-cat"; rc=$?
"${Q[@]}" --sort score >/dev/null 2>"$WORK/e-sort"; rc2=$?
"${Q[@]}" --lang fr >/dev/null 2>"$WORK/e-lang"; rc3=$?
set -e
[ $rc -eq 2 ] || fail "unknown category: exit $rc"
[ "$(cat "$WORK/e-cat")" = 'pingyi query: unknown category "boss"; the categories are: leaders (领导班子成员), middle (中层干部), staff (一般干部), served (服务对象)' ] \
  || fail "unknown category message: $(cat "$WORK/e-cat")"
[ $rc2 -eq 2 ] && grep -q 'unknown sort "score" (definition, rank or name)' "$WORK/e-sort" || fail "bad --sort: $rc2"
[ $rc3 -eq 2 ] && grep -q 'unknown language "fr" (zh or en)' "$WORK/e-lang" || fail "bad --lang: $rc3"

# --lang en: English headers and labels, the same figures
"${Q[@]}" --width 120 --lang en >"$WORK/table-en.txt" || fail "query --lang en"
widths "$WORK/table-en.txt" 120 || fail "--lang en widths"
grep -Eq '^rank +subject +好 +较好 +一般 +差 +blank +over +favourable % +unfavourable % +score *$' "$WORK/table-en.txt" \
  || fail "--lang en: row headers: $(grep -n rank "$WORK/table-en.txt")"
grep -Eq '^venue +issued +collected +valid +blank +refused +dup +status *$' "$WORK/table-en.txt" \
  || fail "--lang en: venue headers"
grep -q '^item: 总体评价  level: subject  categories: all (weighted)' "$WORK/table-en.txt" || fail "--lang en: heading"
grep -q '^FINAL: all 3 venues reconciled' "$WORK/table-en.txt" || fail "--lang en: status"
grep -Eq '^v01 .* reconciled *$' "$WORK/table-en.txt" || fail "--lang en: venue status"
grep -Eq '好评率|名次|快照时间' "$WORK/table-en.txt" && fail "--lang en still shows Chinese labels"
pass "the table at 80 and 200 columns as expected; COLUMNS, --sort rank, --category by name, --lang en"

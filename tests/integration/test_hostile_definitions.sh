#!/usr/bin/env bash
# Definitions from outside stay within sane bounds (issue 11), proved with the
# real binaries: a weight of 1e308 (it printed `inf` and broke the JSON query)
# and points out of range are refused by `pingyi check` with their exact line;
# ids that would become directory names a shell or a screen misreads (a space,
# a leading "-", bidirectional and zero-width characters) are refused by check
# and by init, which writes nothing; a CJK id is still fine. `pingyi init` is
# all or nothing: interrupted (SIGINT at 0.5 s, SIGTERM in the middle of the
# venue bundles) or failing (a full disk, a parent that is not a directory),
# it leaves neither DIR nor any DIR.tmp-* behind.
source "$(dirname "$0")/lib.sh"
cd "$WORK"
EXAMPLE=$SRC/examples/2022-district-review.json

# hostile NAME PYTHON: write NAME.json, the example changed by PYTHON (d is the
# definition as a dict).
hostile() {
  python3 - "$EXAMPLE" "$WORK/$1.json" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
exec(sys.argv[3])
json.dump(d, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False, indent=1)
PY
}

# refused NAME LINE: pingyi check NAME.json exits 1 with exactly LINE and "1 error";
# pingyi init refuses it too and makes nothing.
refused() {
  local f=$WORK/$1.json rc
  set +e
  "$BIN/pingyi" check "$f" >"$1.out" 2>"$1.err"
  rc=$?
  set -e
  [ $rc -eq 1 ] || fail "$1: pingyi check exited $rc, expected 1: $(cat "$1.err")"
  printf '%s\n' "$f: $2" "$f: 1 error" >"$1.want"
  diff -u "$1.want" "$1.err" || fail "$1: pingyi check lines differ"
  set +e
  "$BIN/pingyi" init "$f" "$WORK/deploy-$1" >/dev/null 2>"$1.init.err"
  rc=$?
  set -e
  [ $rc -eq 1 ] || fail "$1: pingyi init exited $rc, expected 1"
  grep -qF "$2" "$1.init.err" || fail "$1: pingyi init said: $(cat "$1.init.err")"
  [ -z "$(find "$WORK" -maxdepth 1 -name "deploy-$1*")" ] || fail "$1: init left $(ls -d "$WORK/deploy-$1"*)"
}

V0='venues[0] (区委大礼堂主会场).id'
hostile weight-1e308 'd["categories"][2]["weight"] = 1e308'
refused weight-1e308 'categories[2] (一般干部).weight: must be a number in 0..1000'
hostile weight-1001 'd["categories"][2]["weight"] = 1001'
refused weight-1001 'categories[2] (一般干部).weight: must be a number in 0..1000'
hostile points-1e308 'd["grades"][0]["points"] = 1e308'
refused points-1e308 'grades[0].points: must be a number in -1000..1000'
hostile points-neg 'd["grades"][3]["points"] = -1e308'
refused points-neg 'grades[3].points: must be a number in -1000..1000'
pass "weights out of 0..1000 and points out of -1000..1000 (1e308 among them) are refused"

hostile id-space 'd["venues"][0]["id"] = " "'
refused id-space "$V0: contains U+0020 (a space), not allowed in an id"
hostile id-lead 'd["venues"][0]["id"] = " v01x"'
refused id-lead "$V0: contains U+0020 (a space), not allowed in an id"
hostile id-trail 'd["venues"][0]["id"] = "v01x "'
refused id-trail "$V0: contains U+0020 (a space), not allowed in an id"
hostile id-inside 'd["venues"][0]["id"] = "会场\u3000一"'
refused id-inside "$V0: contains U+3000 (a space), not allowed in an id"
hostile id-dash 'd["venues"][0]["id"] = "-rf"'
refused id-dash "$V0: must not start with '-' (it would read as an option on a command line)"
hostile id-rlo 'd["venues"][0]["id"] = "v1\u202efdp.exe"'
refused id-rlo "$V0: contains U+202E (a bidirectional control), not allowed in an id"
hostile id-zwsp 'd["venues"][0]["id"] = "v\u200b01"'
refused id-zwsp "$V0: contains U+200B (a zero-width character), not allowed in an id"
hostile id-bom 'd["venues"][0]["id"] = "\ufeffv01"'
refused id-bom "$V0: contains U+FEFF (a zero-width character), not allowed in an id"
hostile id-shy 'd["venues"][0]["id"] = "v\u00ad01"'
refused id-shy "$V0: contains U+00AD (an invisible format character), not allowed in an id"
hostile id-isolate 'd["venues"][0]["id"] = "v\u206801"'
refused id-isolate "$V0: contains U+2068 (a bidirectional control), not allowed in an id"
hostile id-c1 'd["venues"][0]["id"] = "v\u009b01"'
refused id-c1 "$V0: must not contain control characters"
hostile id-category 'd["categories"][1]["id"] = "mid dle"'
refused id-category 'categories[1] (中层干部).id: contains U+0020 (a space), not allowed in an id'
pass "ids with whitespace, a leading '-', bidirectional, zero-width or format characters are refused by check and init"

hostile id-cjk 'd["venues"][0]["id"] = "会场一"; d["venues"][1]["id"] = "v-02"'
"$BIN/pingyi" check "$WORK/id-cjk.json" >/dev/null || fail "a CJK venue id was refused"
"$BIN/pingyi" init "$WORK/id-cjk.json" "$WORK/deploy-cjk" >/dev/null || fail "init of a CJK venue id failed"
[ -f "$WORK/deploy-cjk/venue/会场一/box.secret" ] || fail "no bundle venue/会场一"
[ -d "$WORK/deploy-cjk/venue/v-02" ] || fail "no bundle venue/v-02"
[ -z "$(find "$WORK" -maxdepth 1 -name 'deploy-cjk.tmp-*')" ] || fail "a temporary directory is left beside deploy-cjk"
pass "a CJK id (会场一) and an inner '-' (v-02) are accepted; init leaves no temporary directory"

# A citywide definition: 10,000 venue bundles take init several seconds.
"$BIN/pingyi" gen-election --districts 100 --venues-per-district 100 --subjects 2000 --form-subjects 11 \
  --out "$WORK/big.json" >/dev/null

# nothing_left NAME: neither NAME nor NAME.tmp-* in $WORK.
nothing_left() {
  local left
  left=$(find "$WORK" -maxdepth 1 \( -name "$1" -o -name "$1.tmp-*" \))
  [ -z "$left" ] || fail "left behind: $left"
}

# interrupt SIGNAL WHEN NAME: start pingyi init on big.json into NAME, send SIGNAL
# at WHEN ("0.5": after 0.5 s; "venues": once venue bundles are being written),
# and expect it to end by that signal. Python starts it so that SIGINT is not
# ignored (a background job of a script ignores it).
interrupt() {
  python3 - "$BIN/pingyi" "$WORK/big.json" "$WORK/$3" "$1" "$2" <<'PY'
import glob, os, signal, subprocess, sys, time
pingyi, definition, target, sig, when = sys.argv[1:]
signo = getattr(signal, sig)
p = subprocess.Popen([pingyi, "init", definition, target], stdout=subprocess.DEVNULL,
                     stderr=subprocess.PIPE)
if when == "venues":
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and p.poll() is None:
        made = glob.glob(target + ".tmp-*/venue/*")
        if len(made) >= 100:
            break
        time.sleep(0.01)
    if p.poll() is not None:
        sys.exit("init ended (%d) before 100 venue bundles were seen" % p.returncode)
else:
    time.sleep(float(when))
p.send_signal(signo)
_, err = p.communicate(timeout=60)
if p.returncode != -signo:
    sys.exit("init ended with %d, not by %s: %s" % (p.returncode, sig, err.decode(errors="replace")))
PY
}

interrupt SIGINT 0.5 int-early || fail "SIGINT at 0.5 s"
nothing_left int-early
interrupt SIGINT venues int-venues || fail "SIGINT among the venue bundles"
nothing_left int-venues
interrupt SIGTERM venues term-venues || fail "SIGTERM among the venue bundles"
nothing_left term-venues
pass "pingyi init interrupted (SIGINT at 0.5 s, SIGINT and SIGTERM among 10,000 venue bundles) leaves nothing"

# A disk that fills up: files over 64 KiB fail (EFBIG, SIGXFSZ ignored); the
# 2 MB definition is the first file written.
set +e
(trap '' XFSZ; ulimit -f 64; exec "$BIN/pingyi" init "$WORK/big.json" "$WORK/full") >/dev/null 2>full.err
rc=$?
set -e
[ $rc -eq 1 ] || fail "init on a full disk exited $rc: $(cat full.err)"
grep -q "^pingyi init: $WORK/full.tmp-[A-Za-z0-9]\{6\}/election.json: write failed: File too large$" full.err \
  || fail "full disk: $(cat full.err)"
nothing_left full
# A parent that is not a directory.
touch "$WORK/plain-file"
set +e
"$BIN/pingyi" init "$EXAMPLE" "$WORK/plain-file/deploy" >/dev/null 2>notdir.err
rc=$?
set -e
[ $rc -eq 1 ] || fail "init under a plain file exited $rc"
grep -qxF "pingyi init: $WORK/plain-file/deploy: cannot create the temporary directory $WORK/plain-file/deploy.tmp-XXXXXX beside it: Not a directory" notdir.err \
  || fail "not a directory: $(cat notdir.err)"
# An unwritable parent (root writes anyway: then only when not root).
if [ "$(id -u)" != 0 ]; then
  mkdir "$WORK/ro" && chmod 0555 "$WORK/ro"
  set +e
  "$BIN/pingyi" init "$EXAMPLE" "$WORK/ro/deploy" >/dev/null 2>ro.err
  rc=$?
  set -e
  chmod 0755 "$WORK/ro"
  [ $rc -eq 1 ] || fail "init under an unwritable parent exited $rc"
  grep -qF "beside it: Permission denied" ro.err || fail "unwritable parent: $(cat ro.err)"
  [ -z "$(ls -A "$WORK/ro")" ] || fail "left in an unwritable parent: $(ls -A "$WORK/ro")"
  pass "a failing pingyi init (a full disk, a file as parent, an unwritable parent) leaves nothing"
else
  echo "note: the unwritable-parent case is not run as root (root writes anyway); the full disk and the file-as-parent cases were"
  pass "a failing pingyi init (a full disk, a file as parent) leaves nothing"
fi

# --venue-archive OUT is atomic too: an existing OUT is refused after DIR is made.
mkdir "$WORK/arch"
set +e
"$BIN/pingyi" init "$EXAMPLE" "$WORK/deploy-arch" --venue-archive "$WORK/arch" >/dev/null 2>arch.err
rc=$?
set -e
[ $rc -eq 1 ] || fail "an existing archive directory: exit $rc"
grep -qxF "pingyi init: $WORK/arch: already exists; refusing to overwrite an archive directory (the deploy directory $WORK/deploy-arch is complete; $WORK/arch was not made)" arch.err \
  || fail "archive message: $(cat arch.err)"
[ -z "$(find "$WORK" -maxdepth 1 -name 'arch.tmp-*')" ] || fail "an archive temporary directory is left"
pass "--venue-archive refuses an existing OUT and leaves no temporary directory"

# A shard's SNAPSHOT carries every venue's figures: a definition putting
# more venues on one shard than fit one REPLY is refused by check (and so
# by init), with the bound for its shape and how many shards it needs.
python3 - "$EXAMPLE" "$WORK/crowded.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8-sig"))
v = d["venues"][0]
d["venues"] = [dict(v, id="x%05d" % i, name="会场%d" % i, shard=0) for i in range(7000)]
for x in d["venues"]:
    x.pop("issued", None)
json.dump(d, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
PY
set +e
"$BIN/pingyi" check "$WORK/crowded.json" >crowded.out 2>&1
rc=$?
set -e
[ $rc -eq 1 ] || fail "7,000 venues on one shard: check exited $rc"
grep -qxF "$WORK/crowded.json: venues: shard 0 holds 7000 venues, but a shard's SNAPSHOT carries at most 5848 venues' figures with 4 rater categories and count blocks of 672 bytes: raise \"shards\" (at least 2) or give its venues other \"shard\"s" crowded.out \
  || fail "crowded shard: $(cat crowded.out)"
pass "7,000 venues on one shard refused: at most 5,848 fit its SNAPSHOT"

#!/usr/bin/env bash
# `cmake --install BUILD --prefix ROOT` (docs/OPERATIONS.md "Services"):
# the binaries in ROOT/bin, the man pages in ROOT/share/man/man1, the systemd
# units in ROOT/lib/systemd/system (ExecStart naming ROOT/bin/...), the worker's
# first-start helper in ROOT/libexec/pingyi, the sysusers entry, the example
# definitions in ROOT/share/pingyi/examples, the docs in ROOT/share/doc/pingyi;
# and a packager's DESTDIR install names the final prefix, not the staging dir.
source "$(dirname "$0")/lib.sh"

ROOT=$WORK/root
cmake --install "$BIN" --prefix "$ROOT" >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; fail "cmake --install"; }

# exactly FILE... under DIR (names, sorted)
exactly() {
  local dir=$1
  shift
  local want have
  want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
  have=$(cd "$dir" 2>/dev/null && ls | sort | tr '\n' ' ') || fail "$dir: not installed"
  [ "$have" = "$want" ] || fail "$dir holds: $have; expected: $want"
}

progs="pingyi pingyi-agg pingyi-broker pingyi-client pingyi-worker"
exactly "$ROOT/bin" $progs
for p in $progs; do
  [ -x "$ROOT/bin/$p" ] || fail "$ROOT/bin/$p is not executable"
  "$ROOT/bin/$p" --version | grep -qE "^$p [0-9]+\.[0-9]+\.[0-9]+ \(git " || fail "installed $p --version"
done
if command -v help2man >/dev/null; then
  exactly "$ROOT/share/man/man1" pingyi.1 pingyi-agg.1 pingyi-broker.1 pingyi-client.1 pingyi-worker.1
fi
exactly "$ROOT/lib/systemd/system" pingyi-agg.service pingyi-broker.service pingyi-client@.service \
  pingyi-worker-create@.service pingyi-worker@.service
grep -q "^ExecStart=$ROOT/bin/pingyi-agg " "$ROOT/lib/systemd/system/pingyi-agg.service" ||
  fail "pingyi-agg.service does not start $ROOT/bin/pingyi-agg"
! grep -q '@PINGYI_[A-Z]*@' "$ROOT"/lib/systemd/system/* || fail "a unit keeps an unsubstituted @PINGYI_…@"
[ -x "$ROOT/libexec/pingyi/pingyi-worker-create" ] || fail "no libexec/pingyi/pingyi-worker-create"
[ -s "$ROOT/lib/sysusers.d/pingyi.conf" ] || fail "no lib/sysusers.d/pingyi.conf"
exactly "$ROOT/share/pingyi/examples" $(cd "$SRC/examples" && ls *.json)
for f in "$SRC"/examples/*.json; do
  cmp -s "$f" "$ROOT/share/pingyi/examples/$(basename "$f")" || fail "examples/$(basename "$f") installed differs"
done
"$ROOT/bin/pingyi" check "$ROOT/share/pingyi/examples/2022-district-review.json" >/dev/null ||
  fail "the installed example does not check"
for f in "$SRC"/README.md "$SRC"/docs/*.md; do
  cmp -s "$f" "$ROOT/share/doc/pingyi/$(basename "$f")" || fail "doc $(basename "$f") not installed (or differs)"
done
[ -f "$ROOT/share/doc/pingyi/OPERATIONS.md" ] || fail "no share/doc/pingyi/OPERATIONS.md"
exactly "$ROOT/share/doc/pingyi/systemd" agg.env broker.env client-VENUE.env client.env worker.env
pass "cmake --install: binaries, man pages, units, helper, sysusers, examples, docs, env samples"

# a packager's staged install: files under DESTDIR, the units name the final prefix
DESTDIR=$WORK/stage cmake --install "$BIN" --prefix /usr >"$WORK/install-stage.log" 2>&1 ||
  { cat "$WORK/install-stage.log"; fail "DESTDIR install"; }
[ -x "$WORK/stage/usr/bin/pingyi-broker" ] || fail "DESTDIR install: no stage/usr/bin/pingyi-broker"
grep -q '^ExecStart=/usr/bin/pingyi-broker ' "$WORK/stage/usr/lib/systemd/system/pingyi-broker.service" ||
  fail "DESTDIR install: the unit does not name /usr/bin/pingyi-broker: $(grep ^ExecStart= "$WORK/stage/usr/lib/systemd/system/pingyi-broker.service")"
pass "DESTDIR=stage --prefix /usr: files under stage, the units name /usr/bin"

#!/usr/bin/env bash
# The man pages (man/, generated at build time from each program's --help by
# help2man): one per binary, and each lists exactly the flags its program's
# --help lists — every flag of --help is in the page and every flag of the
# page is in --help.  For `pingyi`, --help and each command's --help (every
# command `pingyi --help` lists has its section in the page).  With `man` on
# the machine, each page renders without a warning.
source "$(dirname "$0")/lib.sh"

MAN=$BIN/man
if [ ! -d "$MAN" ]; then
  command -v help2man >/dev/null && fail "help2man is here but $MAN was not built"
  echo "skip: no help2man at configure time, no man pages (scripts/install-deps installs it)"
  exit 77
fi

# flags TEXT-FILE: every --flag in it, one per line, sorted (roff's \- and
# font changes taken off first)
flags() {
  sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\f(..//g' -e 's/\\fB//g' "$1" |
    grep -oE -- '--[a-z][a-z0-9-]*[a-z0-9]' | sort -u
}

commands=$("$BIN/pingyi" --help | sed -n 's/^  pingyi \([a-z][a-z-]*\) .*/\1/p; s/^  pingyi \([a-z][a-z-]*\)$/\1/p' | sort -u)
[ -n "$commands" ] || fail "no command found in pingyi --help"

for prog in pingyi-broker pingyi-worker pingyi-agg pingyi-client pingyi; do
  page=$MAN/$prog.1
  [ -s "$page" ] || fail "no man page $page"
  "$BIN/$prog" --help >"$WORK/$prog.help"
  if [ $prog = pingyi ]; then
    for c in $commands; do
      "$BIN/pingyi" "$c" --help >>"$WORK/$prog.help" || fail "pingyi $c --help exited $?"
      grep -q "^\.SS \"pingyi $c\"" "$page" || fail "pingyi.1 has no section for the command $c"
    done
  fi
  flags "$WORK/$prog.help" >"$WORK/$prog.help.flags"
  flags "$page" >"$WORK/$prog.man.flags"
  [ -s "$WORK/$prog.help.flags" ] || fail "$prog --help lists no flag"
  missing=$(comm -23 "$WORK/$prog.help.flags" "$WORK/$prog.man.flags" | tr '\n' ' ')
  extra=$(comm -13 "$WORK/$prog.help.flags" "$WORK/$prog.man.flags" | tr '\n' ' ')
  [ -z "$missing" ] || fail "$prog.1 lacks flags that --help lists: $missing"
  [ -z "$extra" ] || fail "$prog.1 names flags that --help does not list: $extra"
  grep -q '^\.TH "\?'"${prog^^}"'"\? "\?1"\?' "$page" || fail "$prog.1: no .TH $prog 1 header"
  # man-db is installed by scripts/install-deps: a page that renders with
  # warnings fails, and a missing man is not a reason to skip the check
  command -v man >/dev/null || fail "no man command to render $prog.1 (scripts/install-deps installs man-db)"
  warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null || true)
  [ -z "$warnings" ] || fail "$prog.1 renders with warnings: $warnings"
  echo "$prog.1: $(wc -l <"$WORK/$prog.help.flags") flags, the same as --help"
done
pass "five man pages, each with exactly the flags of its --help"

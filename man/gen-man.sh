#!/bin/sh
# gen-man.sh HELP2MAN PROGRAM NAME OUT [--commands]
# One man page from a program's own --help and --version (help2man), so the
# page lists exactly the flags the program takes.  With --commands (the
# `pingyi` tool), every command its --help lists ("  pingyi COMMAND ...")
# has its `PROGRAM COMMAND --help` added under a section "COMMANDS".  The common sections (exit status, files, see also) come from
# man/common.h2m; a program's own from man/PROG.h2m when it exists.
set -eu
help2man=$1 prog=$2 name=$3 out=$4
shift 4
dir=$(dirname "$0")
# a sanitizer build's leak check is the tests' job, not the man page's
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
base=$(basename "$prog")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/include.h2m"
[ -f "$dir/$base.h2m" ] && cat "$dir/$base.h2m" >>"$tmp/include.h2m"
cat "$dir/common.h2m" >>"$tmp/include.h2m"
if [ "${1:-}" = --commands ]; then
  commands=$("$prog" --help | sed -n 's/^  pingyi \([a-z][a-z-]*\)\( .*\)\{0,1\}$/\1/p' | sort -u)
  [ -n "$commands" ] || { echo "gen-man.sh: no command found in $prog --help" >&2; exit 1; }
  printf '[COMMANDS]\n' >>"$tmp/include.h2m"
  for cmd in $commands; do
    printf '.SS "pingyi %s"\n.nf\n' "$cmd" >>"$tmp/include.h2m"
    # roff: a line starting with . or ' would be a request; backslashes escaped
    "$prog" "$cmd" --help | sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/" >>"$tmp/include.h2m"
    printf '.fi\n' >>"$tmp/include.h2m"
  done
fi
"$help2man" --no-info --section=1 --name="$name" --source="pingyi" \
  --include="$tmp/include.h2m" --output="$out.tmp" "$prog"
mv "$out.tmp" "$out"

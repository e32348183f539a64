#!/usr/bin/env bash
# The systemd units (deploy/systemd/, docs/OPERATIONS.md "Services"): installed
# into a scratch prefix by `cmake --install`, so each ExecStart names the
# installed binaries, then checked by `systemd-analyze verify` (the templates
# and an instance of each: pingyi-worker@1, pingyi-client@v01), which must
# say nothing at all (it exits 0 on a mistyped key or value, so its output
# counts too); with `man` on the machine the Documentation=man: pages must
# resolve in the prefix.  Then the rules every unit keeps (own user, the
# sandbox, Restart, Type=notify where the program calls sd_notify, an
# EnvironmentFile, never --create in pingyi-worker@), and last, that this
# check fails on broken units: a mistyped key, a bad Type, a missing binary.
source "$(dirname "$0")/lib.sh"

command -v systemd-analyze >/dev/null || { echo "skip: no systemd-analyze (scripts/install-deps)"; exit 77; }

ROOT=$WORK/root
cmake --install "$BIN" --prefix "$ROOT" >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; fail "cmake --install"; }
UNITS=$ROOT/lib/systemd/system
man_flag=--man=no
command -v man >/dev/null && man_flag=--man=yes

# verify UNIT_FILE...: 0 when systemd-analyze verify passes and says nothing
verify() {
  local out rc
  set +e
  out=$(MANPATH="$ROOT/share/man" systemd-analyze verify "$man_flag" "$@" 2>&1)
  rc=$?
  set -e
  [ $rc -eq 0 ] && [ -z "$out" ] && return 0
  echo "systemd-analyze verify $*: exit $rc: $out" >&2
  return 1
}

expected="pingyi-agg.service pingyi-broker.service pingyi-client@.service pingyi-worker-create@.service pingyi-worker@.service"
[ "$(cd "$UNITS" && ls | tr '\n' ' ')" = "$expected " ] || fail "installed units: $(ls "$UNITS"), expected $expected"

# the templates, and an instance of each in a unit dir of their own
INST=$WORK/instances
mkdir -p "$INST"
cp "$UNITS"/*.service "$INST"/
cp "$UNITS/pingyi-worker@.service" "$INST/pingyi-worker@1.service"
cp "$UNITS/pingyi-worker-create@.service" "$INST/pingyi-worker-create@1.service"
cp "$UNITS/pingyi-client@.service" "$INST/pingyi-client@v01.service"
for u in "$UNITS"/*.service "$INST/pingyi-worker@1.service" "$INST/pingyi-worker-create@1.service" \
  "$INST/pingyi-client@v01.service"; do
  verify "$u" || fail "$(basename "$u") does not verify"
done
pass "systemd-analyze verify ($man_flag): every unit and an instance of each template, not a word said"

# every absolute path an ExecStart names under the prefix is installed and executable
grep -h '^ExecStart=' "$UNITS"/*.service | tr ' ' '\n' | sed 's/^ExecStart=//' | grep "^$ROOT/" | sort -u |
  while read -r exe; do
    [ -x "$exe" ] || fail "ExecStart names $exe: not installed or not executable"
  done
grep -q "^ExecStart=$ROOT/bin/pingyi-broker " "$UNITS/pingyi-broker.service" || fail "the broker unit's ExecStart is not $ROOT/bin/pingyi-broker"

# key UNIT KEY VALUE: the unit sets KEY=VALUE
key() { grep -qx "$2=$3" "$UNITS/$1" || fail "$1: no $2=$3"; }
for u in $expected; do
  key "$u" User pingyi
  key "$u" Group pingyi
  key "$u" ProtectSystem strict
  key "$u" ProtectHome yes
  key "$u" PrivateTmp yes
  key "$u" NoNewPrivileges yes
  grep -q '^EnvironmentFile=/etc/pingyi/[a-z]*\.env$' "$UNITS/$u" || fail "$u: no EnvironmentFile=/etc/pingyi/….env"
  # nothing writable but the program's own data dir
  grep '^ReadWritePaths=' "$UNITS/$u" | grep -vqE '^ReadWritePaths=/var/lib/pingyi/(worker|agg|client/%i)$' &&
    fail "$u: writable paths beyond its data dir: $(grep '^ReadWritePaths=' "$UNITS/$u")"
  case $u in pingyi-broker.service) ! grep -q '^ReadWritePaths=' "$UNITS/$u" || fail "the broker stores nothing: no ReadWritePaths" ;;
    *) grep -q '^ReadWritePaths=/var/lib/pingyi/' "$UNITS/$u" || fail "$u: no ReadWritePaths for its data dir" ;; esac
done
for u in pingyi-broker.service pingyi-worker@.service pingyi-agg.service; do
  key "$u" Type notify
  key "$u" Restart on-failure
done
key pingyi-client@.service Restart on-failure
key pingyi-client@.service Type exec
key pingyi-worker-create@.service Type oneshot
grep '^ExecStart=' "$UNITS/pingyi-worker@.service" | grep -q -- '--create' && fail "pingyi-worker@ runs --create"
grep -v '^#' "$ROOT/share/doc/pingyi/systemd/worker.env" | grep -q -- '--create' && fail "the sample worker.env has --create"
grep -q '^\[Install\]' "$UNITS/pingyi-worker-create@.service" && fail "pingyi-worker-create@ can be enabled"
pass "every unit: user pingyi, ProtectSystem=strict, ProtectHome, PrivateTmp, NoNewPrivileges, its data dir only, an EnvironmentFile; Type=notify and Restart=on-failure for the daemons; no --create in pingyi-worker@"

# --- the check fails on broken units -----------------------------------------
BAD=$WORK/broken
mkdir -p "$BAD"
sed 's/^Restart=on-failure/Restrat=on-failure/' "$UNITS/pingyi-broker.service" >"$BAD/pingyi-broker.service"
sed 's/^Type=notify/Type=notfy/' "$UNITS/pingyi-agg.service" >"$BAD/pingyi-agg.service"
sed "s#$ROOT/bin/pingyi-worker #$ROOT/bin/pingyi-wroker #" "$UNITS/pingyi-worker@.service" >"$BAD/pingyi-worker@1.service"
sed 's/^\[Service\]/[Servce]/' "$UNITS/pingyi-client@.service" >"$BAD/pingyi-client@v01.service"
for u in "$BAD"/*.service; do
  ! verify "$u" 2>/dev/null || fail "a broken unit passed: $(basename "$u") ($(diff "$u" "$UNITS/$(basename "$u" | sed 's/@[^.]*\./@./')" | head -2 | tr '\n' ' '))"
done
pass "broken units are caught: a mistyped key, a bad Type, a missing binary, a mistyped section"

# --- the first start of a worker: pingyi-worker-create@ID's helper -------------
# it creates the shards with --create (no broker needed), stops the worker,
# exits 0; the worker then starts without --create; run again it changes
# nothing; a shard whose files are gone is refused (exit 2), never re-created.
setup_deploy "$SRC/examples/2022-district-review.json" 2
CREATE=$ROOT/libexec/pingyi/pingyi-worker-create
"$CREATE" "$ROOT/bin/pingyi-worker" --deploy "$WORK/deploy" --id 1 --broker "$ENDPOINT" --data "$WORK/data" \
  2>"$WORK/create.log" || fail "pingyi-worker-create exited $? (log: $(tail -3 "$WORK/create.log"))"
grep -q -- "stopped" "$WORK/create.log" || fail "pingyi-worker-create: the worker did not stop cleanly"
n=$(ls "$WORK"/data/shard-*.manifest | wc -l)
[ "$n" -eq 4 ] || fail "pingyi-worker-create: $n manifests, expected 4 (worker 1 of 2, 8 shards)"
"$ROOT/bin/pingyi-worker" --deploy "$WORK/deploy" --id 1 --broker "$ENDPOINT" --data "$WORK/data" \
  >>"$WORK/worker1.log" 2>&1 &
PIDS[worker1]=$!
wait_for_log "$WORK/worker1.log" "worker 1 running" 20
stop worker1
# (with the log flags a worker.env may hold: the helper reads the log anyway)
"$CREATE" "$ROOT/bin/pingyi-worker" --deploy "$WORK/deploy" --id 1 --broker "$ENDPOINT" --data "$WORK/data" \
  --log-level error --log-format json --log-file "$WORK/elsewhere.log" 2>"$WORK/create2.log" ||
  fail "pingyi-worker-create run again on existing shards exited $?"
first=$(ls "$WORK/data" | grep -m1 '^shard-[0-9]*$')
rm -rf "${WORK:?}/data/$first"
set +e
"$CREATE" "$ROOT/bin/pingyi-worker" --deploy "$WORK/deploy" --id 1 --broker "$ENDPOINT" --data "$WORK/data" \
  2>"$WORK/create3.log"
rc=$?
set -e
[ $rc -eq 2 ] || fail "pingyi-worker-create on a shard whose files are gone exited $rc, expected 2"
grep -q "its files are gone" "$WORK/create3.log" || fail "pingyi-worker-create: no reason given ($(tail -2 "$WORK/create3.log"))"
[ ! -e "$WORK/data/$first/data.mdb" ] || fail "pingyi-worker-create re-created a lost shard"
pass "first start: pingyi-worker-create creates the shards (exit 0), the worker then starts without --create; again changes nothing; a lost shard is refused (exit 2)"

#!/usr/bin/env bash
# Disk full is named and survived (issue 11): a worker's shards live on a
# small tmpfs that is filled up while a venue sends.  The commit that meets
# the full disk is not acknowledged; the worker says "the disk is full",
# and, while it stays full, "still stopped (disk_full)",
# the shard stops with that reason in `pingyi stats` (shardN_stop_reason 1
# (disk_full)), the venue is answered RETRY and keeps its ballots; when
# space returns the shard takes ballots again by itself within
# PINGYI_SHARD_RESUME_MS, without a restart; at the end every ballot is
# counted exactly once and the recount is clean.  Needs root (mount);
# skipped with code 77 elsewhere.
source "$(dirname "$0")/lib.sh"

N=${PINGYI_IT_BALLOTS:-20000}
MNT=$WORK/small
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=24m tmpfs "$MNT" 2>"$WORK/mount.err"; then
  echo "SKIP: cannot mount a tmpfs here ($(cat "$WORK/mount.err")): the disk-full test needs root"
  exit 77
fi
trap 'rc=$?; umount -l "$MNT" 2>/dev/null; (exit $rc); cleanup' EXIT
mkdir "$MNT/data"
ln -s "$MNT/data" "$WORK/data"

setup_deploy "$(drill_definition)" 1
start_broker
start_worker 1 0-7
wait_workers 1
# every shard exists (with its manifest) before the disk fills
for s in 0 1 2 3 4 5 6 7; do [ -f "$WORK/data/shard-0$s.manifest" ] || fail "shard $s has no manifest"; done

# fill the file system but for 256 KiB
dd if=/dev/zero of="$MNT/filler" bs=1M 2>/dev/null || true
truncate -s "$(( $(stat -c %s "$MNT/filler") - (256 << 10) ))" "$MNT/filler"
pass "the shards' file system is full but for $(( $(stat -f -c '%a * %S' "$MNT") / 1024 )) KiB"

"$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v01 --broker "$ENDPOINT" --generate "$N" --seed 5 \
  --expect "$WORK/expect-v01.json" --outbox "$WORK/outbox-v01" --close --issued "$N" --collected "$N" \
  --give-up-s 300 >"$WORK/client.out" 2>"$WORK/client.log" &
CLIENT=$!

wait_for_log "$WORK/worker1.log" "the disk is full" 60
line=$(grep -m1 "not committed" "$WORK/worker1.log")
case $line in
  *"the disk is full ("*"KiB left on its file system)): nothing of it is acknowledged; this shard takes no more ballots until a retry succeeds (every 5 s)"*) ;;
  *) fail "the worker's line for the failed commit: $line" ;;
esac
pass "worker: $line"
shard=$(sed -n 's/.*shard \([0-9]*\): batch of .* not committed.*/\1/p' "$WORK/worker1.log" | head -1)
"$BIN/pingyi" stats --deploy "$WORK/deploy" --broker "$ENDPOINT" --shard "$shard" >"$WORK/stats.txt" \
  || fail "stats of shard $shard"
grep -qx "shard${shard}_stopped 1" "$WORK/stats.txt" || fail "stats: shard $shard not stopped: $(cat "$WORK/stats.txt")"
grep -qx "shard${shard}_stop_reason 1 (disk_full)" "$WORK/stats.txt" \
  || fail "stats: no disk_full reason: $(grep stop "$WORK/stats.txt")"
pass "stats: shard${shard}_stopped 1, shard${shard}_stop_reason 1 (disk_full)"
sleep 6 # past a retry with the disk still full: it stays stopped
kill -0 "$CLIENT" 2>/dev/null || fail "the client stopped while the shard was full: $(tail -3 "$WORK/client.log")"
before=$(accepted_now)

! grep -q "takes ballots again" "$WORK/worker1.log" || fail "the shard took ballots again while the disk was full"
grep -q "shard $shard: still stopped (disk_full): $WORK/data/shard-0$shard: the disk is still full (" "$WORK/worker1.log" \
  || fail "no 'still stopped' line: $(grep "shard $shard" "$WORK/worker1.log" | tail -3)"
rm "$MNT/filler"
t0=$(date +%s)
wait_for_log "$WORK/worker1.log" "shard $shard: takes ballots again after" 20
took=$(( $(date +%s) - t0 ))
pass "space returned: $(grep -m1 "takes ballots again" "$WORK/worker1.log" | sed 's/.*info: //') ($took s after the filler went)"
wait "$CLIENT" || fail "the client exited non-zero: $(tail -5 "$WORK/client.log")"

"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --json >"$WORK/tally.json" 2>"$WORK/tally.err" \
  || fail "tally: $(cat "$WORK/tally.err")"
python3 "$SRC/tests/integration/compare.py" "$WORK/tally.json" "$WORK/expect-v01.json" \
  || fail "the count differs from the generator's expectation after the disk filled"
"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data" --recount >/dev/null 2>"$WORK/recount.log" \
  || fail "recount: $(cat "$WORK/recount.log")"
grep -q "shard $shard: recount of $N logged ballots matches counters and digest" "$WORK/recount.log" \
  || fail "recount of shard $shard: $(cat "$WORK/recount.log")"
pass "$N ballots counted exactly once across a full disk ($before accepted before space returned); recount clean"

# The disk full again: pingyi init refuses before writing anything, and a
# venue client whose outbox cannot be written says so.
dd if=/dev/zero of="$MNT/filler" bs=1M 2>/dev/null || true
rc=0
"$BIN/pingyi" init "$SRC/examples/2022-district-review.json" "$MNT/deploy2" >/dev/null 2>"$WORK/init.err" || rc=$?
[ $rc -eq 1 ] || fail "init on a full disk: exit $rc: $(cat "$WORK/init.err")"
grep -qE "^pingyi init: $MNT/deploy2: its 3 venue bundles and 6 others need about [0-9]+ MB, but its file system has 0 MB free: free space or choose another place \(nothing was written\)$" \
  "$WORK/init.err" || fail "init's message: $(cat "$WORK/init.err")"
[ -z "$(find "$MNT" -maxdepth 1 -name 'deploy2*')" ] || fail "init left something on the full disk"
pass "$(cat "$WORK/init.err")"
rc=0
"$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v02 --broker "$ENDPOINT" --generate 2000 --seed 9 \
  --outbox "$MNT/outbox-v02" >"$WORK/client2.out" 2>"$WORK/client2.log" || rc=$?
[ $rc -eq 2 ] || fail "a client whose outbox is on a full disk: exit $rc: $(tail -3 "$WORK/client2.log")"
grep -q "outbox $MNT/outbox-v02.*the disk is full" "$WORK/client2.log" \
  || fail "the client did not say the disk is full: $(tail -3 "$WORK/client2.log")"
pass "client: $(grep -m1 "the disk is full" "$WORK/client2.log")"

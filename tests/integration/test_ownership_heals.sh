#!/usr/bin/env bash
# Ownership heals (issue 11, "Orphaned shards"): a shard whose owner left is
# taken back, within one heartbeat timeout (3 s) and without a restart, by
# a live worker it is assigned to that listed it.
#
# The keyring: worker 1 is assigned shards 0-3, worker 2 shards 0-7 (a
# standby for 0-3 as well, as after a keyring edit: docs/keys.md), each
# worker on its own host (its own --data).
#  (a) the report: worker 1 runs 0-3, worker 2 is restarted by mistake with
#      0-7 (its HELLO takes 0-3 from worker 1), then restarted with 4-7;
#      meanwhile venue v01 (shard 1) sends its ballots: shards 0-3 are
#      worker 1's again within 3 s, v01 is counted exactly, in worker 1's
#      shard, with no restart of worker 1;
#  (b) the plain case, twice, with worker 2's key on one connection
#      (attack.py): its HELLO 0-7 displaces worker 1 from 0-3, then
#      - a second HELLO listing 4-7 drops 0-3 from its list,
#      - the connection goes away (killed),
#      and each time worker 1 owns 0-3 again within 3 s;
#  (c) worker 2 listing 0-7 hangs (SIGSTOP): silent, its connection still
#      up; 0-3 are worker 1's again within 3 s (its heartbeat timeout).
# Owners are read with `pingyi stats --json`: the broker's shards_owned and,
# through the broker, the stats of the worker holding shard 1 (worker 1's
# name shard3_*, never shard7_*).
source "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
N=20000
create=$("$BIN/pingyi-worker" --help 2>&1 | grep -q -- '--create' && echo --create || true)

# an election with v01 on shard 1 (worker 1's), v02 on shard 5 (worker 2's)
def=$(drill_definition)
python3 - "$def" <<'PY'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
for v in d["venues"]:
    v["shard"] = {"v01": 1, "v02": 5}.get(v["id"], 6)
json.dump(d, open(sys.argv[1], "w", encoding="utf-8"), ensure_ascii=False, indent=1)
PY
setup_deploy "$def" 2
# worker 2 is assigned every shard: every bundle's keyring, and the secrets
for f in $(find "$WORK/deploy" -name keyring.tsv); do
  awk -F'\t' 'BEGIN { OFS = "\t" } $1 == "worker" && $2 == "2" { $5 = "0-7" } { print }' "$f" >"$f.new"
  cat "$f.new" >"$f" && rm "$f.new"
done
for s in 00 01 02 03; do
  install -m 0600 "$WORK/deploy/recount/shard-$s.secret" "$WORK/deploy/worker/2/shard-$s.secret"
done

worker() { # worker ID SHARDS: on its own host (--data)
  "$BIN/pingyi-worker" --deploy "$WORK/deploy" --id "$1" --broker "$ENDPOINT" --data "$WORK/data$1" \
    --shards "$2" $create >>"$WORK/worker$1.log" 2>&1 &
  PIDS[worker$1]=$!
}
stats() { "$BIN/pingyi" stats --deploy "$WORK/deploy" --broker "$ENDPOINT" --json "$@" 2>/dev/null; }
# owner_of SHARD: 1 or 2 (which worker answers for SHARD), "none", or "?"
owner_of() {
  stats --shard "$1" --timeout-ms 1500 | python3 -c '
import json, sys
try:
    s = json.load(sys.stdin)
except Exception:
    print("none"); sys.exit()
print("2" if "shard7_sequence" in s else "1" if "shard3_sequence" in s else "?")' 2>/dev/null || echo none
}
owned() { stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["shards_owned"])' 2>/dev/null || echo 0; }
# healed WHAT [OWNED]: OWNED shards owned (default 8) and shards 0-3
# answered by worker 1, within 3 s: a look that starts after 3 s (plus
# 300 ms for the stats round trips of a busy machine) and still finds
# them elsewhere fails
healed() {
  local t0 t
  t0=$(date +%s%N)
  while :; do
    t=$(date +%s%N)
    if [ "$(owned)" = "${2:-8}" ] && [ "$(owner_of 0)" = 1 ] && [ "$(owner_of 3)" = 1 ]; then
      echo "$1: shards 0-3 back with worker 1 within $((($(date +%s%N) - t0) / 1000000)) ms"
      return 0
    fi
    [ $((t - t0)) -le 3300000000 ] ||
      fail "$1: shards 0-3 not back with worker 1 after 3 s: owned $(owned), shard 0 answered by $(owner_of 0)"
    sleep 0.05
  done
}
wait_owner() { # wait_owner SHARD WORKER WHAT
  local i=0
  until [ "$(owner_of "$1")" = "$2" ]; do
    i=$((i + 1))
    [ $i -le 50 ] || fail "$3: shard $1 is not worker $2's"
    sleep 0.1
  done
}

start_broker
worker 1 0-3
worker 2 4-7
wait_workers 2
[ "$(owned)" = 8 ] || fail "8 shards should be owned at the start, not $(owned)"
wait_owner 1 1 "at the start"

# (a) worker 2 restarted by mistake with 0-7, then with 4-7
stop worker2
worker 2 0-7
wait_workers 3
wait_owner 1 2 "worker 2 with 0-7"
echo "worker 2 started with 0-7 owns shard 1"
"$BIN/pingyi-client" --deploy "$WORK/deploy" --venue v01 --broker "$ENDPOINT" --generate "$N" --seed 11 \
  --expect "$WORK/expect-v01.json" --outbox "$WORK/outbox-v01" --timeout-ms 500 --give-up-s 60 \
  >"$WORK/client-v01.out" 2>"$WORK/client-v01.log" &
CLIENT=$!
stop worker2 # before v01's first ballot reached it: v01 is all worker 1's
worker 2 4-7
healed "(a) worker 2 restarted with 4-7"
wait "$CLIENT" || fail "venue v01 exited $? (it should be counted in full)"
"$BIN/pingyi" tally --deploy "$WORK/deploy" --data "$WORK/data1" --json >"$WORK/tally.json"
python3 "$SRC/tests/integration/compare.py" "$WORK/tally.json" "$WORK/expect-v01.json" ||
  fail "(a) v01's count in worker 1's shard differs from its expectation"
if [ -d "$WORK/data2/shard-01" ]; then
  python3 - "$BIN" "$WORK" <<'PY' || fail "(a) worker 2's mistaken copy of shard 1 holds v01 ballots"
import json, subprocess, sys
out = subprocess.run([sys.argv[1] + "/pingyi", "tally", "--deploy", sys.argv[2] + "/deploy", "--data",
                      sys.argv[2] + "/data2", "--json"], capture_output=True, text=True).stdout
assert sum(v["accepted"] for v in json.loads(out)["venues"] if v.get("venue", v.get("id")) == "v01") == 0
PY
fi
pass "(a) worker 2 restarted 0-7 then 4-7: shards 0-3 healed to worker 1; v01's $N ballots counted exactly"

# (b) worker 2's key on one connection: HELLO 0-7, then HELLO 4-7
stop worker2
attack() { "$PY" "$SRC/tests/security/attack.py" --deploy "$WORK/deploy" --bundle "$WORK/deploy/worker/2" \
  --broker "$ENDPOINT" "$@"; }
attack hello:0-7 expect:READY sleep:4 hello:4-7 expect:READY recv:6 >"$WORK/attack1.out" 2>&1 &
ATTACK=$!
wait_for_log "$WORK/attack1.out" '"READY"' 10
[ "$(owner_of 1)" != 1 ] || fail "(b) a HELLO listing 0-7 did not take shard 1"
wait_for_log "$WORK/attack1.out" '"shards": \[4, 5, 6, 7\]' 10
healed "(b) the other worker's HELLO no longer lists 0-3"
wait "$ATTACK" || true

"$PY" "$SRC/tests/security/attack.py" --deploy "$WORK/deploy" --bundle "$WORK/deploy/worker/2" \
  --broker "$ENDPOINT" hello:0-7 expect:READY recv:30 >"$WORK/attack2.out" 2>&1 &
PIDS[attack]=$!
wait_for_log "$WORK/attack2.out" '"READY"' 10
sleep 0.5
[ "$(owner_of 1)" != 1 ] || fail "(b) a HELLO listing 0-7 did not take shard 1"
stop attack KILL
healed "(b) the other worker went away" 4 # 4-7 had no other worker

# (c) the other worker hangs (SIGSTOP: its connection stays up, it falls
#     silent): its shards move when its 3 s heartbeat timeout passes
worker 2 0-7
wait_owner 1 2 "(c) worker 2 with 0-7"
sleep 0.3
kill -STOP "${PIDS[worker2]}"
healed "(c) the other worker hung" 4
kill -CONT "${PIDS[worker2]}"
stop worker2
pass "a shard whose owner left returns to a live worker that lists it within 3 s, without restarts"

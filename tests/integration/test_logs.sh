#!/usr/bin/env bash
# test_logs.sh — the log flags of the long-running programs (issue 12,
# "Logs"; docs/OPERATIONS.md): a real broker with --log-file and
# --log-format json writes one JSON object a line, with exactly the keys
# time (RFC 3339 UTC, milliseconds), level, component and msg, to its file
# and nothing to stderr; the file moved away and SIGHUP sent, the broker
# creates a new file at the path and writes there, the old one no longer
# grows; --log-level warn drops the info lines and keeps the errors; and a
# worker and a client logging at debug while ballots flow write no secret
# of the deploy directory.
source "$(dirname "$0")/lib.sh"

setup_deploy "$SRC/examples/2022-district-review.json" 1
D=$WORK/deploy
LOG=$WORK/broker-json.log

# check_json FILE COMPONENT: every line an object of the four keys
check_json() {
  python3 - "$1" "$2" <<'PY'
import json, re, sys
path, component = sys.argv[1], sys.argv[2]
lines = open(path, encoding="utf-8").read().split("\n")
assert lines[-1] == "", "the file does not end with a whole line"
lines = lines[:-1]
assert lines, path + ": empty"
time_re = re.compile(r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z")
for n, line in enumerate(lines, 1):
    o = json.loads(line)
    assert isinstance(o, dict), (n, line)
    assert list(o) == ["time", "level", "component", "msg"], (n, line)
    assert time_re.fullmatch(o["time"]), (n, o["time"])
    assert o["level"] in ("debug", "info", "warn", "error"), (n, line)
    assert o["component"] == component, (n, line)
    assert isinstance(o["msg"], str) and o["msg"], (n, line)
print(len(lines))
PY
}

# 1. JSON lines in the file, nothing on stderr
"$BIN/pingyi-broker" --deploy "$D" --bind "$ENDPOINT" --stats-every 1 --log-file "$LOG" --log-format json \
  >"$WORK/broker.out" 2>"$WORK/broker.err" &
PIDS[broker]=$!
wait_for_log "$LOG" '"msg":"listening on ' 10
wait_for_log "$LOG" '"msg":"stats: ' 10
[ "$(stat -c %a "$LOG")" = 640 ] || [ "$(stat -c %a "$LOG")" = "$(printf '%o' $((0640 & ~$(umask))))" ] ||
  fail "log file mode $(stat -c %a "$LOG"), want 640 (less the umask)"
n=$(check_json "$LOG" pingyi-broker) || fail "not every line is a log object: $(cat "$LOG")"
[ ! -s "$WORK/broker.err" ] || fail "log lines on stderr with --log-file: $(cat "$WORK/broker.err")"
pass "broker --log-format json --log-file: $n lines, each {time, level, component, msg}, time RFC 3339"

# 2. moved away, SIGHUP: a new file at the path, written from then on
mv "$LOG" "$LOG.1"
kill -HUP "${PIDS[broker]}"
wait_for_log "$LOG" '"msg":"log file .* reopened \(SIGHUP\)"' 10
kill -0 "${PIDS[broker]}" 2>/dev/null || fail "the broker died of SIGHUP"
grep -q 'reopened (SIGHUP)' "$LOG.1" && fail "the reopen was written to the old file"
old_size=$(stat -c %s "$LOG.1")
new_stats=$(grep -c '"msg":"stats: ' "$LOG" || true)
i=0
while [ "$(grep -c '"msg":"stats: ' "$LOG" || true)" -le "$new_stats" ]; do
  i=$((i + 1))
  [ $i -le 50 ] || fail "no stats line in the new file after the reopen: $(cat "$LOG")"
  sleep 0.1
done
[ "$(stat -c %s "$LOG.1")" -eq "$old_size" ] || fail "the old file still grows after the reopen"
check_json "$LOG" pingyi-broker >/dev/null || fail "the new file: not every line is a log object: $(cat "$LOG")"
check_json "$LOG.1" pingyi-broker >/dev/null || fail "the old file: not every line is a log object"
pass "SIGHUP: a new file created at the path and written; the moved one left as it was"

# a second SIGHUP with nothing moved: the same file, one more line, still alive
kill -HUP "${PIDS[broker]}"
i=0
while [ "$(grep -c 'reopened (SIGHUP)' "$LOG" || true)" -lt 2 ]; do
  i=$((i + 1))
  [ $i -le 50 ] || fail "no second reopen line"
  sleep 0.1
done
kill -0 "${PIDS[broker]}" 2>/dev/null || fail "the broker died of a second SIGHUP"
pass "a second SIGHUP: the same file reopened, the broker still running"

# 3. --log-level warn: no info line (the stats line every second is info),
# and an error still written (text format: TIME PROG LEVEL: message)
WARN=$WORK/broker-warn.log
port2=$(free_port)
"$BIN/pingyi-broker" --deploy "$D" --bind "tcp://127.0.0.1:$port2" --stats-every 1 --log-file "$WARN" \
  --log-level warn >"$WORK/broker2.out" 2>"$WORK/broker2.err" &
PIDS[broker2]=$!
# the info-level broker beside it writes a stats line every second: after
# three of them, the warn-level one has had its chances too
base=$(grep -c '"msg":"stats: ' "$LOG" || true)
i=0
while [ "$(grep -c '"msg":"stats: ' "$LOG" || true)" -lt $((base + 3)) ]; do
  i=$((i + 1))
  [ $i -le 100 ] || fail "the first broker stopped logging its stats"
  sleep 0.1
done
kill -0 "${PIDS[broker2]}" 2>/dev/null || fail "the --log-level warn broker is not running: $(cat "$WORK/broker2.err")"
[ -f "$WARN" ] || fail "--log-file not created at start"
grep -q ' info: ' "$WARN" && fail "--log-level warn: info lines written: $(cat "$WARN")"
stop broker2
rc=0
"$BIN/pingyi-broker" --deploy "$D" --bind "$ENDPOINT" --log-file "$WARN" --log-level warn \
  >"$WORK/broker3.out" 2>"$WORK/broker3.err" || rc=$?
[ $rc -eq 2 ] || fail "a broker on a port in use: exit $rc, expected 2"
grep -qE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z pingyi-broker error: cannot bind $ENDPOINT: Address already in use$" \
  "$WARN" || fail "--log-level warn: the error line is missing: $(cat "$WARN")"
grep -q ' info: ' "$WARN" && fail "--log-level warn: info lines written: $(cat "$WARN")"
pass "--log-level warn: info lines dropped, the error kept as 'TIME pingyi-broker error: ...'"

# 4. bad values: usage errors, exit 2
rc=0
"$BIN/pingyi-broker" --deploy "$D" --log-level verbose >/dev/null 2>"$WORK/bad.err" || rc=$?
[ $rc -eq 2 ] && grep -qxF 'pingyi-broker: --log-level "verbose": not one of debug, info, warn, error' "$WORK/bad.err" ||
  fail "--log-level verbose: exit $rc, $(cat "$WORK/bad.err")"
rc=0
"$BIN/pingyi-broker" --deploy "$D" --log-file "$WORK/no/such/dir/x.log" >/dev/null 2>"$WORK/bad.err" || rc=$?
[ $rc -eq 2 ] && grep -qxF "pingyi-broker: --log-file $WORK/no/such/dir/x.log: cannot open: No such file or directory" \
  "$WORK/bad.err" || fail "--log-file in a missing directory: exit $rc, $(cat "$WORK/bad.err")"
pass "a bad --log-level or an unopenable --log-file: exit 2 with the reason"

# 5. no secret in any log, at debug, while ballots flow end to end
"$BIN/pingyi-worker" --deploy "$D" --id 1 --broker "$ENDPOINT" --data "$WORK/data" --create \
  --log-file "$WORK/worker-json.log" --log-format json --log-level debug >"$WORK/worker1.log" 2>&1 &
PIDS[worker1]=$!
wait_for_log "$LOG" 'owns shards' 20
rc=0
timeout 120 "$BIN/pingyi-client" --deploy "$D" --venue v01 --broker "$ENDPOINT" --generate 40 --seed 7 --close \
  --log-file "$WORK/client.log" --log-level debug >"$WORK/client.out" 2>"$WORK/client.err" || rc=$?
[ $rc -eq 0 ] || fail "the client exited $rc: $(cat "$WORK/client.err" "$WORK/client.log")"
stop worker1
stop broker
check_json "$WORK/worker-json.log" pingyi-worker >/dev/null || fail "worker: not every line is a log object"
check_json "$LOG" pingyi-broker >/dev/null || fail "broker: not every line is a log object after the stop"
grep -q '"msg":"stopping"' "$LOG" || fail "the broker's stop is not in the reopened file"
python3 - "$D" "$WORK" <<'PY' || fail "a secret in a log"
import glob, os, sys
deploy, work = sys.argv[1], sys.argv[2]
Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
def z85(b):
    out = ""
    for i in range(0, len(b), 4):
        v = int.from_bytes(b[i:i + 4], "big")
        out += "".join(Z85[(v // 85 ** k) % 85] for k in range(4, -1, -1))
    return out
logs = [open(p, "rb").read() for p in glob.glob(os.path.join(work, "*.log*"))]
assert logs
secrets = glob.glob(os.path.join(deploy, "**", "*.secret"), recursive=True)
assert secrets
for path in secrets:
    text = open(path).read().strip()
    raw = bytes.fromhex(text)
    forms = {text.lower(), text.upper(), z85(raw)}
    for log in logs:
        for form in forms:
            assert form.encode() not in log, (path, form)
print(f"{len(secrets)} secrets, none in {len(logs)} logs")
PY
pass "broker, worker and client at debug: no secret of the deploy directory in any log"

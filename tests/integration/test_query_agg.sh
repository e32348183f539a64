#!/usr/bin/env bash
# `pingyi query --agg`: the view read over HTTP (GET /api/v1/view) prints
# exactly what `pingyi query --data` prints, in every format: first from a
# real aggregator, then from a stand-in (a small Python server serving the
# document that aggregator served).  Then every kind of bad answer —
# refused connection, error status, not HTTP, truncated body, huge
# Content-Length, a body past 64 MiB, chunked encoding, no answer before
# the timeout, not JSON, another election, rows that are not the
# definition's — is one clear error line and exit 1, never a crash.
source "$(dirname "$0")/lib.sh"

# the snapshot time differs by source (--data: when the shards were read;
# --agg: the aggregator's merge): everything else is the same bytes
same_view() {
  cmp -s <(sed 's/快照时间\([ ,]\)[0-9T:+-]*/快照时间\1T/' "$1") <(sed 's/快照时间\([ ,]\)[0-9T:+-]*/快照时间\1T/' "$2")
}

N=${PINGYI_IT_BALLOTS:-300}
setup_deploy "$(drill_definition)" 1
start_broker
start_worker 1 0-7
wait_workers 1
clients=()
seed=41
for v in v01 v02; do
  "$BIN/pingyi-client" --deploy "$WORK/deploy" --venue $v --broker "$ENDPOINT" --generate "$N" --seed $seed \
    --outbox "$WORK/outbox-$v" --close --issued "$N" --collected "$N" --json \
    >"$WORK/client-$v.json" 2>"$WORK/client-$v.log" &
  clients+=($!)
  seed=$((seed + 1))
done
for p in "${clients[@]}"; do wait "$p" || fail "a client exited non-zero"; done

# a real aggregator: wait for the whole count, keep the view it serves
AGG_PORT=$(free_port)
"$BIN/pingyi-agg" --deploy "$WORK/deploy" --broker "$ENDPOINT" --http "127.0.0.1:$AGG_PORT" \
  --interval-ms 200 --data "$WORK/agg-data" >>"$WORK/agg.log" 2>&1 &
PIDS[agg]=$!
wait_for_log "$WORK/agg.log" "listening on" 10
python3 - "http://127.0.0.1:$AGG_PORT" "$((2 * N))" "$WORK/view.json" <<'PY' || fail "the aggregator never showed the whole count"
import json, sys, time, urllib.request
url, want, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for _ in range(300):
    try:
        s = json.load(urllib.request.urlopen(url + "/api/v1/summary", timeout=5))
        if s["status"]["accepted"] == want and s["status"]["reconciled"] == 2 and s["stale_shards"] == 0:
            open(out, "wb").write(urllib.request.urlopen(url + "/api/v1/view", timeout=5).read())
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit(1)
PY
for args in "--format json" "--by unit --format csv"; do
  # shellcheck disable=SC2086
  "$BIN/pingyi" query --deploy "$WORK/deploy" --data "$WORK/data" $args >"$WORK/offline.out" || fail "query --data $args"
  # shellcheck disable=SC2086
  "$BIN/pingyi" query --deploy "$WORK/deploy" --agg "http://127.0.0.1:$AGG_PORT" $args >"$WORK/online.out" \
    2>"$WORK/online.err" || fail "query --agg (live) $args: $(cat "$WORK/online.err")"
  same_view "$WORK/offline.out" "$WORK/online.out" || fail "--agg (live) and --data differ for: $args"
done
stop agg
stop worker1
stop broker
pass "--agg against a live aggregator prints what --data prints"

HTTP_PORT=$(free_port)
cat >"$WORK/server.py" <<'PY'
import json, socket, socketserver, sys, time

good = open(sys.argv[1], "rb").read()  # the view a real aggregator served
view = json.loads(good)
stale = json.loads(good)
stale["shards"][0]["stale"], stale["shards"][0]["age_ms"] = True, 9000
other = json.loads(good)
other["election"] = "ab" * 32
unknown = json.loads(good)
unknown["levels"]["subject"][3]["id"] = "s99"

def ok(body, extra=b""):
    return b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n" + extra + \
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body

answers = {
    "good": ok(good),
    "good11": b"HTTP/1.1 200 OK\r\ncontent-length: " + str(len(good)).encode() + b"\r\n\r\n" + good,
    "noclen": b"HTTP/1.0 200 OK\r\n\r\n" + good,
    "stale": ok(json.dumps(stale).encode()),
    "status": b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 21\r\n\r\nno snapshot yet\x1b[31m!\n",
    "nothttp": b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
    "truncated": b"HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n{\"api\": 1",
    "hugelen": b"HTTP/1.0 200 OK\r\nContent-Length: 1000000000000\r\n\r\n{}",
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    "notjson": ok(b"<html>\x01 hello</html>"),
    "other": ok(json.dumps(other).encode()),
    "unknown": ok(json.dumps(unknown).encode()),
    "empty": b"",
}

class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline().decode(errors="replace")
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        path = line.split(" ")[1] if " " in line else "/"
        prefix = path.strip("/").split("/")[0]
        if not path.endswith("/api/v1/view") or prefix not in answers and prefix not in ("slow", "endless"):
            self.wfile.write(b"HTTP/1.0 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found")
        elif prefix == "slow":
            time.sleep(5)
        elif prefix == "endless":  # 65 MiB of JSON-ish bytes, no length
            self.wfile.write(b"HTTP/1.0 200 OK\r\n\r\n[")
            chunk = b"0," * 65536
            try:
                for _ in range(520):
                    self.wfile.write(chunk)
            except OSError:
                pass
        else:
            self.wfile.write(answers[prefix])

socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer.daemon_threads = True
with socketserver.ThreadingTCPServer(("127.0.0.1", int(sys.argv[2])), Handler) as srv:
    print("serving", flush=True)
    srv.serve_forever()
PY
python3 "$WORK/server.py" "$WORK/view.json" "$HTTP_PORT" >"$WORK/server.log" 2>&1 &
PIDS[server]=$!
wait_for_log "$WORK/server.log" serving 10
AGG="http://127.0.0.1:$HTTP_PORT"

# the same view, byte for byte, whichever the source
for args in "--format json" "--format csv" "--by district --format json" "--by unit" "--category staff --format csv" \
  "--item duty" "--format csv --venues"; do
  # shellcheck disable=SC2086
  "$BIN/pingyi" query --deploy "$WORK/deploy" --data "$WORK/data" $args >"$WORK/offline.out" \
    || fail "query --data $args"
  # shellcheck disable=SC2086
  "$BIN/pingyi" query --deploy "$WORK/deploy" --agg "$AGG/good" $args >"$WORK/online.out" 2>"$WORK/online.err" \
    || fail "query --agg $args: $(cat "$WORK/online.err")"
  same_view "$WORK/offline.out" "$WORK/online.out" || fail "--agg and --data differ for: $args"
done
"$BIN/pingyi" query --deploy "$WORK/deploy" --agg "$AGG/good/" --format xlsx --out "$WORK/online.xlsx" \
  || fail "query --agg --format xlsx"
unzip -tq "$WORK/online.xlsx" >/dev/null || fail "the xlsx from --agg does not unzip"
for prefix in good11 noclen; do
  "$BIN/pingyi" query --deploy "$WORK/deploy" --agg "$AGG/$prefix" --format json >"$WORK/online.out" \
    || fail "query --agg ($prefix)"
  "$BIN/pingyi" query --deploy "$WORK/deploy" --data "$WORK/data" --format json | cmp -s - "$WORK/online.out" \
    || fail "--agg ($prefix) differs"
done
pass "--agg prints what --data prints (json, csv, table, xlsx)"

# a stale shard is a warning, not an error
"$BIN/pingyi" query --deploy "$WORK/deploy" --agg "$AGG/stale" >/dev/null 2>"$WORK/stale.err" \
  || fail "a stale shard made query fail"
grep -q "warning: shard .* is stale (its snapshot is 9.0 s old)" "$WORK/stale.err" || fail "no stale warning"

# bad answers: exit 1 with the reason
bad() { # PREFIX REGEX [extra flags]
  local prefix=$1 want=$2 rc
  shift 2
  set +e
  "$BIN/pingyi" query --deploy "$WORK/deploy" --agg "$AGG/$prefix" "$@" >"$WORK/bad.out" 2>"$WORK/bad.err"
  rc=$?
  set -e
  [ $rc -eq 1 ] || fail "$prefix: exit $rc, expected 1: $(cat "$WORK/bad.err")"
  [ ! -s "$WORK/bad.out" ] || fail "$prefix: printed a view from a bad answer"
  grep -qE "$want" "$WORK/bad.err" || fail "$prefix: error line does not match /$want/: $(cat "$WORK/bad.err")"
  [ "$(wc -l <"$WORK/bad.err")" -eq 1 ] || fail "$prefix: more than one error line: $(cat "$WORK/bad.err")"
  if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$WORK/bad.err"; then fail "$prefix: control bytes in the error"; fi
}
bad status "HTTP status 503: no snapshot yet\?\[31m!"
bad nothttp "not an HTTP response \(status line \"SSH-2.0-OpenSSH_9.2\"\)"
bad truncated "the answer is truncated: 9 of 1000 bytes"
bad hugelen "announces 1000000000000 bytes, more than 64 MiB"
bad endless "the answer is larger than 64 MiB"
bad chunked "Transfer-Encoding is not supported"
bad slow "timed out waiting for the answer" --timeout 1
bad notjson "invalid JSON at line 1, column 1: "
bad other "view.election: the view is for election \"abab"
bad unknown "view.levels.subject\[3\].id: \"s99\" where the definition has \"s04\""
bad empty "the connection closed without an answer"
bad nowhere "HTTP status 404"
stop server
bad good "cannot connect: Connection refused"

# URLs it does not speak
set +e
"$BIN/pingyi" query --deploy "$WORK/deploy" --agg "https://127.0.0.1:1" >/dev/null 2>"$WORK/url.err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "must start with http://" "$WORK/url.err" || fail "https URL: exit $rc $(cat "$WORK/url.err")"
pass "--agg: every bad answer is one error line and exit 1"

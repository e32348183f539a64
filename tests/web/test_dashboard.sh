#!/usr/bin/env bash
# The dashboard in a real browser (docs/dashboard.md): Debian's chromium,
# headless, driven by playwright-core (npm, pinned by tests/web/package-lock.json,
# installed here into BUILD/web-test; no browser is downloaded).
#
# Broker, two workers (8 shards), pingyi-agg with --http-token-file; v01
# sends 300 generated ballots and closes.  dashboard.mjs then loads the page
# (the token once, as /?token=; then a cookie), checks that the figures shown
# equal the JSON API's (fetched by the test with the token) and the
# generators' expectation, starts v02 and v03 (300 each, closed) and watches
# the figures rise to 900 and FINAL without a reload, never backwards;
# clicks district → unit → subject and checks the subject's figures against
# the API and the generators' counters; checks the refusals (no token, a
# wrong one: 401, counted), the 303 and its cookie, the CSP and the other
# headers, that the page asks nothing of any other host and breaks no CSP
# rule; saves screenshots at 1920×1080 and 390×844.  Also here: a token
# file group or others may read is refused at start (exit 2).
#
# Exit 77 (skipped) only when chromium or npm cannot be had at all, and
# never in CI (CI set): there it fails.
source "$(dirname "$0")/../integration/lib.sh"

skip() {
  # in CI (.ci/run sets CI) everything can be had: a skip there would hide
  # a dashboard nobody tested, so it is a failure
  [ -z "${CI:-}" ] || fail "cannot run the browser test in CI: $*"
  echo "skip: $*"
  exit 77
}

# ---- what the browser test needs: chromium, node, npm, playwright-core
CHROMIUM=${PINGYI_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ] || ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  # scripts/install-deps lists chromium, its CJK fonts, and node + npm
  "$SRC/scripts/install-deps" >&2 || echo "install-deps failed" >&2
fi
[ -x "$CHROMIUM" ] || skip "no chromium at $CHROMIUM (scripts/install-deps installs Debian's chromium)"
command -v node >/dev/null || skip "no node (scripts/install-deps installs nodejs)"
command -v npm >/dev/null || skip "no npm (scripts/install-deps installs npm)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' ||
  skip "node $(node --version) is older than 18"
fc-list :lang=zh 2>/dev/null | grep -q . || echo "warning: no CJK font (fonts-noto-cjk): Chinese will not render in the screenshots" >&2

NPM_DIR=$BIN/web-test
mkdir -p "$NPM_DIR"
if ! cmp -s "$SRC/tests/web/package-lock.json" "$NPM_DIR/package-lock.json" ||
  [ ! -f "$NPM_DIR/node_modules/playwright-core/package.json" ]; then
  cp "$SRC/tests/web/package.json" "$SRC/tests/web/package-lock.json" "$NPM_DIR/"
  # PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD and --ignore-scripts: Debian's chromium
  # is the browser; nothing else is downloaded
  if ! (cd "$NPM_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund \
    >"$WORK/npm.log" 2>&1); then
    cat "$WORK/npm.log" >&2
    rm -f "$NPM_DIR/package-lock.json" # try again next time
    skip "npm ci of playwright-core failed (is the npm registry reachable?)"
  fi
fi

# ---- the count
N=300
# the example election plus two items of other kinds, counted for real: a
# plurality race among three candidates and a 同意/不同意/弃权 motion
DEF=$(drill_definition)
python3 - "$DEF" <<'PY'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
d["choice_sets"] = d.get("choice_sets", []) + [
    {"id": "cands", "choices": [{"label": "甲候选人"}, {"label": "乙候选人"}, {"label": "丙候选人"}]},
    {"id": "yn", "choices": [{"label": "同意", "favourable": True}, {"label": "不同意", "unfavourable": True},
                             {"label": "弃权"}]}]
d["items"] += [{"id": "vote", "name": "主任选举", "kind": "plurality", "choice_set": "cands"},
               {"id": "motion", "name": "议案表决", "kind": "yes_no", "choice_set": "yn"}]
json.dump(d, open(sys.argv[1], "w", encoding="utf-8"), ensure_ascii=False, indent=1)
PY
setup_deploy "$DEF" 2
start_broker
start_worker 1 0-3
start_worker 2 4-7
wait_workers 2

TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
printf '%s\n' "$TOKEN" >"$WORK/token"
chmod 644 "$WORK/token"
HTTP_PORT=$(free_port)
set +e
"$BIN/pingyi-agg" --deploy "$WORK/deploy" --broker "$ENDPOINT" --http "127.0.0.1:$HTTP_PORT" \
  --http-token-file "$WORK/token" --data "$WORK/agg-refused" >"$WORK/agg-refused.log" 2>&1
rc=$?
set -e
[ $rc -eq 2 ] || fail "a token file of mode 0644 was not refused (exit $rc)"
grep -q "mode 0644 lets others read this secret; run: chmod 600" "$WORK/agg-refused.log" ||
  fail "no clear message for a readable token file: $(cat "$WORK/agg-refused.log")"
pass "a token file of mode 0644 is refused at start (exit 2)"
chmod 600 "$WORK/token"

"$BIN/pingyi-agg" --deploy "$WORK/deploy" --broker "$ENDPOINT" --http "127.0.0.1:$HTTP_PORT" \
  --http-token-file "$WORK/token" --interval-ms 300 --stale-ms 3000 --data "$WORK/agg-data" >>"$WORK/agg.log" 2>&1 &
PIDS[agg]=$!
wait_for_log "$WORK/agg.log" "dashboard on" 10
AGG="http://127.0.0.1:$HTTP_PORT"

# send N generated ballots from venue $1 with seed $2, then close it
send_venue() {
  "$BIN/pingyi-client" --deploy "$WORK/deploy" --venue "$1" --broker "$ENDPOINT" --generate "$N" --seed "$2" \
    --expect "$WORK/expect-$1.json" --outbox "$WORK/outbox-$1" --close --issued "$N" --collected "$N" --quiet \
    >"$WORK/client-$1.out" 2>"$WORK/client-$1.log"
}
send_venue v01 31 || fail "the client of v01 exited non-zero"

# the rest of the count, started by dashboard.mjs once the page is shown
cat >"$WORK/phase2.sh" <<EOF
set -e
source "$WORK/phase2.env"
EOF
{
  declare -p BIN WORK ENDPOINT N
  declare -f send_venue
  echo 'sleep 1; send_venue v02 32; sleep 1; send_venue v03 33'
} >"$WORK/phase2.env"

mkdir -p "$WORK/screens"
set +e
PINGYI_NPM_DIR="$NPM_DIR" PINGYI_KILL_PID="${PIDS[worker2]}" \
  PINGYI_URL="$AGG" PINGYI_TOKEN="$TOKEN" PINGYI_WORK="$WORK" PINGYI_N="$N" PINGYI_CHROMIUM="$CHROMIUM" \
  timeout 600 node "$SRC/tests/web/dashboard.mjs" 2>&1 | tee "$WORK/dashboard.log"
rc=${PIPESTATUS[0]}
set -e
# the screenshots outlive the work dir: BUILD/Testing/dashboard/
SHOTS=$BIN/Testing/dashboard
mkdir -p "$SHOTS"
cp "$WORK"/screens/*.png "$SHOTS/" 2>/dev/null || true
echo "screenshots: $SHOTS ($(ls "$SHOTS" 2>/dev/null | wc -l) files)"
[ $rc -eq 0 ] || fail "dashboard.mjs failed (exit $rc)"

# every refusal counted, in the aggregator's metrics (asked with the token)
python3 - "$AGG" "$TOKEN" <<'PY' || fail "pingyi_agg_http_unauthorized_total did not count the refusals"
import sys, urllib.request
url, token = sys.argv[1], sys.argv[2]
req = urllib.request.Request(url + "/metrics", headers={"Authorization": "Bearer " + token})
text = urllib.request.urlopen(req, timeout=10).read().decode()
n = [int(l.split()[1]) for l in text.splitlines() if l.startswith("pingyi_agg_http_unauthorized_total ")]
assert n and n[0] >= 5, n
print("refusals counted:", n[0])
PY
# paths sent as they are (a browser or urllib would resolve the dots first)
python3 - "$HTTP_PORT" "$TOKEN" <<'PY' || fail "a path outside the embedded files was answered"
import http.client, sys
for path in ("/assets/../x", "/assets/%2e%2e/index.html", "/assets/", "/assets/.hidden", "//assets/app.js",
             "/assets/app.js/", "/index.html"):
    c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
    c.request("GET", path, headers={"Authorization": "Bearer " + sys.argv[2]})
    r = c.getresponse()
    body = r.read()
    assert r.status == 404 and r.getheader("Content-Type") == "application/json; charset=utf-8", (path, r.status, body)
print("paths outside the embedded files: 404")
PY
pass "the dashboard: figures equal the API and the generators', live, drill-down, token, CSP, screenshots"

kill -TERM "${PIDS[agg]}"
wait "${PIDS[agg]}" || fail "pingyi-agg did not stop cleanly"
unset "PIDS[agg]"

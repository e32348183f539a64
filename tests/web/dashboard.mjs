// dashboard.mjs — the browser half of tests/web/test_dashboard.sh (read its
// header).  Environment: PINGYI_URL, PINGYI_TOKEN, PINGYI_WORK (phase2.sh,
// expect-*.json, screens/), PINGYI_N (ballots a venue), PINGYI_CHROMIUM,
// PINGYI_NPM_DIR (where playwright-core is installed).
import {createRequire} from 'node:module';
import {spawn} from 'node:child_process';
import {readFileSync} from 'node:fs';
import path from 'node:path';

const require = createRequire(path.join(process.env.PINGYI_NPM_DIR, 'package.json'));
const {chromium} = require('playwright-core');

const BASE = process.env.PINGYI_URL;
const TOKEN = process.env.PINGYI_TOKEN;
const WORK = process.env.PINGYI_WORK;
const N = Number(process.env.PINGYI_N);
const ORIGIN = new URL(BASE).origin;
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

let failures = 0;
function ok(what) { console.log(`ok: ${what}`); }
function check(cond, what, detail) {
  if (cond) return;
  failures++;
  console.log(`FAIL: ${what}${detail !== undefined ? ': ' + JSON.stringify(detail) : ''}`);
  throw new Error(what);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function api(p, {token = TOKEN} = {}) {
  const r = await fetch(BASE + '/api/v1/' + p, {headers: token ? {Authorization: 'Bearer ' + token} : {}});
  check(r.status === 200, `GET /api/v1/${p} with the token: 200`, r.status);
  return r.json();
}
const digits = (t) => Number(String(t).replace(/[^0-9.]/g, ''));
const pct = (x) => (x * 100).toFixed(1) + '%';

// the generators' expectation: counters of every venue's --expect file
function expected(venues) {
  const counters = [];
  for (const v of venues) counters.push(...JSON.parse(readFileSync(path.join(WORK, `expect-${v}.json`), 'utf8')).counters);
  return counters;
}

// ---------------------------------------------------------------- refusals
async function refusals() {
  let r = await fetch(BASE + '/', {redirect: 'manual'});
  check(r.status === 401, 'GET / without the token: 401', r.status);
  check(r.headers.get('content-security-policy') === CSP, 'the 401 page carries the CSP');
  r = await fetch(BASE + '/?token=wrong' + TOKEN.slice(5), {redirect: 'manual'});
  check(r.status === 401, 'GET /?token=WRONG: 401', r.status);
  check(!r.headers.get('set-cookie'), 'no cookie for a wrong token');
  r = await fetch(BASE + '/api/v1/summary');
  check(r.status === 401, 'GET /api/v1/summary without the token: 401', r.status);
  check(/application\/json/.test(r.headers.get('content-type')) && (await r.json()).error, 'the API refusal is JSON with "error"');
  r = await fetch(BASE + '/api/v1/summary', {headers: {Authorization: 'Bearer ' + TOKEN + 'x'}});
  check(r.status === 401, 'a wrong bearer token: 401', r.status);
  r = await fetch(BASE + '/assets/app.js');
  check(r.status === 401, 'an asset without the token: 401', r.status);
  r = await fetch(BASE + '/metrics');
  check(r.status === 401, '/metrics without the token: 401', r.status);
  r = await fetch(BASE + '/metrics', {headers: {Authorization: 'Bearer ' + TOKEN}});
  check(r.status === 200, '/metrics with the bearer token: 200', r.status);
  for (const probe of ['/healthz', '/readyz']) {
    r = await fetch(BASE + probe);
    check(r.status !== 401, `${probe} is open to probes`, r.status);
  }
  r = await fetch(BASE + '/?token=' + TOKEN, {redirect: 'manual'});
  check(r.status === 303 && r.headers.get('location') === '/', '/?token=TOKEN: 303 to /', [r.status, r.headers.get('location')]);
  const cookie = r.headers.get('set-cookie') || '';
  check(/^pingyi_token=[^;]+; Path=\/; HttpOnly; SameSite=Strict$/.test(cookie), 'the cookie: HttpOnly, SameSite=Strict, Path=/', cookie);
  r = await fetch(BASE + '/api/v1/summary', {headers: {Cookie: cookie.split(';')[0]}});
  check(r.status === 200, 'the cookie opens the API', r.status);
  ok('refusals: no token, a wrong token, the API and /metrics without one: 401; probes open; /?token= → 303 + cookie');
}

// ---------------------------------------------------------------- headers
async function headers() {
  for (const p of ['/', '/assets/app.js', '/assets/style.css']) {
    const r = await fetch(BASE + p, {headers: {Authorization: 'Bearer ' + TOKEN}});
    check(r.status === 200, `GET ${p}: 200`, r.status);
    check(r.headers.get('content-security-policy') === CSP, `${p}: the strict CSP`, r.headers.get('content-security-policy'));
    check(r.headers.get('x-content-type-options') === 'nosniff', `${p}: nosniff`);
    check(r.headers.get('referrer-policy') === 'no-referrer', `${p}: no referrer`);
    check(!!r.headers.get('cache-control'), `${p}: Cache-Control`);
    const type = {'/': 'text/html; charset=utf-8', '/assets/app.js': 'text/javascript; charset=utf-8', '/assets/style.css': 'text/css; charset=utf-8'}[p];
    check(r.headers.get('content-type') === type, `${p}: Content-Type ${type}`, r.headers.get('content-type'));
    const body = await r.text();
    if (p === '/') check(!/<script(?![^>]*\bsrc=)/i.test(body) && !/\sstyle=/i.test(body), 'no inline script or style in the page');
  }
  ok('the page and its assets carry the CSP, nosniff, no-referrer, Cache-Control and their content types');
}

// ------------------------------------------------------------ the browser
async function shownFigures(page) {
  return page.evaluate(() => {
    const f = (n) => {
      const el = document.querySelector(`[data-field="${n}"]`);
      return el ? el.textContent : null;
    };
    return {accepted: f('accepted'), venues: f('venues'), reconciled: f('reconciled'), open: f('open'), void: f('void'),
      closed: f('closed'), final: document.querySelector('[data-field=final]')?.dataset.final, good_rate: f('good_rate'),
      score: f('score'), round: document.body.dataset.round};
  });
}

function sameAsSummary(shown, sum) {
  const st = sum.status;
  return digits(shown.accepted) === st.accepted && digits(shown.venues) === st.venues && digits(shown.reconciled) === st.reconciled &&
    digits(shown.open) === st.open && digits(shown.void) === st.void && digits(shown.closed) === st.closed &&
    shown.final === String(sum.final) && shown.good_rate === pct(sum.city.good_rate) && shown.score === sum.city.score.toFixed(2);
}

async function main() {
  await refusals();
  await headers();

  const args = process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [];
  const browser = await chromium.launch({executablePath: process.env.PINGYI_CHROMIUM || '/usr/bin/chromium', args});
  const context = await browser.newContext({viewport: {width: 1920, height: 1080}, locale: 'zh-CN'});
  const page = await context.newPage();
  const foreign = [];
  const problems = [];
  page.on('request', (req) => {
    const u = new URL(req.url());
    if (u.protocol !== 'data:' && u.origin !== ORIGIN) foreign.push(req.url());
  });
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(String(e)));
  let navigations = 0;
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations++; });

  // the token once; the 303 takes it out of the address bar
  await page.goto(BASE + '/?token=' + TOKEN);
  check(page.url() === BASE + '/', 'the token left the address bar', page.url());
  const cookies = await context.cookies();
  const c = cookies.find((x) => x.name === 'pingyi_token');
  check(c && c.httpOnly && c.sameSite === 'Strict', 'the browser holds an HttpOnly SameSite=Strict cookie', c);
  await page.waitForSelector('[data-field=accepted]');

  // figures shown = the API's = the generators' (v01: N ballots)
  let sum, shown;
  for (let i = 0; i < 50; i++) {
    sum = await api('summary');
    shown = await shownFigures(page);
    if (sum.status.accepted === N && sameAsSummary(shown, sum)) break;
    await sleep(200);
  }
  check(sum.status.accepted === N, `the API shows the ${N} ballots of v01`, sum.status);
  check(sameAsSummary(shown, sum), 'the city figures shown equal /api/v1/summary', {shown, status: sum.status});
  const want1 = expected(['v01']);
  const cityGood = want1.filter((x) => x.item === sum.item && x.mark === sum.labels[0]).reduce((a, x) => a + x.count, 0);
  check(sum.city.choices[sum.labels[0]] === cityGood, 'the API city row equals the generator\'s counters', [sum.city.choices, cityGood]);
  check(shown.final === 'false', 'PROVISIONAL while v02 and v03 are open');
  const reasons = await page.locator('[data-field=provisional] li').allTextContents();
  check(reasons.length === 2 && reasons.some((t) => t.includes('v02')) && reasons.some((t) => t.includes('v03')),
    'the reasons for PROVISIONAL name v02 and v03', reasons);
  ok(`page shows ${shown.accepted} ballots, ${shown.reconciled} venue reconciled, PROVISIONAL, = the API and the generator`);
  await page.screenshot({path: path.join(WORK, 'screens', 'city-1920x1080-provisional.png'), fullPage: true});

  // the rest of the count: the page must follow it without a reload
  await page.evaluate(() => { window.__notReloaded = true; });
  const navBefore = navigations;
  const phase2 = spawn('bash', [path.join(WORK, 'phase2.sh')], {stdio: 'inherit'});
  const phase2Done = new Promise((resolve) => phase2.on('exit', (code) => resolve(code)));
  const seen = [];
  const deadline = Date.now() + 240000;
  let last = null;
  while (Date.now() < deadline) {
    const s = await shownFigures(page);
    const a = digits(s.accepted);
    if (last === null || a !== last) seen.push(a);
    check(last === null || a >= last, 'the ballots shown never go backwards', seen);
    last = a;
    if (a === 3 * N && s.final === 'true') break;
    await sleep(250);
  }
  check((await phase2Done) === 0, 'v02 and v03 sent and closed');
  check(last === 3 * N, `the page reached ${3 * N} ballots without a reload`, seen);
  check(await page.evaluate(() => window.__notReloaded === true) && navigations === navBefore, 'no reload, no navigation');
  check(seen.length >= 2, 'the figures rose while the page was open', seen);
  // settle, then everything shown equals the API again
  for (let i = 0; i < 30; i++) {
    sum = await api('summary');
    shown = await shownFigures(page);
    if (sameAsSummary(shown, sum)) break;
    await sleep(200);
  }
  check(sum.final === true && sum.status.accepted === 3 * N, 'the API: FINAL, all ballots', sum.status);
  check(sameAsSummary(shown, sum), 'the final figures shown equal the API', {shown, status: sum.status});
  ok(`live: the page rose ${seen.join(' → ')} and turned FINAL without a reload`);
  await page.screenshot({path: path.join(WORK, 'screens', 'city-1920x1080.png'), fullPage: true});

  // drill-down: district → unit → subject, by clicks
  const subjects = await api('subjects');
  const units = await api('units');
  const subject = subjects.rows.find((r) => !r.suppressed) || subjects.rows[0];
  const unit = units.rows.find((u) => u.id === subject.parent);
  await page.click(`[data-table=districts] tr[data-id="${unit.parent}"] a`);
  await page.waitForSelector(`main[data-page=district] a[href^="#/unit/${unit.id}"]`);
  await page.click(`main[data-page=district] tr[data-id="${unit.id}"] a`);
  await page.waitForSelector(`main[data-page=unit] tr[data-id="${subject.id}"] a`);
  await page.click(`main[data-page=unit] tr[data-id="${subject.id}"] a`);
  await page.waitForSelector(`main[data-page=subject] [data-subject="${subject.id}"]`);
  const sub = await page.evaluate(() => {
    const card = document.querySelector('[data-subject]');
    const f = (n) => card.querySelector(`[data-field="${n}"]`)?.textContent;
    const legend = {};
    for (const li of card.querySelectorAll('.legend li')) legend[li.dataset.label] = Number(li.querySelector('[data-value]').dataset.value);
    return {name: document.querySelector('h1').textContent, good_rate: f('good_rate'), score: f('score'), rank: f('rank'), valid: f('valid'),
      legend, raterCategory: document.querySelectorAll('[data-table=rater-category] tbody tr').length,
      raterDistrict: document.querySelectorAll('[data-table=rater-district] tbody tr').length};
  });
  const fresh = (await api('subjects')).rows.find((r) => r.id === subject.id);
  check(sub.name === fresh.name, 'the subject page is the subject clicked', [sub.name, fresh.name]);
  check(sub.good_rate === pct(fresh.good_rate) && sub.score === fresh.score.toFixed(2) &&
    sub.rank === `${fresh.rank} / ${subjects.rows.length}` && digits(sub.valid) === fresh.valid,
  'the subject\'s 好评率, score, rank and valid ballots equal the API', {sub, fresh});
  const want = expected(['v01', 'v02', 'v03']).filter((x) => x.subject === subject.id && x.item === subjects.item);
  const markSum = (m) => want.filter((x) => x.mark === m).reduce((a, x) => a + x.count, 0);
  for (const l of subjects.labels) {
    check(sub.legend[l] === fresh.choices[l] && fresh.choices[l] === markSum(l), `the subject's ${l} = API = generators`, [sub.legend[l], fresh.choices[l], markSum(l)]);
  }
  check(sub.legend['弃权'] === fresh.blank && fresh.blank === markSum('BLANK'), 'the subject\'s 弃权 = API = generators');
  check(sub.legend['多选无效'] === fresh.over && fresh.over === markSum('OVER'), 'the subject\'s 多选无效 = API = generators');
  check(sub.raterCategory > 0 && sub.raterDistrict > 0, 'the rater-side tables are shown', sub);
  ok(`drill-down to ${subject.id} ${fresh.name}: ${sub.good_rate}, ${sub.score}, rank ${sub.rank}; every mark = API = generators`);
  await page.screenshot({path: path.join(WORK, 'screens', 'subject-1920x1080.png'), fullPage: true});

  // the venue table and search
  await page.click('nav.nav a[href="#/venues"]');
  await page.waitForSelector('main[data-page=venues] [data-table=venues] tbody tr');
  const statuses = await page.locator('[data-table=venues] [data-status]').evaluateAll((els) => els.map((e) => e.dataset.status));
  check(statuses.length === 3 && statuses.every((s) => s === 'reconciled'), 'the venue table: 3 reconciled', statuses);
  await page.screenshot({path: path.join(WORK, 'screens', 'venues-1920x1080.png'), fullPage: true});
  await page.fill('#q', fresh.name.slice(-4));
  await page.press('#q', 'Enter');
  await page.waitForSelector('main[data-page=search] .results a');
  check((await page.locator(`main[data-page=search] a[href^="#/subject/${subject.id}"]`).count()) === 1, 'search finds the subject by name');
  ok('the venue table, search by name');

  // print view: the print stylesheet hides the header
  await page.goto(BASE + '/#/');
  await page.waitForSelector('[data-field=accepted]');
  await page.emulateMedia({media: 'print'});
  check(!(await page.locator('header.top').isVisible()), 'print: the header is hidden');
  check((await page.locator('button.print').count()) > 0, 'every table has a 打印 button');
  await page.screenshot({path: path.join(WORK, 'screens', 'city-print.png'), fullPage: true});
  await page.emulateMedia({media: 'screen'});

  // items of other kinds, counted for real (the definition has a plurality
  // race "vote" and a yes/no "motion"): the page shows what the API says
  await realContest(browser, problems);
  // and the cases a random count rarely gives (a tie, a withheld row),
  // drawn from answers rewritten in the browser only
  await contestAndYesNo(browser, problems);

  // a phone
  const phone = await browser.newContext({viewport: {width: 390, height: 844}, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'zh-CN'});
  await phone.addCookies([{name: 'pingyi_token', value: TOKEN, url: BASE, httpOnly: true, sameSite: 'Strict'}]);
  const p2 = await phone.newPage();
  p2.on('request', (req) => { const u = new URL(req.url()); if (u.protocol !== 'data:' && u.origin !== ORIGIN) foreign.push(req.url()); });
  p2.on('console', (m) => { if (m.type() === 'error') problems.push('phone: ' + m.text()); });
  await p2.goto(BASE + '/');
  await p2.waitForSelector('[data-field=accepted]');
  const overflow = await p2.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, 'the phone page does not scroll sideways (tables scroll inside their cards)', overflow);
  await p2.screenshot({path: path.join(WORK, 'screens', 'city-390x844.png'), fullPage: true});
  await p2.goto(BASE + `/#/subject/${subject.id}`);
  await p2.waitForSelector(`[data-subject="${subject.id}"]`);
  await p2.screenshot({path: path.join(WORK, 'screens', 'subject-390x844.png'), fullPage: true});
  await p2.goto(BASE + '/#/venues');
  await p2.waitForSelector('[data-table=venues] tbody tr');
  await p2.screenshot({path: path.join(WORK, 'screens', 'venues-390x844.png'), fullPage: true});
  ok('screenshots at 1920×1080 and 390×844');

  // a stale shard is marked, live: worker 2 (shards 4-7) is killed under
  // the open page; the banner names its shards, the figures stay
  if (process.env.PINGYI_KILL_PID) {
    const ctx = await browser.newContext({viewport: {width: 1920, height: 1080}, locale: 'zh-CN'});
    await ctx.addCookies([{name: 'pingyi_token', value: TOKEN, url: BASE, httpOnly: true, sameSite: 'Strict'}]);
    const p3 = await ctx.newPage();
    p3.on('pageerror', (e) => problems.push('stale page: ' + String(e)));
    await p3.goto(BASE + '/');
    await p3.waitForSelector('[data-field=accepted]');
    const before = digits(await p3.locator('[data-field=accepted]').first().textContent());
    check(await p3.locator('#stale').isHidden(), 'no stale banner while every shard answers');
    process.kill(Number(process.env.PINGYI_KILL_PID), 'SIGKILL');
    await p3.waitForSelector('#stale:not([hidden])', {timeout: 30000});
    const banner = await p3.locator('#stale').textContent();
    for (const x of ['#4', '#5', '#6', '#7'])
      check(banner.includes(x), `the stale banner names shard ${x}`, banner);
    await p3.waitForFunction(() => document.querySelectorAll('li.shard.is-stale').length === 4, null, {timeout: 10000});
    const after = digits(await p3.locator('[data-field=accepted]').first().textContent());
    check(after === before, 'a stale shard keeps its last figures on the page', [before, after]);
    await p3.screenshot({path: path.join(WORK, 'screens', 'stale-1920x1080.png'), fullPage: true});
    await ctx.close();
    ok(`a killed worker's shards marked stale without a reload (${banner.trim().slice(0, 60)}…), figures kept (${after})`);
  }

  check(foreign.length === 0, 'the page asks nothing of any other host', foreign);
  check(problems.length === 0, 'no console error, no CSP violation, no script error', problems);
  ok('no request to another host; no console error or CSP violation');
  await browser.close();
}

async function realContest(browser, problems) {
  const ctx = await browser.newContext({viewport: {width: 1920, height: 1080}, locale: 'zh-CN'});
  await ctx.addCookies([{name: 'pingyi_token', value: TOKEN, url: BASE, httpOnly: true, sameSite: 'Strict'}]);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => problems.push('real contest page: ' + String(e)));
  const pct1 = (x) => (x === null || x === undefined ? '—' : pct(x));
  const race = await api('rollup?by=district&item=vote');
  check(race.kind === 'plurality', 'the API says the race is a plurality item', race.kind);
  await page.goto(BASE + '/#/?item=vote');
  await page.waitForSelector('[data-table=districts] tbody tr');
  const shown = await page.evaluate(() => ({
    heads: [...document.querySelectorAll('[data-table=districts] thead th')].map((t) => t.textContent),
    rows: [...document.querySelectorAll('[data-table=districts] tbody tr')].map((tr) => tr.textContent),
  }));
  check(shown.heads.includes('当选') && !shown.heads.includes('好评率'), 'the real race: its own columns', shown.heads);
  check(shown.rows.length === race.rows.length, 'a row per district', [shown.rows.length, race.rows.length]);
  race.rows.forEach((r, i) => {
    if (r.suppressed) {
      check(shown.rows[i].includes('<k'), `district ${r.id}: withheld`, shown.rows[i]);
      return;
    }
    const want = [Number(r.votes).toLocaleString('zh-CN'), ...r.winners];
    for (const w of want) check(shown.rows[i].includes(w), `district ${r.id} shows ${w}`, shown.rows[i]);
    for (const l of race.labels) check(shown.rows[i].includes(pct1(r.shares[l])), `district ${r.id}: the share of ${l}`, shown.rows[i]);
  });
  const motion = await api('summary');
  const mdoc = await api('rollup?by=city&item=motion');
  check(mdoc.kind === 'yes_no', 'the API says the motion is yes_no', mdoc.kind);
  await page.goto(BASE + '/#/?item=motion');
  await page.waitForSelector('[data-field=approval_rate]');
  const rate = await page.evaluate(() => document.querySelector('[data-field=approval_rate]').textContent);
  check(rate === pct1(mdoc.rows[0].approval_rate), 'the motion\'s approval rate as the API gives it', [rate, mdoc.rows[0].approval_rate]);
  check(motion.election.items.some((it) => it.id === 'vote' && it.kind === 'plurality'), 'summary lists the race\'s kind');
  await ctx.close();
  ok(`a real plurality race (${race.rows.length} districts: votes, shares, winners) and a yes/no motion (${rate}) as the API gives them`);
}

async function contestAndYesNo(browser, problems) {
  const ctx = await browser.newContext({viewport: {width: 1920, height: 1080}, locale: 'zh-CN'});
  await ctx.addCookies([{name: 'pingyi_token', value: TOKEN, url: BASE, httpOnly: true, sameSite: 'Strict'}]);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => problems.push('contest page: ' + String(e)));
  const cand = ['甲候选人', '乙候选人', '丙候选人'];
  await page.route('**/api/v1/**', async (route) => {
    const url = new URL(route.request().url());
    const item = url.searchParams.get('item');
    const resp = await route.fetch({url: url.toString()});
    const doc = await resp.json();
    if (item === 'vote' && doc.rows) {
      Object.assign(doc, {kind: 'plurality', item: 'vote', labels: cand});
      doc.rows = doc.rows.map((r, i) => {
        const base = {id: r.id, name: r.name, parent: r.parent};
        if (i === 1) return Object.assign(base, {suppressed: true, choices: null, votes: null, shares: null, winners: null, tie: null});
        const c = {[cand[0]]: 40, [cand[1]]: i === 0 ? 40 : 30, [cand[2]]: 20};
        const votes = c[cand[0]] + c[cand[1]] + c[cand[2]];
        return Object.assign(base, {suppressed: false, choices: c, votes, blank: 2, over: 1,
          shares: Object.fromEntries(cand.map((l) => [l, c[l] / votes])), winners: i === 0 ? [cand[0], cand[1]] : [cand[0]], tie: i === 0});
      });
    }
    if (item === 'motion' && doc.rows) {
      Object.assign(doc, {kind: 'yes_no', item: 'motion', labels: ['同意', '不同意']});
      doc.rows = doc.rows.map((r) => ({id: r.id, name: r.name, parent: r.parent, suppressed: false,
        choices: {'同意': 70, '不同意': 20}, blank: 5, over: 1, valid: 90, approval_rate: 70 / 90, rank: null}));
    }
    await route.fulfill({response: resp, json: doc});
  });
  await page.goto(BASE + '/#/?item=vote');
  await page.waitForSelector('[data-table=districts] tbody tr');
  const vote = await page.evaluate(() => ({
    heads: [...document.querySelectorAll('[data-table=kinds] thead th')].map((t) => t.textContent),
    rows: [...document.querySelectorAll('[data-table=kinds] tbody tr')].map((tr) => tr.textContent),
    winners: document.querySelector('[data-field=winners]')?.textContent,
    selected: document.getElementById('item').value,
  }));
  check(vote.selected === 'vote', 'the item selector shows the contest', vote.selected);
  check(vote.heads.includes('总票数') && vote.heads.includes('当选') && !vote.heads.includes('好评率') && !vote.heads.includes('得分'),
    'a contest: votes and winners, no rate or score', vote.heads);
  check(vote.rows[0].includes('并列：甲候选人、乙候选人') && vote.rows[0].includes('40.0%'), 'a tie names both; shares shown', vote.rows[0]);
  check(vote.rows[1].includes('<k') && !/[0-9]/.test(vote.rows[1]), 'a withheld contest row is <k, not 0', vote.rows[1]);
  check(vote.rows[2].includes('44.4%') && vote.rows[2].includes('甲候选人') && !vote.rows[2].includes('并列'), 'one winner, no tie', vote.rows[2]);
  check(vote.winners === '甲候选人、乙候选人', 'the city\'s winners', vote.winners);
  await page.screenshot({path: path.join(WORK, 'screens', 'contest-1920x1080.png'), fullPage: true});
  await page.goto(BASE + '/#/?item=motion');
  await page.waitForSelector('[data-field=approval_rate]');
  const motion = await page.evaluate(() => ({
    heads: [...document.querySelectorAll('[data-table=districts] thead th')].map((t) => t.textContent),
    rate: document.querySelector('[data-field=approval_rate]').textContent,
  }));
  check(motion.heads.includes('同意率') && !motion.heads.includes('好评率') && !motion.heads.includes('排名'), 'a yes/no item: approval rate, no rank', motion.heads);
  check(motion.rate === '77.8%', 'the approval rate shown', motion.rate);
  await ctx.close();
  ok('a contest (votes, shares, winners, a tie, <k) and a yes/no item (approval rate) are drawn by their kind');
}

main().then(() => process.exit(failures ? 1 : 0), (e) => {
  console.log(`FAIL: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});

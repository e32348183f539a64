// app.js — the dashboard of pingyi-agg (docs/dashboard.md).
//
// Pages by the address's hash: #/ (the city), #/district/D, #/unit/U,
// #/subject/S, #/venues, #/search/TEXT; ?item=I chooses the item.  Every
// figure is one the API returned: the page computes nothing but shares of
// the marks it was given, and shows a withheld cell as "<k", never as 0.
//
// Live: every POLL_MS the summary is asked for; when its merged_round is
// newer than the one shown, the current page's data is asked for again
// and drawn without a reload.  An answer older than what is shown is
// dropped, so no figure ever goes backwards.  Short requests only: the
// aggregator's HTTP has two threads, and no connection is held open.

import {h, int, pct, num, suppressed, clear} from './dom.js';
import {get, ApiError, itemKind, overallItem} from './api.js';
import {stackedBar, shareBars, winnersText} from './charts.js';

const POLL_MS = 2000;

const state = {
  election: null,
  summary: null,
  shownRound: -1, // merged_round of the figures on screen
  renderSerial: 0,
  venueNames: {},
  lastOk: 0,
};

const view = document.getElementById('view');
const live = document.getElementById('live');
const staleBanner = document.getElementById('stale');
const itemSelect = document.getElementById('item');
const foot = document.getElementById('foot');

// ---------------------------------------------------------------- routing

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query || '');
  return {page: parts[0] || 'city', id: parts[1] || null, item: params.get('item')};
}

function currentItem() {
  return parseHash().item || (state.election ? overallItem(state.election) : null);
}

// A link to a page, keeping the item chosen.
function href(page, id) {
  const item = parseHash().item;
  const path = page === 'city' ? '#/' : `#/${page}/${encodeURIComponent(id)}`;
  return item ? `${path}?item=${encodeURIComponent(item)}` : path;
}

// --------------------------------------------------------------- figures

const KIND_NAMES = {graded: '评价', yes_no: '表决', plurality: '选举（单选）', approval: '选举（多选）'};
const STATUS_NAMES = {open: '计票中', closed: '已关闭·待核对', reconciled: '已核对', void: '作废'};

function isContest(kind) {
  return kind === 'plurality' || kind === 'approval';
}

function cellFigure(cell, k, f) {
  if (!cell || cell.suppressed) return suppressed(k);
  return f(cell);
}

// The columns of a table of rows for an item of this kind.
function columns(kind, labels, k, {rank = true} = {}) {
  const cols = [];
  if (rank && !isContest(kind) && kind !== 'yes_no')
    cols.push({title: '排名', cls: 'num', f: (r) => (r.suppressed ? '—' : r.rank === null || r.rank === undefined ? '—' : r.rank)});
  if (isContest(kind)) {
    cols.push({title: '总票数', cls: 'num', f: (r) => cellFigure(r, k, (c) => int(c.votes))});
    for (const l of labels) cols.push({title: l, cls: 'num', f: (r) => cellFigure(r, k, (c) => pct((c.shares || {})[l]))});
    cols.push({title: '当选', f: (r) => cellFigure(r, k, (c) => winnersText(c))});
    return cols;
  }
  cols.push({title: '有效票', cls: 'num', f: (r) => cellFigure(r, k, (c) => int(c.valid))});
  for (const l of labels) cols.push({title: l, cls: 'num', f: (r) => cellFigure(r, k, (c) => int((c.choices || {})[l]))});
  cols.push({title: '弃权', cls: 'num', f: (r) => cellFigure(r, k, (c) => int(c.blank))});
  cols.push({title: '多选无效', cls: 'num', f: (r) => cellFigure(r, k, (c) => int(c.over))});
  if (kind === 'yes_no') {
    cols.push({title: '同意率', cls: 'num strong', f: (r) => cellFigure(r, k, (c) => pct(c.approval_rate))});
  } else {
    cols.push({title: '好评率', cls: 'num strong', f: (r) => cellFigure(r, k, (c) => pct(c.good_rate))});
    cols.push({title: '得分', cls: 'num', f: (r) => cellFigure(r, k, (c) => num(c.score))});
  }
  cols.push({title: '分布', cls: 'dist', f: (r) => cellFigure(r, k, (c) => stackedBar(c, labels, {compact: true}))});
  return cols;
}

// A card holding a table, with its print button.
function tableCard(title, rows, cols, {link = null, note = null, field = null} = {}) {
  const card = h('section', {class: 'card table-card', 'data-table': field});
  const printBtn = h('button', {type: 'button', class: 'print', onclick: () => printCard(card)}, '打印');
  card.append(h('div', {class: 'card-head'}, h('h2', null, title), printBtn));
  if (note) card.append(h('p', {class: 'note'}, note));
  if (!rows.length) {
    card.append(h('p', {class: 'empty'}, '无'));
    return card;
  }
  const thead = h('thead', null, h('tr', null, h('th', {class: 'name'}, '名称'), cols.map((c) => h('th', {class: c.cls}, c.title))));
  const tbody = h('tbody', null, rows.map((r) => h('tr', {'data-id': r.id, class: r.suppressed ? 'is-supp' : null},
    h('th', {class: 'name', scope: 'row'}, link ? h('a', {href: link(r)}, r.name) : r.name),
    cols.map((c) => h('td', {class: c.cls}, c.f(r))))));
  card.append(h('div', {class: 'scroll'}, h('table', null, thead, tbody)));
  return card;
}

// Print one table alone: the print stylesheet hides everything else.
function printCard(card) {
  document.body.classList.add('print-one');
  card.classList.add('print-target');
  const done = () => {
    document.body.classList.remove('print-one');
    card.classList.remove('print-target');
    window.removeEventListener('afterprint', done);
  };
  window.addEventListener('afterprint', done);
  window.print();
  setTimeout(done, 1000);
}

// The big figures of one cell: rate, score, rank; the bar or the shares.
function cellPanel(cell, doc, kind, {rankOf = null} = {}) {
  const k = doc.k_anonymity;
  const labels = doc.labels || [];
  const panel = h('div', {class: 'cell-panel'});
  if (!cell) return panel;
  if (cell.suppressed) {
    panel.append(h('p', {class: 'supp-note'}, suppressed(k), ` 此项少于 k=${k} 张票，按匿名规则不公布（其票数仍计入上级合计）。`));
    return panel;
  }
  const stats = h('div', {class: 'stats'});
  const stat = (label, value, field) => h('div', {class: 'stat'}, h('div', {class: 'stat-value', 'data-field': field}, value), h('div', {class: 'stat-label'}, label));
  if (isContest(kind)) {
    stats.append(stat('总票数', int(cell.votes), 'votes'), stat(cell.tie ? '并列' : '当选', (cell.winners || []).join('、') || '—', 'winners'));
    panel.append(stats, shareBars(cell, labels));
    return panel;
  }
  if (kind === 'yes_no') {
    stats.append(stat('同意率', pct(cell.approval_rate), 'approval_rate'), stat('有效票', int(cell.valid), 'valid'));
  } else {
    stats.append(stat('好评率', pct(cell.good_rate), 'good_rate'), stat('得分', num(cell.score), 'score'));
    if (rankOf) stats.append(stat('排名', cell.rank === null || cell.rank === undefined ? '—' : `${cell.rank} / ${rankOf}`, 'rank'));
    stats.append(stat('有效票', int(cell.valid), 'valid'));
  }
  panel.append(stats, stackedBar(cell, labels));
  return panel;
}

function statusBadge(final) {
  return final
    ? h('span', {class: 'badge final', 'data-field': 'final', 'data-final': 'true'}, 'FINAL 最终结果')
    : h('span', {class: 'badge provisional', 'data-field': 'final', 'data-final': 'false'}, 'PROVISIONAL 临时结果');
}

function whyText(why) {
  if (why === 'open') return '会场尚未关闭，仍在计票';
  return why;
}

function provisionalList(doc) {
  const list = doc.provisional || [];
  if (!list.length) return null;
  return h('div', {class: 'provisional-why'}, h('h3', null, '尚为临时结果，原因：'),
    h('ul', {'data-field': 'provisional'}, list.map((p) => h('li', null,
      h('strong', null, state.venueNames[p.venue] || p.venue), h('span', {class: 'muted'}, ` (${p.venue})`), '：', whyText(p.why)))));
}

function snapshotLine(doc) {
  return h('p', {class: 'snapshot'}, '数据时间 ', h('time', {'data-field': 'snapshot_at', datetime: doc.snapshot_at || ''}, formatTime(doc.snapshot_at)),
    h('span', {class: 'muted'}, ` · 第 ${doc.merged_round} 次合并`));
}

function formatTime(iso) {
  if (!iso) return '—';
  // the aggregator's own local time, as it says it (no conversion)
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}:\d{2}:\d{2})/.exec(iso);
  return m ? `${m[1]}-${m[2]}-${m[3]} ${m[4]}` : iso;
}

function breadcrumbs(items) {
  return h('nav', {class: 'crumbs', 'aria-label': '层级'}, items.map((it, i) => [
    i ? h('span', {class: 'sep'}, '›') : null,
    it.href ? h('a', {href: it.href}, it.name) : h('span', {class: 'here'}, it.name)]));
}

function itemName(id) {
  const it = (state.election.items || []).find((i) => i.id === id);
  return it ? it.name : id;
}

function pageHead(title, crumbs, doc, kind) {
  return h('div', {class: 'page-head'},
    crumbs ? breadcrumbs(crumbs) : null,
    h('h1', null, title),
    h('div', {class: 'head-line'}, statusBadge(doc.final), h('span', {class: 'item-tag'}, `${itemName(doc.item)}`,
      kind !== 'graded' ? ` · ${KIND_NAMES[kind] || kind}` : ''), snapshotLine(doc)));
}

// ------------------------------------------------------------------ pages

async function pageCity(item) {
  const [sum, districts, kinds, venues] = await Promise.all([
    get('summary'), get('rollup', {by: 'district', item}), get('rollup', {by: 'kind', item}), get('venues')]);
  const city = item === sum.item ? sum : await get('rollup', {by: 'city', item});
  return {docs: [sum, districts, kinds, venues, city], draw: () => {
    const kind = itemKind(state.election, item, districts);
    const st = sum.status;
    const reopened = venues.venues.filter((v) => (v.reopens || 0) > 0).length;
    const cityRow = city === sum ? sum.city : city.rows[0];
    const big = (label, value, field, cls) => h('div', {class: 'big ' + (cls || '')}, h('div', {class: 'big-value', 'data-field': field, 'data-value': value}, int(value)), h('div', {class: 'big-label'}, label));
    const out = [
      pageHead(sum.election.title, null, Object.assign({}, sum, {item}), kind),
      h('section', {class: 'card figures'},
        big('已计选票', st.accepted, 'accepted', 'main'),
        big('会场', st.venues, 'venues'),
        big('已核对', st.reconciled, 'reconciled', 'ok'),
        big('计票中', st.open, 'open', 'warn'),
        big('已关闭待核对', st.closed, 'closed'),
        big('作废', st.void, 'void', st.void ? 'bad' : ''),
        big('重开过', reopened, 'reopened', reopened ? 'warn' : '')),
      provisionalList(sum),
      shardStrip(sum),
      h('section', {class: 'card city-card'}, h('div', {class: 'card-head'}, h('h2', null, `全市 · ${itemName(item)}`)),
        cellPanel(cityRow, city === sum ? Object.assign({}, sum, {labels: sum.labels}) : city, kind)),
      tableCard('各区', districts.rows, columns(kind, districts.labels, districts.k_anonymity), {link: (r) => href('district', r.id), field: 'districts'}),
      tableCard('按单位类型', kinds.rows, columns(kind, kinds.labels, kinds.k_anonymity), {field: 'kinds'}),
    ];
    return out;
  }};
}

function shardStrip(sum) {
  const shards = sum.shards || [];
  return h('section', {class: 'card shards'}, h('div', {class: 'card-head'}, h('h2', null, '分片数据'),
    h('span', {class: sum.stale_shards ? 'badge stale' : 'badge fresh', 'data-field': 'stale_shards', 'data-value': sum.stale_shards},
      sum.stale_shards ? `${sum.stale_shards} 个分片数据过时` : '全部分片数据新鲜')),
  h('ol', {class: 'shard-list'}, shards.map((x) => h('li', {class: x.stale ? 'shard is-stale' : 'shard', 'data-shard': x.shard,
    title: x.stale ? `分片 ${x.shard} 数据过时：${Math.round(x.age_ms / 1000)} 秒前${x.reason ? '（' + x.reason + '）' : ''}` : `分片 ${x.shard}：${x.sequence} 张`},
  h('span', {class: 'shard-no'}, `#${x.shard}`), h('span', {class: 'shard-n'}, int(x.sequence)),
  x.stale ? h('span', {class: 'shard-age'}, `过时 ${Math.round(x.age_ms / 1000)}s`) : null))));
}

async function pageDistrict(item, id) {
  const [districts, towns, depts, units] = await Promise.all([
    get('rollup', {by: 'district', item}), get('rollup', {by: 'town', district: id, item}),
    get('rollup', {by: 'department', district: id, item}), get('units', {district: id, item})]);
  return {docs: [districts, towns, depts, units], draw: () => {
    const kind = itemKind(state.election, item, districts);
    const row = districts.rows.find((r) => r.id === id);
    if (!row) return [h('p', {class: 'empty'}, `没有这个区：${id}`)];
    const seen = new Set([...towns.rows, ...depts.rows].map((r) => r.id));
    const others = units.rows.filter((r) => !seen.has(r.id));
    const k = districts.k_anonymity;
    const unitLink = (r) => href('unit', r.id);
    return [
      pageHead(row.name, [{name: '全市', href: href('city')}, {name: row.name}], Object.assign({}, towns, {item}), kind),
      provisionalList(towns),
      h('section', {class: 'card'}, cellPanel(row, districts, kind, {rankOf: districts.rows.length})),
      tableCard('镇 / 街道', towns.rows, columns(kind, towns.labels, k), {link: unitLink, field: 'towns'}),
      tableCard('部门', depts.rows, columns(kind, depts.labels, k), {link: unitLink, field: 'departments'}),
      others.length ? tableCard('其他单位', others, columns(kind, units.labels, k), {link: unitLink, field: 'other-units'}) : null,
    ];
  }};
}

async function pageUnit(item, id) {
  const units = await get('units', {item});
  const row = units.rows.find((r) => r.id === id);
  if (!row) return {docs: [units], draw: () => [h('p', {class: 'empty'}, `没有这个单位：${id}`)]};
  const subjects = await get('subjects', {district: row.parent, item});
  return {docs: [units, subjects], draw: () => {
    const kind = itemKind(state.election, item, units);
    const district = (state.election.districts || []).find((d) => d.id === row.parent);
    const mine = subjects.rows.filter((r) => r.parent === id);
    return [
      pageHead(row.name, [{name: '全市', href: href('city')}, {name: district ? district.name : row.parent, href: href('district', row.parent)}, {name: row.name}], units, kind),
      h('section', {class: 'card'}, cellPanel(row, units, kind, {rankOf: units.rows.length})),
      tableCard('测评对象', mine, columns(kind, subjects.labels, subjects.k_anonymity), {link: (r) => href('subject', r.id), field: 'subjects'}),
    ];
  }};
}

async function pageSubject(item, id) {
  const [subjects, units] = await Promise.all([get('subjects', {item}), get('units', {item})]);
  const row = subjects.rows.find((r) => r.id === id);
  if (!row) return {docs: [subjects], draw: () => [h('p', {class: 'empty'}, `没有这个测评对象：${id}`)]};
  const [byCat, byDistrict] = await Promise.all([
    get('rollup', {side: 'rater', by: 'category', subject: id, item}),
    get('rollup', {side: 'rater', by: 'district', subject: id, item})]);
  return {docs: [subjects, units, byCat, byDistrict], draw: () => {
    const kind = itemKind(state.election, item, subjects);
    const unit = units.rows.find((u) => u.id === row.parent);
    const district = unit && (state.election.districts || []).find((d) => d.id === unit.parent);
    const crumbs = [{name: '全市', href: href('city')}];
    if (district) crumbs.push({name: district.name, href: href('district', district.id)});
    if (unit) crumbs.push({name: unit.name, href: href('unit', unit.id)});
    crumbs.push({name: row.name});
    const k = subjects.k_anonymity;
    const cats = state.election.categories || [];
    const catRows = cats.map((c) => Object.assign({id: c.id, name: `${c.name}（权重 ${c.weight}）`}, (row.by_category || {})[c.id] || {suppressed: true}));
    return [
      pageHead(row.name, crumbs, subjects, kind),
      h('section', {class: 'card subject-card', 'data-subject': id}, cellPanel(row, subjects, kind, {rankOf: subjects.rows.length})),
      row.by_category ? tableCard('各类测评人（测评对象一侧）', catRows, columns(kind, subjects.labels, k, {rank: false}), {field: 'by-category',
        note: '得分为各类测评人得分按权重加权。'}) : null,
      tableCard('测评人一侧：按类别', byCat.rows, columns(kind, byCat.labels, byCat.k_anonymity, {rank: false}), {field: 'rater-category'}),
      tableCard('测评人一侧：按会场所在区', byDistrict.rows, columns(kind, byDistrict.labels, byDistrict.k_anonymity, {rank: false}), {field: 'rater-district'}),
    ];
  }};
}

async function pageVenues() {
  const venues = await get('venues');
  return {docs: [venues], draw: () => {
    const names = Object.fromEntries((state.election.districts || []).map((d) => [d.id, d.name]));
    const rows = venues.venues.map((v) => Object.assign({}, v, {suppressed: false}));
    const cols = [
      {title: '区', f: (v) => names[v.district] || v.district},
      {title: '状态', f: (v) => h('span', {class: 'chip st-' + v.status, 'data-status': v.status}, STATUS_NAMES[v.status] || v.status)},
      {title: '发出', cls: 'num', f: (v) => int(v.issued)},
      {title: '收回', cls: 'num', f: (v) => int(v.collected)},
      {title: '已发送', cls: 'num', f: (v) => int(v.sent)},
      {title: '已计', cls: 'num strong', f: (v) => int(v.accepted)},
      {title: '空白', cls: 'num', f: (v) => int(v.blank)},
      {title: '重复', cls: 'num', f: (v) => int(v.duplicates)},
      {title: '拒收', cls: 'num', f: (v) => int(v.rejected)},
      {title: '重开', cls: 'num', f: (v) => int(v.reopens === undefined ? null : v.reopens)},
      {title: '分片', cls: 'num', f: (v) => h('span', {class: v.stale ? 'stale-mark' : null}, `#${v.shard}`, v.stale ? ' 过时' : '')},
    ];
    return [
      pageHead('会场核对', [{name: '全市', href: href('city')}, {name: '会场核对'}], Object.assign({item: currentItem()}, venues), 'graded'),
      provisionalList(venues),
      tableCard(`会场（${venues.venues.length}）`, rows, cols, {field: 'venues', note: '发出 / 收回 / 已发送在会场关闭后才有；作废的会场不计入任何合计。'}),
    ];
  }};
}

async function pageSearch(item, text) {
  const [units, subjects, venues] = await Promise.all([get('units', {item}), get('subjects', {item}), get('venues')]);
  return {docs: [units, subjects, venues], draw: () => {
    const q = (text || '').trim().toLowerCase();
    const hit = (x) => q && (String(x.name || '').toLowerCase().includes(q) || String(x.id || '').toLowerCase() === q);
    const groups = [
      ['区', (state.election.districts || []).filter(hit), (r) => href('district', r.id)],
      ['单位', units.rows.filter(hit), (r) => href('unit', r.id)],
      ['测评对象', subjects.rows.filter(hit), (r) => href('subject', r.id)],
      ['会场', venues.venues.filter(hit), () => href('venues')],
    ];
    const total = groups.reduce((a, g) => a + g[1].length, 0);
    return [
      h('div', {class: 'page-head'}, h('h1', null, `搜索：${text || ''}`), h('p', {class: 'muted'}, `找到 ${total} 项`)),
      groups.filter((g) => g[1].length).map(([title, rows, link]) => h('section', {class: 'card'}, h('h2', null, title),
        h('ul', {class: 'results'}, rows.map((r) => h('li', null, h('a', {href: link(r)}, r.name), h('span', {class: 'muted'}, ` ${r.id}`)))))),
    ];
  }};
}

// ------------------------------------------------------------- rendering

async function render({fromPoll = false} = {}) {
  const serial = ++state.renderSerial;
  const r = parseHash();
  const item = currentItem();
  if (itemSelect.value !== item) itemSelect.value = item;
  let page;
  try {
    switch (r.page) {
    case 'district': page = await pageDistrict(item, r.id); break;
    case 'unit': page = await pageUnit(item, r.id); break;
    case 'subject': page = await pageSubject(item, r.id); break;
    case 'venues': page = await pageVenues(); break;
    case 'search': page = await pageSearch(item, r.id); break;
    default: page = await pageCity(item);
    }
  } catch (e) {
    if (serial !== state.renderSerial) return;
    showError(e, fromPoll);
    return;
  }
  if (serial !== state.renderSerial) return; // a newer render started
  // never backwards: every answer must be at least as new as what is shown
  const rounds = page.docs.map((d) => d.merged_round).filter((x) => typeof x === 'number');
  const oldest = rounds.length ? Math.min(...rounds) : state.shownRound;
  if (fromPoll && oldest < state.shownRound) return;
  const scroll = window.scrollY;
  const content = page.draw();
  clear(view);
  view.append(...[content].flat(Infinity).filter(Boolean));
  view.dataset.page = r.page;
  state.shownRound = Math.max(state.shownRound, oldest);
  document.body.dataset.round = String(state.shownRound);
  if (fromPoll) window.scrollTo(0, scroll);
}

function showError(e, fromPoll) {
  if (e instanceof ApiError && e.status === 401) {
    clear(view);
    view.append(h('section', {class: 'card error'}, h('h2', null, '需要访问令牌'),
      h('p', null, '此看板需要访问令牌：请打开管理员提供的链接（/?token=…）。')));
    setLive('bad', '未授权');
    return;
  }
  if (fromPoll) { setLive('bad', '连接中断'); return; }
  clear(view);
  view.append(h('section', {class: 'card error'}, h('h2', null, '无法显示'), h('p', null, e.message || String(e))));
}

function setLive(kind, text) {
  live.dataset.state = kind;
  live.textContent = text;
}

function updateChrome(sum) {
  const stale = sum.stale_shards || 0;
  staleBanner.hidden = !stale;
  staleBanner.textContent = stale ? `注意：${stale} 个分片数据过时，其数字为最后一次收到的结果（${(sum.shards || []).filter((x) => x.stale).map((x) => '#' + x.shard).join(' ')}）` : '';
  document.body.classList.toggle('has-stale', !!stale);
  foot.textContent = `${sum.election.title} · 匿名阈值 k=${sum.k_anonymity}（少于 k 张票的格子显示为 <k） · 只读视图，数字均来自计票服务器`;
}

async function poll() {
  try {
    const sum = await get('summary');
    state.lastOk = Date.now();
    if (sum.merged_round < state.shownRound) return; // an older answer: ignore
    state.summary = sum;
    updateChrome(sum);
    setLive(sum.final ? 'final' : 'live', `${sum.final ? '最终' : '实时'} · ${formatTime(sum.snapshot_at).slice(11)}`);
    // the city page also shows every shard's freshness: redraw it on any change
    const page = parseHash().page;
    if (sum.merged_round > state.shownRound || (page === 'city' && staleKey(sum) !== state.staleKey)) {
      state.staleKey = staleKey(sum);
      await render({fromPoll: true});
    }
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) showError(e, true);
    else setLive('bad', '连接中断');
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

function staleKey(sum) {
  return (sum.shards || []).map((x) => (x.stale ? 1 : 0)).join('');
}

async function start() {
  let sum;
  try {
    sum = await get('summary');
  } catch (e) {
    showError(e, false);
    setTimeout(start, POLL_MS * 2);
    return;
  }
  state.election = sum.election;
  state.summary = sum;
  state.staleKey = staleKey(sum);
  document.title = `${sum.election.title} · 计票看板`;
  clear(itemSelect);
  for (const it of sum.election.items || []) {
    const kind = it.kind && it.kind !== 'graded' ? `（${KIND_NAMES[it.kind] || it.kind}）` : '';
    itemSelect.append(h('option', {value: it.id}, it.name + kind));
  }
  itemSelect.addEventListener('change', () => {
    const r = parseHash();
    const path = r.page === 'city' ? '#/' : `#/${r.page}/${encodeURIComponent(r.id || '')}`;
    location.hash = itemSelect.value === overallItem(state.election) ? path : `${path}?item=${encodeURIComponent(itemSelect.value)}`;
  });
  document.getElementById('search').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = document.getElementById('q').value.trim();
    if (q) location.hash = `#/search/${encodeURIComponent(q)}`;
  });
  try {
    const venues = await get('venues');
    state.venueNames = Object.fromEntries(venues.venues.map((v) => [v.id, v.name]));
  } catch (e) { /* names only */ }
  updateChrome(sum);
  setLive(sum.final ? 'final' : 'live', `${sum.final ? '最终' : '实时'} · ${formatTime(sum.snapshot_at).slice(11)}`);
  window.addEventListener('hashchange', () => render());
  await render();
  setTimeout(poll, POLL_MS);
}

start();

// charts.js — the SVG charts, drawn here (no library): a stacked bar of a
// graded cell (each choice, then 弃权 and 多选无效), and share bars of a
// contest cell (one bar per candidate, winners marked).  Colours are SVG
// fill attributes (the CSP forbids style attributes, not SVG geometry).

import {h, s, int, pct} from './dom.js';

// From favourable to unfavourable, then blank and over-marked.
const GRADE_COLOURS = ['#1a7f4b', '#66b36b', '#e0a526', '#c8382f', '#8e44ad', '#2c6fb7'];
const BLANK_COLOUR = '#a7adb5';
const OVER_COLOUR = '#5b6270';
const SHARE_COLOUR = '#2c6fb7';
const WINNER_COLOUR = '#b22a2a';

// Favourable first: green through amber to red, whatever the number of
// grades the definition has.
const PALETTES = {
  1: ['#1a7f4b'],
  2: ['#1a7f4b', '#c8382f'],
  3: ['#1a7f4b', '#c8382f', '#e0a526'],
  4: ['#1a7f4b', '#66b36b', '#e0a526', '#c8382f'],
  5: ['#1a7f4b', '#66b36b', '#e0a526', '#e07b26', '#c8382f'],
};
export function gradeColour(i, n) {
  const p = PALETTES[n] || GRADE_COLOURS;
  return p[i % p.length];
}

// The segments of a graded or yes/no cell: [{label, value, colour}].
export function segments(cell, labels) {
  const segs = labels.map((l, i) => ({label: l, value: (cell.choices || {})[l] || 0, colour: gradeColour(i, labels.length)}));
  segs.push({label: '弃权', value: cell.blank || 0, colour: BLANK_COLOUR});
  segs.push({label: '多选无效', value: cell.over || 0, colour: OVER_COLOUR});
  return segs;
}

function swatch(colour) {
  return s('svg', {class: 'swatch', viewBox: '0 0 10 10', 'aria-hidden': 'true'}, s('rect', {width: 10, height: 10, rx: 2, fill: colour}));
}

// A stacked bar, full width (viewBox 1000 wide), with a legend of counts
// and shares of all marks.  compact: the bar alone, for a table row.
export function stackedBar(cell, labels, {compact = false} = {}) {
  const segs = segments(cell, labels);
  const total = segs.reduce((a, x) => a + x.value, 0);
  const height = compact ? 14 : 44;
  const bar = s('svg', {
    class: compact ? 'bar bar-compact' : 'bar',
    viewBox: `0 0 1000 ${height}`,
    preserveAspectRatio: 'none',
    role: 'img',
    'aria-label': segs.map((x) => `${x.label} ${x.value}`).join('，'),
  });
  if (total === 0) {
    bar.append(s('rect', {x: 0, y: 0, width: 1000, height, fill: '#e6e8eb'}));
  } else {
    let x = 0;
    for (const seg of segs) {
      if (!seg.value) continue;
      const w = (seg.value / total) * 1000;
      bar.append(s('rect', {x: x.toFixed(2), y: 0, width: Math.max(w, 0.5).toFixed(2), height, fill: seg.colour},
        s('title', null, `${seg.label}：${seg.value}（${pct(seg.value / total)}）`)));
      x += w;
    }
  }
  if (compact) return bar;
  const legend = h('ul', {class: 'legend'},
    segs.map((seg) => h('li', {'data-label': seg.label},
      swatch(seg.colour), h('span', {class: 'lg-label'}, seg.label),
      h('span', {class: 'lg-value', 'data-value': seg.value}, int(seg.value)),
      h('span', {class: 'lg-share'}, total ? pct(seg.value / total) : '—'))));
  return h('div', {class: 'stacked'}, bar, legend);
}

// A contest cell: one bar per candidate by share, the winners marked (a
// tie names every candidate tied).
export function shareBars(cell, labels) {
  const shares = cell.shares || {};
  const winners = new Set(cell.winners || []);
  const rows = labels.map((l) => {
    const share = shares[l];
    const votes = (cell.choices || {})[l];
    const won = winners.has(l);
    return h('div', {class: won ? 'share won' : 'share', 'data-label': l},
      h('span', {class: 'share-label'}, l, won ? h('span', {class: 'win-tag'}, cell.tie ? '并列' : '当选') : null),
      s('svg', {class: 'share-bar', viewBox: '0 0 1000 20', preserveAspectRatio: 'none', role: 'img', 'aria-label': `${l} ${pct(share)}`},
        s('rect', {x: 0, y: 0, width: 1000, height: 20, fill: '#e6e8eb'}),
        s('rect', {x: 0, y: 0, width: ((share || 0) * 1000).toFixed(2), height: 20, fill: won ? WINNER_COLOUR : SHARE_COLOUR})),
      h('span', {class: 'share-value'}, pct(share), votes !== undefined && votes !== null ? h('small', null, ` ${int(votes)} 票`) : null));
  });
  return h('div', {class: 'shares'}, rows);
}

// "当选：A" / "并列：A、B" / "—".
export function winnersText(cell) {
  const w = cell.winners || [];
  if (!w.length) return '—';
  return (cell.tie ? '并列：' : '') + w.join('、');
}

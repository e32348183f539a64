// dom.js — building the page without innerHTML: every text from the API
// goes in as a text node, so nothing it says can become markup, and no
// style attribute is ever written (the Content-Security-Policy allows
// none: the look is the stylesheet's classes; SVG geometry is attributes).

const SVG_NS = 'http://www.w3.org/2000/svg';

// h('div', {class: 'card', 'data-field': 'x'}, child, 'text', [more]) → element.
// Attributes: strings set as attributes; `on*` functions as listeners;
// null/undefined/false skipped.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'style') throw new Error('no style attributes: use a class');
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// Figures as people read them: 12,345; 87.6%; 89.53; "—" for nothing.
export function int(n) {
  return n === null || n === undefined ? '—' : Number(n).toLocaleString('zh-CN');
}
export function pct(x, digits = 1) {
  return x === null || x === undefined ? '—' : (x * 100).toFixed(digits) + '%';
}
export function num(x, digits = 2) {
  return x === null || x === undefined ? '—' : Number(x).toFixed(digits);
}

// A withheld cell (fewer than k ballots behind it): "<k", never 0.
export function suppressed(k) {
  return h('span', {class: 'supp', title: `少于 k=${k} 张票，按匿名规则不公布`, 'data-suppressed': 'true'}, '<k');
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
}

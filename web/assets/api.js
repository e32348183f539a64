// api.js — the aggregator's JSON API (docs/API.md), same origin only.
// The token travels as the HttpOnly cookie set by /?token=…: the page never
// sees it, and fetch sends it because the request is same-origin.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// GET /api/v1/<path>?<args> → the parsed document.  args: {key: value};
// null values are left out.
export async function get(path, args = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(args)) if (v !== null && v !== undefined && v !== '') q.set(k, v);
  const url = '/api/v1/' + path + (q.toString() ? '?' + q.toString() : '');
  let resp;
  try {
    resp = await fetch(url, {credentials: 'same-origin', cache: 'no-store', headers: {Accept: 'application/json'}});
  } catch (e) {
    throw new ApiError(0, '无法连接计票服务器');
  }
  let doc = null;
  try {
    doc = await resp.json();
  } catch (e) {
    throw new ApiError(resp.status, `服务器回答无法解析（HTTP ${resp.status}）`);
  }
  if (!resp.ok) throw new ApiError(resp.status, (doc && doc.error) || `HTTP ${resp.status}`);
  return doc;
}

// The kind of an item (election.items[]): "graded" unless it says otherwise.
export function itemKind(election, itemId, doc) {
  if (doc && doc.kind) return doc.kind;
  const it = (election.items || []).find((i) => i.id === itemId);
  return (it && it.kind) || 'graded';
}

export function overallItem(election) {
  const it = (election.items || []).find((i) => i.overall) || (election.items || [])[0];
  return it ? it.id : null;
}

// Stride monitor: a small single-page app over the JSON admin API.
// Everything is built with DOM calls and text nodes (no HTML parsing), so
// no value from a flow, a message or a store can inject markup.
'use strict';

let csrf = '';
let timers = [];

// api calls the admin API with the session cookie; changes carry the
// session's CSRF token. A lost session sends the operator to the login.
async function api(path, opts = {}) {
  const headers = { Accept: 'application/json' };
  if (opts.method && opts.method !== 'GET') headers['X-CSRF-Token'] = csrf;
  const resp = await fetch(path, { method: opts.method || 'GET', headers, credentials: 'same-origin' });
  if (resp.status === 401) { location.href = '/login'; throw new Error('not logged in'); }
  const text = await resp.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = { error: text }; }
  if (!resp.ok) throw new Error((body && body.error) || resp.statusText);
  return body;
}

// el builds an element: el('td', {class: 'x'}, 'text', child...).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const badge = (s) => el('span', { class: 'badge ' + s }, s);
const fmtTime = (t) => (t && !t.startsWith('0001')) ? new Date(t).toLocaleString() : '';
const main = () => document.getElementById('main');

function show(...nodes) {
  const m = main();
  m.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false));
}

function every(ms, fn) { timers.push(setInterval(fn, ms)); }

function failed(err) {
  show(el('p', { class: 'error', id: 'page-error' }, String(err.message || err)));
}

function table(headers, rows) {
  return el('table', {}, el('thead', {}, el('tr', {}, headers.map((h) => el('th', {}, h)))), el('tbody', {}, rows));
}

// confirmAction asks in a dialog; resolves true on Confirm.
function confirmAction(text) {
  const d = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  return new Promise((resolve) => {
    d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
    d.showModal();
  });
}

// ---- Flows -------------------------------------------------------------

async function flowsPage() {
  const [fl, counts] = await Promise.all([api('/admin/flows'), api('/admin/stepcounts')]);
  const rows = fl.flows.map((f) => el('tr', { class: 'clickable', 'data-flow': f.id, onclick: () => { location.hash = '#/flows/' + encodeURIComponent(f.id); } },
    el('td', {}, el('a', { href: '#/flows/' + encodeURIComponent(f.id) }, f.id)),
    el('td', {}, badge(f.status), f.reason ? el('div', { class: 'muted' }, f.reason) : null),
    el('td', {}, f.trigger),
    el('td', { class: 'mono' }, f.version),
    el('td', { class: 'mono' }, f.file)));
  const errs = fl.errors.length === 0 ? null : [
    el('h2', {}, 'Failed to load (the flows above keep running)'),
    table(['file:line', 'error'], fl.errors.map((e) => el('tr', {},
      el('td', { class: 'mono' }, e.line ? `${e.file}:${e.line}:${e.col}` : e.file), el('td', { class: 'error' }, e.message))))];
  show(el('h1', {}, 'Flows'),
    el('p', { class: 'muted' }, `${fl.flows.length} flows · loaded ${fmtTime(counts.loaded)}`),
    table(['flow', 'state', 'trigger', 'version', 'file'], rows), errs);
}

async function flowPage(id) {
  const d = await api('/admin/flows/' + encodeURIComponent(id) + '/diagram');
  const boxes = new Map(); // file:line → [count elements]
  const node = (n, cls) => {
    const counts = el('span', { class: 'counts' });
    if (cls !== 'trigger' && !boxes.has(n.at)) boxes.set(n.at, []);
    const box = el('div', { class: 'node ' + (cls || ''), 'data-at': n.at },
      el('div', { class: 'head', onclick: () => box.classList.toggle('open') },
        el('span', { class: 'kind' }, n.kind), n.name ? el('span', { class: 'name' }, n.name) : null,
        el('span', { class: 'mono muted at' }, n.at), counts),
      el('pre', { class: 'yaml' }, n.yaml));
    if (cls !== 'trigger') boxes.get(n.at).push({ box, counts });
    if (n.branches && n.branches.length) {
      box.append(el('div', { class: 'branches' }, n.branches.map((b) => el('div', { class: 'branch' },
        el('div', { class: 'label' }, b.label), lane(b.steps)))));
    }
    return box;
  };
  const lane = (steps) => el('div', { class: 'lane' }, steps.map((s, i) => [i ? el('div', { class: 'arrow' }, '↓') : null, node(s)]));
  show(el('p', {}, el('a', { href: '#/flows' }, '← Flows')),
    el('h1', {}, d.id),
    el('p', { class: 'muted mono' }, `${d.file} · version ${d.version}`),
    d.stale ? el('p', { class: 'notice warn' }, 'The file changed since this version was loaded: positions and YAML are the file’s.') : null,
    el('p', { class: 'muted' }, 'Counts are runs / errors since start, updated every 2 s. Click a step for its YAML; ',
      el('a', { href: '#/messages?flow=' + encodeURIComponent(d.id) }, 'messages of this flow'), '.'),
    el('div', { class: 'diagram', id: 'diagram' },
      el('div', { class: 'section-label' }, 'trigger'), node(d.trigger, 'trigger'),
      el('div', { class: 'section-label' }, 'steps'), lane(d.steps),
      d.on_error.length ? [el('div', { class: 'section-label' }, 'on_error'), lane(d.on_error)] : null));
  const refresh = async () => {
    const c = await api('/admin/stepcounts');
    for (const [at, list] of boxes) {
      const n = c.steps[at] || { runs: 0, errors: 0 };
      for (const { box, counts } of list) {
        counts.replaceChildren(el('span', { class: 'runs' }, `${n.runs} ${n.runs === 1 ? 'run' : 'runs'}`), ' · ',
          el('span', { class: n.errors ? 'errs' : '' }, `${n.errors} ${n.errors === 1 ? 'error' : 'errors'}`));
        box.classList.toggle('has-errors', n.errors > 0);
      }
    }
  };
  await refresh();
  every(2000, () => refresh().catch(() => {}));
}

// ---- Messages ----------------------------------------------------------

const STATUSES = ['', 'COMPLETED', 'FAILED', 'ESCALATED', 'RETRY', 'PROCESSING', 'DISCARDED', 'REJECTED'];

function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

async function messagesPage(params) {
  const flows = await api('/admin/flows');
  const input = (name, attrs) => el('input', Object.assign({ name, id: 'f-' + name, value: params.get(name) || '' }, attrs || {}));
  const flowSel = el('select', { name: 'flow', id: 'f-flow' }, el('option', { value: '' }, 'all flows'),
    flows.flows.map((f) => el('option', { value: f.id, selected: params.get('flow') === f.id }, f.id)));
  const statusSel = el('select', { name: 'status', id: 'f-status' },
    STATUSES.map((s) => el('option', { value: s, selected: (params.get('status') || '') === s }, s || 'any status')));
  const since = el('input', { type: 'datetime-local', name: 'since', id: 'f-since', value: toLocalInput(params.get('since')) });
  const until = el('input', { type: 'datetime-local', name: 'until', id: 'f-until', value: toLocalInput(params.get('until')) });
  const form = el('form', { class: 'filters', id: 'filters', onsubmit: (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) {
      if (!v) continue;
      p.set(k, (k === 'since' || k === 'until') ? new Date(v).toISOString() : v);
    }
    location.hash = '#/messages?' + p.toString();
  } },
  el('label', {}, 'flow', flowSel), el('label', {}, 'status', statusSel),
  el('label', {}, 'from', since), el('label', {}, 'to', until),
  el('label', {}, 'message id', input('id', { placeholder: 'exact id', size: 26 })),
  el('label', {}, 'correlation id', input('correlation', { placeholder: 'a request\'s messages', size: 26 })),
  el('label', {}, 'text', input('q', { placeholder: 'words in error, step…' })),
  el('button', { type: 'submit', class: 'primary', id: 'f-apply' }, 'Search'));

  const q = new URLSearchParams(params);
  const res = await api('/admin/messages/search?' + q.toString());
  const rows = res.messages.map((m) => el('tr', { class: 'clickable', 'data-id': m.id, onclick: () => { location.hash = '#/messages/' + m.id; } },
    el('td', {}, fmtTime(m.start)),
    el('td', {}, el('a', { href: '#/messages/' + m.id, class: 'mono' }, m.id)),
    el('td', {}, m.flow), el('td', {}, badge(m.status)), el('td', {}, m.attempt),
    el('td', {}, ms(m)), el('td', { class: 'error' }, m.error || '')));
  const older = new URLSearchParams(params);
  if (res.next) older.set('before', res.next);
  show(el('h1', {}, 'Messages'), form,
    rows.length ? table(['started', 'id', 'flow', 'status', 'attempt', 'took', 'error'], rows)
      : el('p', { class: 'muted', id: 'no-messages' }, 'No message matches' + (res.next ? ' in the entries read so far.' : '.')),
    el('div', { class: 'pager' },
      params.get('before') ? el('a', { href: '#/messages?' + withoutBefore(params) }, '⇤ newest') : null,
      res.next ? el('a', { href: '#/messages?' + older.toString(), id: 'older' }, 'older →') : null,
      el('span', { class: 'muted' }, `${res.scanned} log entries read`)));
}

function withoutBefore(params) {
  const p = new URLSearchParams(params);
  p.delete('before');
  return p.toString();
}

function ms(m) {
  if (!m.end || m.end.startsWith('0001')) return '';
  return `${Math.max(0, new Date(m.end) - new Date(m.start))} ms`;
}

async function messagePage(id) {
  const render = async () => {
    const d = await api('/admin/messages/' + encodeURIComponent(id));
    const last = d.attempts[d.attempts.length - 1];
    // A queue message that failed for good is a dead letter: it can go back.
    const replayable = last.status === 'ESCALATED' || (last.status === 'FAILED' && last.trigger === 'queue');
    const replay = replayable ? el('button', { class: 'primary', id: 'replay', onclick: async (ev) => {
      ev.target.disabled = true;
      try {
        await api('/admin/messages/' + encodeURIComponent(id) + '/replay', { method: 'POST' });
        note.replaceChildren(el('p', { class: 'notice', id: 'replayed' }, 'Replayed: the message is back on its queue. The new attempt appears below.'));
      } catch (e) {
        note.replaceChildren(el('p', { class: 'error' }, e.message));
        ev.target.disabled = false;
      }
    } }, 'Replay') : null;
    const attempts = d.attempts.slice().reverse().map((a) => el('section', { class: 'attempt', 'data-attempt': a.attempt, 'data-status': a.status },
      el('h2', {}, `Attempt ${a.attempt} `, badge(a.status), el('span', { class: 'muted' }, ` ${fmtTime(a.start)} · ${ms(a)} · ${a.trigger}${a.queue ? ' from queue ' + a.queue : ''} · version ${a.flow_version}`)),
      a.error ? el('p', { class: 'error' }, a.error) : null,
      // At log level info an attempt that went well keeps no step trace.
      (a.trace || []).length === 0
        ? el('p', { class: 'muted', id: 'no-steps' }, 'Steps are not kept for an attempt that went well at log level info; a failed attempt keeps them, and `log: trace` keeps every attempt\'s.')
        : table(['step', 'kind', 'file:line', 'duration', 'outcome', 'error'], a.trace.map((t) => el('tr', { class: 'trace' },
          el('td', {}, t.step), el('td', {}, t.kind), el('td', { class: 'mono at' }, t.at),
          el('td', {}, t.duration_ms.toFixed(2) + ' ms'), el('td', {}, badge(t.outcome)), el('td', { class: 'error' }, t.error || '')))),
      a.payload ? [el('div', { class: 'section-label' }, 'payload snapshot'), el('pre', { class: 'payload' }, a.payload)] : null));
    // The messages one inbound request caused share a correlation id:
    // the webhook's and those its consumers ran.
    const corr = last.correlation_id ? el('p', { class: 'muted', id: 'correlation' }, 'correlation id ',
      el('a', { class: 'mono', href: '#/messages?correlation=' + encodeURIComponent(last.correlation_id) }, last.correlation_id),
      last.trace_id ? ' · trace id ' : null, last.trace_id ? el('span', { class: 'mono' }, last.trace_id) : null) : null;
    return [el('p', {}, el('a', { href: '#/messages?flow=' + encodeURIComponent(last.flow) }, '← Messages of ' + last.flow)),
      el('h1', {}, 'Message ', el('span', { class: 'mono' }, id)), corr, replay, attempts];
  };
  const note = el('div', {});
  const body = el('div', {});
  body.replaceChildren(...(await render()).flat(Infinity).filter(Boolean));
  show(note, body);
  every(2000, async () => {
    try { body.replaceChildren(...(await render()).flat(Infinity).filter(Boolean)); } catch (e) { /* keep the last view */ }
  });
}

// ---- Queues ------------------------------------------------------------

async function queuesPage() {
  const res = await api('/admin/queues');
  show(el('h1', {}, 'Queues'), res.queues.length === 0 ? el('p', { class: 'muted' }, 'No queue has been used yet.') :
    table(['queue', 'ready', 'in flight', 'retrying', 'dead letters', 'oldest message'], res.queues.map((q) => el('tr', { 'data-queue': q.name },
      el('td', {}, el('a', { href: '#/queues/' + encodeURIComponent(q.name) }, q.name)),
      el('td', {}, q.ready), el('td', {}, q.in_flight), el('td', {}, q.retrying),
      el('td', {}, q.dead ? el('a', { href: '#/queues/' + encodeURIComponent(q.name), class: 'error' }, q.dead) : '0'),
      el('td', {}, fmtTime(q.oldest))))));
  every(2000, async () => { if (location.hash === '#/queues') await queuesPage().catch(() => {}); });
}

async function deadLettersPage(queue) {
  const base = '/admin/queues/' + encodeURIComponent(queue) + '/dead';
  const res = await api(base);
  const act = (label, cls, fn) => el('button', { class: cls, onclick: async () => {
    try { await fn(); await deadLettersPage(queue); } catch (e) { alert(e.message); }
  } }, label);
  const rows = res.dead_letters.map((m) => [
    el('tr', { 'data-id': m.id },
      el('td', {}, el('a', { href: '#/messages/' + m.id, class: 'mono' }, m.id)), el('td', {}, m.key || ''), el('td', {}, m.attempts),
      el('td', { class: 'error' }, m.last_error || ''),
      el('td', {}, el('div', { class: 'row-actions' },
        act('Replay', 'primary', () => api(base + '/' + m.id + '/replay', { method: 'POST' })),
        act('Purge', 'danger', async () => { if (await confirmAction(`Delete dead letter ${m.id} for good?`)) await api(base + '/' + m.id, { method: 'DELETE' }); })))),
    el('tr', {}, el('td', { colspan: 5 }, el('details', {}, el('summary', {}, `body (${m.body_bytes} bytes${m.content_type ? ', ' + m.content_type : ''})`),
      el('pre', { class: 'payload' }, m.body))))]);
  show(el('p', {}, el('a', { href: '#/queues' }, '← Queues')), el('h1', {}, 'Dead letters of ' + queue),
    res.dead_letters.length ? [el('p', {}, act('Purge all', 'danger', async () => {
      if (await confirmAction(`Delete all ${res.dead_letters.length} dead letters of ${queue} for good?`)) await api(base, { method: 'DELETE' });
    })), table(['id', 'key', 'attempts', 'last error', ''], rows)] : el('p', { class: 'muted' }, 'No dead letters.'));
}

// ---- Data stores and connections --------------------------------------

async function storesPage() {
  const res = await api('/admin/stores');
  show(el('h1', {}, 'Data stores'), el('p', { class: 'muted' }, 'Values declared sensitive are shown as ***; this page never reveals them.'),
    table(['store', 'entries'], res.stores.map((s) => el('tr', {},
      el('td', {}, el('a', { href: '#/stores/' + encodeURIComponent(s.name) }, s.name)), el('td', {}, s.count)))));
}

const STORE_PAGE = 50;

// showValue pretty-prints a stored value; the envelope datastore_put
// writes ({"text", "content_type"}) shows its text, parsed when it is JSON.
function showValue(raw) {
  let v;
  try { v = JSON.parse(raw); } catch (e) { return raw; }
  if (v && typeof v.text === 'string') {
    try { return JSON.stringify(JSON.parse(v.text), null, 2); } catch (e) { return v.text; }
  }
  return JSON.stringify(v, null, 2);
}

async function storePage(name, params) {
  const after = params.get('after') || '';
  const base = '/admin/stores/' + encodeURIComponent(name);
  const res = await api(`${base}?limit=${STORE_PAGE + 1}&after=${encodeURIComponent(after)}`);
  const more = res.entries.length > STORE_PAGE;
  const entries = res.entries.slice(0, STORE_PAGE);
  const rows = entries.map((e) => {
    const value = el('pre', { class: 'payload' }, '…');
    const d = el('details', { ontoggle: async () => {
      if (!d.open || value.dataset.loaded) return;
      const r = await fetch(base + '/' + encodeURIComponent(e.id), { credentials: 'same-origin' });
      value.textContent = showValue(await r.text());
      value.dataset.loaded = '1';
    } }, el('summary', {}, 'value'), value);
    return el('tr', {}, el('td', { class: 'mono' }, e.id), el('td', {}, fmtTime(e.created)), el('td', {}, fmtTime(e.expires) || 'never'), el('td', {}, d));
  });
  const next = more ? '#/stores/' + encodeURIComponent(name) + '?after=' + encodeURIComponent(entries[entries.length - 1].id) : null;
  show(el('p', {}, el('a', { href: '#/stores' }, '← Data stores')), el('h1', {}, name),
    table(['id', 'written', 'expires', ''], rows),
    el('div', { class: 'pager' }, after ? el('a', { href: '#/stores/' + encodeURIComponent(name) }, '⇤ first') : null,
      next ? el('a', { href: next }, 'next →') : null));
}

async function connectionsPage() {
  const res = await api('/admin/connections');
  show(el('h1', {}, 'Connections'),
    el('p', { class: 'muted' }, 'Store entries that hold tokens: who is connected, with which scopes, and when the tokens were last written (a refresh writes them again). Tokens are never shown.'),
    res.connections.length === 0 ? el('p', { class: 'muted' }, 'No connections.') :
      table(['store', 'user', 'scopes and other fields', 'last written', 'expires', 'hidden'], res.connections.map((c) => el('tr', { 'data-user': c.id },
        el('td', {}, c.store), el('td', { class: 'mono' }, c.id),
        el('td', {}, Object.entries(c.fields).map(([k, v]) => el('div', {}, el('span', { class: 'muted' }, k + ': '), typeof v === 'string' ? v : JSON.stringify(v)))),
        el('td', {}, fmtTime(c.updated)), el('td', {}, fmtTime(c.expires) || 'never'),
        el('td', { class: 'muted' }, c.hidden.join(', '))))),
    res.more ? el('p', { class: 'muted' }, 'Only the first entries of each store are listed.') : null);
}

// ---- Routing -----------------------------------------------------------

async function route() {
  timers.forEach(clearInterval);
  timers = [];
  const hash = location.hash || '#/flows';
  const [path, query] = hash.slice(1).split('?');
  const params = new URLSearchParams(query || '');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  document.querySelectorAll('[data-nav]').forEach((a) => a.classList.toggle('active', a.dataset.nav === (parts[0] || 'flows')));
  try {
    switch (parts[0] || 'flows') {
      case 'flows': await (parts[1] ? flowPage(parts[1]) : flowsPage()); break;
      case 'messages': await (parts[1] ? messagePage(parts[1]) : messagesPage(params)); break;
      case 'queues': await (parts[1] ? deadLettersPage(parts[1]) : queuesPage()); break;
      case 'stores': await (parts[1] ? storePage(parts[1], params) : storesPage()); break;
      case 'connections': await connectionsPage(); break;
      default: show(el('p', {}, 'No such page.'));
    }
    document.body.dataset.page = parts[0] || 'flows';
    document.body.dataset.ready = hash;
  } catch (e) {
    failed(e);
  }
}

async function start() {
  try {
    const s = await api('/admin/session');
    csrf = s.csrf_token || '';
    if (s.auth !== 'session') document.getElementById('logout').hidden = true;
  } catch (e) {
    return;
  }
  document.getElementById('logout').addEventListener('click', async () => {
    await fetch('/logout', { method: 'POST', headers: { 'X-CSRF-Token': csrf }, credentials: 'same-origin' });
    location.href = '/login';
  });
  window.addEventListener('hashchange', route);
  route();
}

start();

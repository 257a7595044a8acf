// The on-call page: the last hour's graphs per channel (GET /v1/admin/stats,
// drawn as plain SVG), failure reasons, destinations held back, a search by
// notification id, queues, dead letters, attempt history and replay, through
// the /v1/admin routes with the admin key kept in this tab's sessionStorage.
// Everything from the server goes into the page as text (textContent), never
// as HTML; the page's Content-Security-Policy refuses HTML sinks anyway.
'use strict';

(function () {
  const KEY_STORE = 'herald.adminKey';
  const REFRESH_MS = 5000;
  const CHANNELS = ['email', 'sms', 'push', 'webhook'];
  const SVG = 'http://www.w3.org/2000/svg';
  const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

  const $ = (id) => document.getElementById(id);
  const state = {
    key: null,
    timer: null,
    channel: 'email',
    cursors: [null], // cursor of each page seen; the last is the current page's
    next: null,
    selected: null, // id whose attempts are shown
    loadSeq: 0,
  };

  // ---- small DOM helpers ----

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === 'class') e.className = v;
      else if (k.startsWith('data-')) e.setAttribute(k, String(v));
      else if (k === 'text') e.textContent = String(v);
      else e.setAttribute(k, String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function setStatus(text, kind) {
    const s = $('status');
    s.textContent = text || '';
    s.dataset.kind = kind || 'info';
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  // ---- the key ----

  function loadKey() {
    try {
      return sessionStorage.getItem(KEY_STORE);
    } catch (e) {
      return null;
    }
  }

  function setKey(key) {
    state.key = key;
    try {
      if (key) sessionStorage.setItem(KEY_STORE, key);
      else sessionStorage.removeItem(KEY_STORE);
    } catch (e) {
      // storage refused (private mode): the key lives in memory only
    }
    const have = Boolean(key);
    show($('key-section'), !have);
    show($('app'), have);
    show($('key-forget'), have);
    // show which key (its id, never the secret)
    const m = have ? /^hk_([^_]+)_/.exec(key) : null;
    $('key-state').textContent = have ? 'key ' + (m ? m[1] : '(unrecognised format)') : '';
    if (state.timer) {
      clearInterval(state.timer);
      state.timer = null;
    }
    if (have) {
      refreshAll();
      loadDlq(true);
      state.timer = setInterval(refreshAll, REFRESH_MS);
    } else {
      $('admin-key').value = '';
      $('admin-key').focus();
    }
  }

  // ---- API calls ----

  class ApiError extends Error {
    constructor(status, code, message, requestId) {
      super(message);
      this.status = status;
      this.code = code;
      this.requestId = requestId;
    }
  }

  async function api(method, path, body) {
    const headers = { Authorization: 'Bearer ' + state.key, Accept: 'application/json' };
    const init = { method, headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'network', 'cannot reach the API: ' + e.message, null);
    }
    const rid = res.headers.get('X-Request-Id');
    let data = null;
    try {
      data = await res.json();
    } catch (e) {
      data = null;
    }
    if (!res.ok) {
      const err = data && data.error ? data.error : null;
      let msg = err ? err.code + ': ' + err.message : 'HTTP ' + res.status;
      if (err && Array.isArray(err.details)) {
        msg += ' (' + err.details.map((d) => d.field + ' ' + d.message).join('; ') + ')';
      }
      throw new ApiError(res.status, err ? err.code : null, msg, rid);
    }
    return data;
  }

  // handleError: shows err; a refused key is forgotten so the form comes back.
  function handleError(what, err) {
    if (err.status === 401 || err.status === 403) {
      setKey(null);
      setStatus(
        what + ': the key was refused (' + err.status + '). Enter an admin key.', 'error');
      return;
    }
    const rid = err.requestId ? ' [request ' + err.requestId + ']' : '';
    setStatus(what + ': ' + err.message + rid, 'error');
  }

  function refreshAll() {
    refreshQueues();
    refreshStats();
    refreshDestinations();
  }

  // ---- graphs ----

  // svg: an SVG element with attributes (never markup from strings).
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  // niceMax: a round upper bound at or above v (1, 2, 5 x 10^n).
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  function fmt(v) {
    if (v === null || v === undefined) return '–';
    if (v >= 100 || Number.isInteger(v)) return String(Math.round(v));
    return v.toFixed(v >= 10 ? 1 : 2);
  }

  // chart: one SVG line chart of series [{name, cls, values (null: gap)}]
  // over the hour; data-* attributes carry each series' last value.
  function chart(name, title, unit, series, wide) {
    const W = wide ? 320 : 180, H = 110, L = 34, R = 6, T = 8, B = 16;
    const n = Math.max(1, ...series.map((s) => s.values.length));
    let max = 0;
    for (const s of series) for (const v of s.values) if (v !== null && v > max) max = v;
    max = niceMax(max);
    const x = (i) => L + ((W - L - R) * i) / Math.max(1, n - 1);
    const y = (v) => T + (H - T - B) * (1 - v / max);
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'data-chart': name,
      'aria-label': title });
    root.append(svg('title', {}, title));
    for (const v of [0, max / 2, max]) {
      root.append(svg('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      root.append(svg('text', { x: L - 3, y: y(v) + 3, 'text-anchor': 'end' }, fmt(v)));
    }
    root.append(svg('text', { x: L, y: H - 3 }, '−60 min'));
    root.append(svg('text', { x: W - R, y: H - 3, 'text-anchor': 'end' }, 'now'));
    for (const s of series) {
      let d = '';
      let pen = false;
      s.values.forEach((v, i) => {
        if (v === null || v === undefined) {
          pen = false;
          return;
        }
        d += (pen ? 'L' : 'M') + x(i).toFixed(1) + ' ' + y(v).toFixed(1);
        pen = true;
      });
      let last = null;
      for (const v of s.values) if (v !== null && v !== undefined) last = v;
      root.append(svg('path', { d: d || 'M0 0', class: 's-' + s.cls, 'data-series': s.cls,
        'data-last': last === null ? '' : last }));
      // the newest point as a dot, so a lone sample shows too
      for (let i = s.values.length - 1; i >= 0; i--) {
        const v = s.values[i];
        if (v === null || v === undefined) continue;
        root.append(svg('circle', { cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: 2,
          class: 's-' + s.cls }));
        break;
      }
    }
    const legend = el('div', { class: 'legend' },
      ...series.map((s) => el('span', { class: 's-' + s.cls }, s.name)));
    return el('figure', { class: 'chart', 'data-chart': name }, root,
      el('figcaption', {}, title + (unit ? ' (' + unit + ')' : '')), legend);
  }

  // perSecond: bucket counts as rates; the current bucket over the part of
  // it that has passed, so the right end of the line does not sag.
  function perSecond(counts, bucketS, fromMs, nowMs) {
    return counts.map((c, i) => {
      const start = fromMs + i * bucketS * 1000;
      const span = Math.min(bucketS, Math.max(1, (nowMs - start) / 1000));
      return c / span;
    });
  }

  function sum(a) {
    return (a || []).reduce((t, v) => t + (v || 0), 0);
  }

  async function refreshStats() {
    if (!state.key) return;
    let data;
    try {
      data = await api('GET', '/v1/admin/stats');
    } catch (e) {
      handleError('Graphs', e);
      return;
    }
    const from = Date.parse(data.from);
    const bucketS = data.bucket_seconds;
    const now = Date.now();
    const cards = [];
    let missing = false;
    for (const c of data.channels || []) {
      if (!c.accepted) {
        missing = true;
        continue;
      }
      const totals = el('span', { class: 'totals', 'data-field': 'totals' },
        `last hour: ${sum(c.accepted)} accepted · ${sum(c.sent)} sent · ` +
        `${sum(c.failed)} failed · ${sum(c.retried)} retried`);
      for (const k of ['accepted', 'sent', 'failed', 'retried']) totals.dataset[k] = sum(c[k]);
      const rates = chart('rates', 'per second', '', [
        { name: 'accepted', cls: 'accepted', values: perSecond(c.accepted, bucketS, from, now) },
        { name: 'sent', cls: 'sent', values: perSecond(c.sent, bucketS, from, now) },
        { name: 'failed', cls: 'failed', values: perSecond(c.failed, bucketS, from, now) },
      ], true);
      const lag = chart('lag', 'lag', 'entries', [{ name: 'lag', cls: 'lag', values: c.lag }]);
      const dwell = chart('dwell', 'dwell p99', 's', [{ name: 'dwell p99', cls: 'dwell',
        values: c.dwell_p99_ms.map((v) => (v === null ? null : v / 1000)) }]);
      cards.push(el('article', { class: 'card', 'data-channel': c.channel },
        el('h3', {}, c.channel, totals), el('div', { class: 'row' }, rates, lag, dwell)));
    }
    $('charts').replaceChildren(...cards);
    $('charts-note').textContent = missing ? 'Redis did not answer: no graphs for now.' : '';
    show($('charts-note'), missing);
    $('charts-updated').textContent = new Date().toLocaleTimeString();
    renderReasons(data.failure_reasons);
  }

  function renderReasons(list) {
    const box = $('reasons');
    if (!list) {
      box.replaceChildren(el('p', { class: 'muted' }, 'The database did not answer.'));
      return;
    }
    const parts = [];
    for (const c of list) {
      const rows = (c.reasons || []).map((r) => el('tr', {},
        el('td', { class: 'num', 'data-field': 'count' }, r.count),
        el('td', { class: 'err', 'data-field': 'error' }, r.error),
        el('td', { class: 'mono', 'data-field': 'last_failed_at' }, r.last_failed_at)));
      parts.push(el('div', { class: 'reasons', 'data-channel': c.channel },
        el('h3', {}, c.channel),
        rows.length
          ? el('table', {}, el('thead', {}, el('tr', {},
            el('th', { scope: 'col', class: 'num' }, 'Dead letters'),
            el('th', { scope: 'col' }, 'Last error'),
            el('th', { scope: 'col' }, 'Latest'))), el('tbody', {}, ...rows))
          : el('p', { class: 'muted small' }, 'No dead letter in the last hour.')));
    }
    box.replaceChildren(...parts);
  }

  // ---- destinations held back (open circuits) ----

  async function refreshDestinations() {
    if (!state.key) return;
    const note = $('destinations-note');
    let data;
    try {
      data = await api('GET', '/v1/admin/destinations');
    } catch (e) {
      if (e.status === 404 && e.code === 'not_found') {
        $('destinations-body').replaceChildren();
        note.textContent = 'This server does not list destinations.';
        show(note, true);
        return;
      }
      handleError('Destinations', e);
      return;
    }
    const rows = (data.data || []).map((d) => el('tr', { 'data-destination': d.destination },
      el('td', { 'data-field': 'channel' }, d.channel),
      el('td', { class: 'recipient', 'data-field': 'destination' }, d.destination),
      el('td', { 'data-field': 'state' }, el('span', { class: 'badge ' +
        (d.state === 'open' ? 'failed' : 'retry') }, d.state)),
      el('td', { class: 'num', 'data-field': 'failures' }, d.failures),
      el('td', { class: 'num', 'data-field': 'waiting' }, d.waiting),
      el('td', { class: 'mono', 'data-field': 'since' }, d.since)));
    $('destinations-body').replaceChildren(...rows);
    note.textContent = rows.length ? '' : 'No destination is held back.';
    show(note, rows.length === 0);
  }

  // ---- queues ----

  function countCell(v, field, hot) {
    const unknown = v === null || v === undefined;
    const td = el('td', {
      class: 'num' + (unknown ? ' unknown' : '') + (hot && !unknown && v > 0 ? ' hot' : ''),
      'data-field': field,
      title: unknown ? 'Redis cannot tell' : null,
    });
    td.textContent = unknown ? '–' : String(v);
    return td;
  }

  // who is backlogged: the busiest lanes (priority/lane) and tenants
  function backlogCell(q) {
    const parts = [];
    for (const t of q.backlog_tenants || []) parts.push(t.tenant + ' ' + t.due);
    for (const l of q.busiest_lanes || []) {
      parts.push(l.priority + '/' + (l.lane === null ? 'v1' : l.lane) + ' lag ' +
        (l.lag === null ? '–' : l.lag) + ', ' + l.in_flight + ' in flight');
    }
    const td = el('td', { 'data-field': 'backlog' });
    td.textContent = parts.length ? parts.join(' · ') : '–';
    return td;
  }

  async function refreshQueues() {
    if (!state.key) return;
    let data;
    try {
      data = await api('GET', '/v1/admin/queues');
    } catch (e) {
      handleError('Queues', e);
      return;
    }
    const body = $('queues-body');
    const rows = [];
    for (const q of data.channels || []) {
      const pick = el('button', {
        type: 'button', class: 'link', 'data-action': 'show-dlq', 'data-channel': q.channel,
        title: 'Show this channel\'s dead letters',
      }, q.channel);
      pick.addEventListener('click', () => {
        $('dlq-channel').value = q.channel;
        loadDlq(true);
      });
      rows.push(el('tr', { 'data-channel': q.channel },
        el('th', { scope: 'row' }, pick),
        countCell(q.stream_length, 'stream_length'),
        countCell(q.lag, 'lag'),
        countCell(q.in_flight, 'in_flight'),
        countCell(q.consumers, 'consumers'),
        countCell(q.scheduled, 'scheduled'),
        countCell(q.dead_letters, 'dead_letters', true),
        backlogCell(q)));
    }
    body.replaceChildren(...rows);
    $('queues-updated').textContent = new Date().toLocaleTimeString();
  }

  // ---- dead letters ----

  function dlqPath() {
    const p = new URLSearchParams();
    p.set('limit', $('dlq-limit').value);
    const tenant = $('dlq-tenant').value.trim();
    if (tenant) p.set('tenant', tenant);
    const cur = state.cursors[state.cursors.length - 1];
    if (cur) p.set('cursor', cur);
    return '/v1/admin/dlq/' + encodeURIComponent(state.channel) + '?' + p.toString();
  }

  // loadDlq: from the first page when reset, else the page state.cursors names.
  async function loadDlq(reset) {
    if (!state.key) return;
    const ch = $('dlq-channel').value;
    if (!CHANNELS.includes(ch)) return;
    if (reset) {
      state.channel = ch;
      state.cursors = [null];
    }
    const seq = ++state.loadSeq;
    let data;
    try {
      data = await api('GET', dlqPath());
    } catch (e) {
      if (seq === state.loadSeq) handleError('Dead letters', e);
      return;
    }
    if (seq !== state.loadSeq) return; // a newer load is on its way
    renderDlq(data);
  }

  // isEventDelivery: a given-up delivery of a status event to a tenant's events_url (a
  // webhook whose body is the event itself, {"id", "type": "notification.…", …}).
  function isEventDelivery(n) {
    if (n.channel !== 'webhook' || typeof n.body !== 'string') return false;
    try {
      const b = JSON.parse(n.body);
      return b && b.id === n.id && typeof b.type === 'string' && b.type.startsWith('notification.');
    } catch (e) {
      return false;
    }
  }

  function renderDlq(data) {
    const rows = (data.data || []).map((n) => {
      const replay = el('button', {
        type: 'button', class: 'danger', 'data-action': 'replay', 'data-id': n.id,
      }, 'Replay…');
      replay.addEventListener('click', (ev) => {
        ev.stopPropagation();
        confirmReplay([n.id]);
      });
      const tr = el('tr', { 'data-id': n.id, tabindex: '0' },
        el('td', { class: 'mono', 'data-field': 'id' }, n.id),
        el('td', { 'data-field': 'tenant' }, n.tenant || ''),
        el('td', { class: 'recipient', 'data-field': 'recipient' },
          isEventDelivery(n) ? 'status event → ' + n.recipient : n.recipient),
        el('td', { class: 'num', 'data-field': 'attempts' }, n.attempts),
        el('td', { class: 'err', 'data-field': 'last_error' }, n.last_error || ''),
        el('td', { class: 'mono', 'data-field': 'failed_at' }, n.failed_at || ''),
        el('td', {}, replay));
      if (n.id === state.selected) tr.classList.add('selected');
      tr.addEventListener('click', () => showAttempts(n.id));
      tr.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter') showAttempts(n.id);
      });
      return tr;
    });
    $('dlq-body').replaceChildren(...rows);
    show($('dlq-empty'), rows.length === 0);
    state.next = data.next_cursor || null;
    $('dlq-next').disabled = !state.next;
    $('dlq-prev').disabled = state.cursors.length <= 1;
    $('dlq-page').textContent = 'page ' + state.cursors.length + ' · ' + state.channel;
    $('dlq-replay-all').textContent = 'Replay all of ' + state.channel + '…';
  }

  // ---- attempts ----

  async function showAttempts(id) {
    state.selected = id;
    for (const tr of $('dlq-body').querySelectorAll('tr')) {
      tr.classList.toggle('selected', tr.dataset.id === id);
    }
    let n, a;
    try {
      [n, a] = await Promise.all([
        api('GET', '/v1/admin/notifications/' + encodeURIComponent(id)),
        api('GET', '/v1/admin/notifications/' + encodeURIComponent(id) + '/attempts'),
      ]);
    } catch (e) {
      handleError('Attempts', e);
      return;
    }
    if (state.selected !== id) return;
    $('attempts-id').textContent = id;
    for (const dd of $('attempts-summary').querySelectorAll('dd[data-field]')) {
      const v = n[dd.dataset.field];
      dd.textContent = v === null || v === undefined || v === '' ? '–' : String(v);
    }
    const rows = (a.data || []).map((t) => el('tr', { 'data-attempt': t.attempt },
      el('td', { class: 'num', 'data-field': 'attempt' }, t.attempt),
      el('td', { class: 'mono', 'data-field': 'started_at' }, t.started_at),
      el('td', { 'data-field': 'outcome' }, el('span', { class: 'badge ' + t.outcome }, t.outcome)),
      el('td', { class: 'num', 'data-field': 'status_code' },
        t.status_code === null ? '–' : t.status_code),
      el('td', { class: 'num', 'data-field': 'duration_ms' }, t.duration_ms + ' ms'),
      el('td', { class: 'err', 'data-field': 'error' }, t.error || '')));
    $('attempts-body').replaceChildren(...rows);
    show($('attempts-empty'), rows.length === 0);
    const section = $('attempts-section');
    const first = section.hidden;
    show(section, true);
    if (first) section.scrollIntoView({ block: 'nearest' });
  }

  // ---- replay ----

  function confirmReplay(ids) {
    const ch = state.channel;
    const text = ids
      ? 'Replay dead letter ' + ids[0] + ' (' + ch + ')? It goes back to pending with a fresh ' +
        'attempt budget; its attempt history is kept.'
      : 'Replay EVERY dead letter of the ' + ch + ' channel, of every tenant? They go back to ' +
        'pending with a fresh attempt budget.';
    const dlg = $('confirm');
    $('confirm-text').textContent = text;
    $('confirm-ok').textContent = ids ? 'Replay' : 'Replay all';
    dlg.dataset.ids = ids ? JSON.stringify(ids) : '';
    dlg.dataset.channel = ch;
    dlg.showModal();
    $('confirm-cancel').focus();
  }

  async function doReplay() {
    const dlg = $('confirm');
    const ids = dlg.dataset.ids ? JSON.parse(dlg.dataset.ids) : null;
    const ch = dlg.dataset.channel;
    dlg.close('ok');
    let res;
    try {
      res = await api('POST', '/v1/admin/dlq/' + encodeURIComponent(ch) + '/replay',
        ids ? { ids } : { all: true });
    } catch (e) {
      handleError('Replay', e);
      return;
    }
    let msg = 'Replayed ' + res.replayed + ' dead letter' + (res.replayed === 1 ? '' : 's') +
      ' of ' + ch + '.';
    if (res.not_found && res.not_found.length) {
      msg += ' Not a dead letter (any more): ' + res.not_found.join(', ') + '.';
    }
    setStatus(msg, res.replayed > 0 ? 'ok' : 'info');
    loadDlq(false);
    refreshQueues();
    // the open history shows the old status otherwise
    if (state.selected && (!ids || ids.includes(state.selected))) showAttempts(state.selected);
  }

  // ---- search ----

  function search(ev) {
    ev.preventDefault();
    const id = $('search-id').value.trim();
    if (!UUID_RE.test(id)) {
      setStatus('Search: "' + id + '" is not a notification id (a UUID).', 'error');
      return;
    }
    setStatus('', 'info');
    showAttempts(id.toLowerCase()).then(() => {
      if (state.selected === id.toLowerCase() && !$('attempts-section').hidden) {
        $('attempts-section').scrollIntoView({ block: 'start' });
      }
    });
  }

  // ---- wiring ----

  function init() {
    $('search-form').addEventListener('submit', search);
    $('key-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const k = $('admin-key').value.trim();
      if (!k) return;
      setStatus('', 'info');
      setKey(k);
    });
    $('key-forget').addEventListener('click', () => {
      setKey(null);
      setStatus('Key forgotten.', 'info');
    });
    $('queues-refresh').addEventListener('click', refreshAll);
    $('dlq-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      loadDlq(true);
    });
    $('dlq-channel').addEventListener('change', () => loadDlq(true));
    $('dlq-limit').addEventListener('change', () => loadDlq(true));
    $('dlq-next').addEventListener('click', () => {
      if (!state.next) return;
      state.cursors.push(state.next);
      loadDlq(false);
    });
    $('dlq-prev').addEventListener('click', () => {
      if (state.cursors.length <= 1) return;
      state.cursors.pop();
      loadDlq(false);
    });
    $('dlq-replay-all').addEventListener('click', () => confirmReplay(null));
    $('confirm-cancel').addEventListener('click', () => $('confirm').close('cancel'));
    $('confirm-ok').addEventListener('click', doReplay);
    $('attempts-close').addEventListener('click', () => {
      state.selected = null;
      show($('attempts-section'), false);
      for (const tr of $('dlq-body').querySelectorAll('tr.selected')) {
        tr.classList.remove('selected');
      }
    });
    setKey(loadKey());
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();

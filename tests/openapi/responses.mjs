// responses: exercises a running herald-api and checks every answer against
// api/openapi.json: the status is one the operation documents, the media type
// matches, the body validates against the response's schema (ajv, JSON Schema
// 2020-12), and the documented headers are there with valid values.
//
// Starts nothing. Environment:
//   HERALD_TEST_BASE_URL   e.g. http://127.0.0.1:8080 (no trailing slash)
//   HERALD_TEST_KEY        a tenant's (non-admin) API key
//   HERALD_TEST_ADMIN_KEY  an admin API key
//   HERALD_TEST_DLQ_ID     optional: a dead letter (failed, with attempts) of channel
//   HERALD_TEST_DLQ_CHANNEL (default webhook), so that the dead-letter list and the
//                          attempt history are checked with real rows, not only empty
// Exit status 0 when every check passed; the last line is "N passed, N failed".
import { randomUUID } from 'node:crypto';
import { DOC, DOC_TEXT, Report, deref, env, pointerOf, runMain, validator } from './lib.mjs';

const BASE = env('HERALD_TEST_BASE_URL').replace(/\/$/, '');
const KEY = env('HERALD_TEST_KEY');
const ADMIN = env('HERALD_TEST_ADMIN_KEY');
const report = new Report();

// Headers that, when a response declares them, must be on every such answer.
const ALWAYS = new Set(['X-Request-Id', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset',
  'Allow', 'WWW-Authenticate', 'Cache-Control', 'Content-Security-Policy', 'Retry-After']);
// ...except where the document says "sometimes" (503 with Retry-After only when busy).
const SOMETIMES = { '503': new Set(['Retry-After']), '201': new Set(['Idempotent-Replayed']) };

async function call(method, path, { key, body, raw, contentType, headers } = {}) {
  const h = { ...(headers || {}) };
  if (key) h.Authorization = `Bearer ${key}`;
  let payload;
  if (raw !== undefined) payload = raw;
  else if (body !== undefined) payload = JSON.stringify(body);
  if (payload !== undefined) h['Content-Type'] = contentType || 'application/json';
  const res = await fetch(BASE + path, { method, headers: h, body: payload, redirect: 'manual' });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text };
}

// operationFor: the document's path template matching path, and its item.
function pathItemFor(path) {
  const bare = path.split('?')[0];
  for (const [tpl, item] of Object.entries(DOC.paths)) {
    const re = new RegExp('^' + tpl.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+') + '$');
    if (re.test(bare)) return { tpl, item };
  }
  return null;
}

function checkHeader(name, decl, res, status, problems) {
  const value = res.headers.get(name);
  if (value === null) {
    if (ALWAYS.has(name) && !(SOMETIMES[status] && SOMETIMES[status].has(name))) {
      problems.push(`header ${name} missing`);
    }
    return;
  }
  const h = deref(decl);
  const schema = deref(h.schema || {});
  let v = value;
  if (schema.type === 'integer') {
    if (!/^-?[0-9]+$/.test(value)) {
      problems.push(`header ${name}: ${JSON.stringify(value)} is not an integer`);
      return;
    }
    v = Number(value);
  }
  const validate = validator(pointerOf(h.schema, null) || headerSchemaPointer(decl));
  if (!validate(v)) problems.push(`header ${name}=${JSON.stringify(value)}: ${JSON.stringify(validate.errors)}`);
}

function headerSchemaPointer(decl) {
  // headers are always $ref'd to #/components/headers/<name>
  return decl.$ref.replace(/^#/, '') + '/schema';
}

// validateAgainst: checks res against the document's response object resp,
// found at pointer ptr (a JSON pointer into the document).
function validateAgainst(resp, ptr, res, status, problems) {
  for (const [name, decl] of Object.entries(resp.headers || {})) {
    checkHeader(name, decl, res, status, problems);
  }
  const content = resp.content || {};
  const types = Object.keys(content);
  if (types.length === 0) {
    if (res.text.length) problems.push(`expected no body, got ${res.text.length} bytes`);
    return null;
  }
  const ct = (res.headers.get('Content-Type') || '').split(';')[0].trim().toLowerCase();
  if (!types.includes(ct)) {
    problems.push(`Content-Type ${JSON.stringify(ct)} is not one of ${types.join(', ')}`);
    return null;
  }
  if (ct !== 'application/json') return null;
  let body;
  try {
    body = JSON.parse(res.text);
  } catch (e) {
    problems.push(`body is not JSON: ${e.message}`);
    return null;
  }
  const schemaPtr = `${ptr}/content/${ct.replace('/', '~1')}/schema`;
  const validate = validator(schemaPtr);
  if (!validate(body)) {
    problems.push(`body does not match ${schemaPtr}: ${JSON.stringify(validate.errors, null, 1)}`);
    problems.push(`body: ${res.text.slice(0, 800)}`);
  }
  return body;
}

// expect: one exchange checked against the document; returns the parsed body.
async function expect(name, method, path, want, opts) {
  const res = await call(method, path, opts);
  const problems = [];
  if (want !== undefined && res.status !== want) {
    problems.push(`status ${res.status}, want ${want}: ${res.text.slice(0, 300)}`);
  }
  const found = pathItemFor(path);
  let body = null;
  if (!found) {
    // no such route: the error envelope, not_found
    if (res.status !== 404) problems.push(`undocumented path answered ${res.status}`);
    const r = deref({ $ref: '#/components/responses/NotificationNotFound' });
    body = validateAgainst(r, '/components/responses/NotificationNotFound', res, '404', problems);
  } else {
    const op = found.item[method.toLowerCase()];
    const itemPtr = '/paths/' + found.tpl.replace(/~/g, '~0').replace(/\//g, '~1');
    if (!op) {
      // a method the path lacks: 405 with Allow naming exactly the documented ones
      const documented = Object.keys(found.item).filter((k) => ['get', 'post', 'put', 'patch', 'delete'].includes(k))
        .map((k) => k.toUpperCase()).sort();
      const allow = (res.headers.get('Allow') || '').split(',').map((s) => s.trim()).filter(Boolean).sort();
      if (res.status !== 405) problems.push(`method not in the document answered ${res.status}`);
      if (JSON.stringify(allow) !== JSON.stringify(documented)) {
        problems.push(`Allow ${JSON.stringify(allow)} differs from the document's ${JSON.stringify(documented)}`);
      }
      const any = Object.values(found.item).find((o) => o && o.responses && o.responses['405']);
      const r405 = any.responses['405'];
      body = validateAgainst(deref(r405), pointerOf(r405), res, '405', problems);
    } else {
      const respDecl = op.responses[String(res.status)];
      if (!respDecl) {
        problems.push(`status ${res.status} is not documented for ${method} ${found.tpl} (${Object.keys(op.responses).join(', ')})`);
      } else {
        const ptr = pointerOf(respDecl, `${itemPtr}/${method.toLowerCase()}/responses/${res.status}`);
        body = validateAgainst(deref(respDecl), ptr, res, String(res.status), problems);
      }
    }
  }
  report.check(`${method} ${path} -> ${res.status}: ${name}`, problems);
  return { body, res };
}

function errorCode(body) {
  return body && body.error ? body.error.code : undefined;
}

function same(name, got, want) {
  report.check(name, got === want ? [] : [`got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`]);
}

async function main() {
  const email = { channel: 'email', recipient: 'ada@example.com', subject: 'Hi {{name}}',
    body: 'Hello {{name}}', metadata: { name: 'Ada', n: 3 } };
  const idem = 'openapi-' + randomUUID();

  // ---- create, replay, batch ----
  const created = await expect('create email', 'POST', '/v1/notifications', 201,
    { key: KEY, body: email, headers: { 'Idempotency-Key': idem } });
  const id = created.body && created.body.id;
  const again = await expect('idempotent repeat', 'POST', '/v1/notifications', 201,
    { key: KEY, body: email, headers: { 'Idempotency-Key': idem } });
  same('repeat says Idempotent-Replayed', again.res.headers.get('Idempotent-Replayed'), 'true');
  same('repeat answers the same id', again.body && again.body.id, id);
  const reused = await expect('idempotency key, other body', 'POST', '/v1/notifications', 422,
    { key: KEY, body: { ...email, body: 'other' }, headers: { 'Idempotency-Key': idem } });
  same('reused key code', errorCode(reused.body), 'idempotency_key_reused');
  await expect('create sms (no subject: null)', 'POST', '/v1/notifications', 201,
    { key: KEY, body: { channel: 'sms', recipient: '+14155550100', body: 'code 1234' } });
  await expect('create push', 'POST', '/v1/notifications', 201,
    { key: KEY, body: { channel: 'push', recipient: 'device-token-1', subject: 'T', body: 'B', metadata: { k: 'v' } } });
  await expect('create webhook with send_at', 'POST', '/v1/notifications', 201, {
    key: KEY,
    body: { channel: 'webhook', recipient: 'https://hooks.example.com/in', body: '{"a":1}',
      send_at: new Date(Date.now() + 3600e3).toISOString() },
  });
  await expect('create email with html, reply_to, priority, expires_at', 'POST', '/v1/notifications', 201, {
    key: KEY,
    body: { ...email, html: '<p>Hello {{name}}</p>', reply_to: 'help@example.com', priority: 'high',
      expires_at: new Date(Date.now() + 600e3).toISOString() },
  });

  // ---- tenant settings ----
  await expect('tenant settings', 'GET', '/v1/tenant', 200, { key: KEY });
  await expect('change tenant settings', 'PATCH', '/v1/tenant', 200, {
    key: KEY,
    body: { events_url: 'https://hooks.example.com/events', event_types: ['notification.failed'],
      email_from: 'Example <no-reply@example.com>' },
  });
  await expect('tenant settings, bad fields', 'PATCH', '/v1/tenant', 422,
    { key: KEY, body: { events_url: 'ftp://x', colour: 1 } });
  await expect('tenant settings back to defaults', 'PATCH', '/v1/tenant', 200,
    { key: KEY, body: { events_url: null, event_types: null, email_from: null } });

  const batch = await expect('batch of 3', 'POST', '/v1/notifications/batch', 201, {
    key: KEY,
    body: { notifications: [email, { channel: 'sms', recipient: '+14155550101', body: 'x' },
      { channel: 'webhook', recipient: 'https://hooks.example.com/b', body: 'y' }] },
  });
  same('batch answers 3 in order', batch.body && batch.body.data.map((n) => n.channel).join(','),
    'email,sms,webhook');
  const badBatch = await expect('batch with a bad item', 'POST', '/v1/notifications/batch', 422, {
    key: KEY, body: { notifications: [email, { channel: 'sms', recipient: 'nope', body: 'x' }] },
  });
  same('batch error names notifications[1].recipient',
    badBatch.body && badBatch.body.error.details && badBatch.body.error.details.some((d) => d.field === 'notifications[1].recipient'), true);

  // ---- read ----
  await expect('get', 'GET', `/v1/notifications/${id}`, 200, { key: KEY });
  const page1 = await expect('list, 2 a page', 'GET', '/v1/notifications?limit=2', 200, { key: KEY });
  same('list has a next_cursor', typeof (page1.body && page1.body.next_cursor), 'string');
  if (page1.body && page1.body.next_cursor) {
    await expect('list, next page', 'GET',
      `/v1/notifications?limit=2&cursor=${encodeURIComponent(page1.body.next_cursor)}`, 200, { key: KEY });
  }
  await expect('list, filtered, last page', 'GET', '/v1/notifications?channel=push&status=pending', 200, { key: KEY });
  await expect('attempts (none yet)', 'GET', `/v1/notifications/${id}/attempts`, 200, { key: KEY });

  // ---- cancel ----
  await expect('cancel', 'POST', `/v1/notifications/${id}/cancel`, 200, { key: KEY });
  const twice = await expect('cancel again', 'POST', `/v1/notifications/${id}/cancel`, 409, { key: KEY });
  same('conflict code', errorCode(twice.body), 'conflict');

  // ---- errors, in API.md's order ----
  const nf = await expect('unknown id', 'GET', `/v1/notifications/${randomUUID()}`, 404, { key: KEY });
  same('not_found code', errorCode(nf.body), 'not_found');
  await expect('malformed id', 'GET', '/v1/notifications/not-a-uuid', 404, { key: KEY });
  await expect('no such route', 'GET', '/v1/nothing-here', 404, { key: KEY });
  const na = await expect('method not allowed', 'DELETE', '/v1/notifications', 405, { key: KEY });
  same('method_not_allowed code', errorCode(na.body), 'method_not_allowed');
  await expect('method not allowed on a page', 'POST', '/admin', 405, {});
  const un = await expect('no key', 'GET', '/v1/notifications', 401, {});
  same('unauthorized code', errorCode(un.body), 'unauthorized');
  await expect('unknown key', 'GET', '/v1/notifications', 401, { key: 'hk_nosuchkey_secret' });
  const fb = await expect('tenant key on an admin route', 'GET', '/v1/admin/queues', 403, { key: KEY });
  same('forbidden code', errorCode(fb.body), 'forbidden');
  await expect('body over 64 KiB', 'POST', '/v1/notifications', 413,
    { key: KEY, raw: JSON.stringify({ ...email, body: 'x'.repeat(70 * 1024) }) });
  await expect('text/plain body', 'POST', '/v1/notifications', 415,
    { key: KEY, raw: JSON.stringify(email), contentType: 'text/plain' });
  const ij = await expect('trailing comma', 'POST', '/v1/notifications', 400,
    { key: KEY, raw: '{"channel":"email",}' });
  same('invalid_json code', errorCode(ij.body), 'invalid_json');
  const vf = await expect('invalid fields', 'POST', '/v1/notifications', 422,
    { key: KEY, body: { channel: 'email', recipient: 'not an address', body: '', extra: 1 } });
  same('validation_failed code', errorCode(vf.body), 'validation_failed');
  await expect('bad list limit', 'GET', '/v1/notifications?limit=0', 422, { key: KEY });
  await expect('bad cursor', 'GET', '/v1/notifications?cursor=bogus', 422, { key: KEY });

  // ---- admin ----
  const q = await expect('queues', 'GET', '/v1/admin/queues', 200, { key: ADMIN });
  same('queues name the four channels', q.body && q.body.channels.map((c) => c.channel).join(','),
    'email,sms,push,webhook');
  const st = await expect('the hour\'s figures', 'GET', '/v1/admin/stats', 200, { key: ADMIN });
  same('stats name the four channels', st.body && st.body.channels.map((c) => c.channel).join(','),
    'email,sms,push,webhook');
  await expect('tenant key on the figures', 'GET', '/v1/admin/stats', 403, { key: KEY });
  for (const ch of ['email', 'sms', 'push', 'webhook']) {
    await expect(`dead letters of ${ch}`, 'GET', `/v1/admin/dlq/${ch}?limit=5`, 200, { key: ADMIN });
  }
  const dlqId = process.env.HERALD_TEST_DLQ_ID;
  if (dlqId) {
    const ch = process.env.HERALD_TEST_DLQ_CHANNEL || 'webhook';
    const list = await expect('dead letters with a row', 'GET', `/v1/admin/dlq/${ch}?limit=100`, 200, { key: ADMIN });
    const row = list.body && list.body.data.find((n) => n.id === dlqId);
    same('the dead letter is listed, failed, with its tenant',
      row ? `${row.status} ${typeof row.tenant} ${typeof row.failed_at}` : 'absent', 'failed string string');
    const hist = await expect('attempts with rows', 'GET', `/v1/admin/notifications/${dlqId}/attempts`, 200, { key: ADMIN });
    same('the attempt history has rows', Boolean(hist.body && hist.body.data.length > 0), true);
    const tenant = row && row.tenant;
    if (tenant) {
      await expect('dead letters of one tenant', 'GET',
        `/v1/admin/dlq/${ch}?tenant=${encodeURIComponent(tenant)}&limit=1`, 200, { key: ADMIN });
    }
    await expect('tenant attempts with rows', 'GET', `/v1/notifications/${dlqId}/attempts`, undefined, { key: KEY });
  }
  await expect('dead letters, unknown tenant', 'GET', '/v1/admin/dlq/email?tenant=no-such-tenant', 422, { key: ADMIN });
  await expect('dead letters, no such channel', 'GET', '/v1/admin/dlq/fax', 404, { key: ADMIN });
  await expect('admin get (any tenant)', 'GET', `/v1/admin/notifications/${id}`, 200, { key: ADMIN });
  await expect('admin attempts', 'GET', `/v1/admin/notifications/${id}/attempts`, 200, { key: ADMIN });
  const none = await expect('replay an id that is no dead letter', 'POST', '/v1/admin/dlq/email/replay', 200,
    { key: ADMIN, body: { ids: [id] } });
  same('replayed 0, not_found lists it', none.body && `${none.body.replayed} ${none.body.not_found.join()}`, `0 ${id}`);
  await expect('replay, bad body', 'POST', '/v1/admin/dlq/email/replay', 422,
    { key: ADMIN, body: { ids: [], all: true } });

  // ---- operations and documentation ----
  await expect('healthz', 'GET', '/healthz', 200, {});
  await expect('readyz', 'GET', '/readyz', 200, {});
  await expect('metrics', 'GET', '/metrics', 200, {});
  const served = await expect('openapi.json', 'GET', '/openapi.json', 200, {});
  same('served document is api/openapi.json byte for byte', served.res.text === DOC_TEXT, true);
  await expect('docs page', 'GET', '/docs', 200, {});
  await expect('admin page', 'GET', '/admin', 200, {});
  report.finish();
}

runMain(main);

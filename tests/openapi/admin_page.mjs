// admin_page: drives the on-call page (/admin) and the reference page (/docs)
// of a running herald-api in headless Chromium (Debian's, through
// playwright-core): enters the admin key, finds a dead letter, opens its
// attempt history, replays it after the confirmation, and sees it leave the
// list. Screenshots go to tests/openapi/out/ (admin.png, admin-replayed.png,
// docs.png, docs-operation.png, docs-schema.png). Starts no server.
//
// Environment:
//   HERALD_TEST_BASE_URL    e.g. http://127.0.0.1:8080
//   HERALD_TEST_ADMIN_KEY   an admin API key
//   HERALD_TEST_DLQ_ID      a failed notification (dead letter) to find and replay, with
//   HERALD_TEST_DLQ_CHANNEL its channel (default webhook) and
//   HERALD_TEST_DLQ_ERROR   its last_error as stored (checked to show as text), optional.
//   HERALD_TEST_DLQ_MORE    optional: how many older dead letters the channel also has
//                           (more than 20: pagination is checked, then "replay all").
//   Without HERALD_TEST_DLQ_ID the script makes one itself from HERALD_TEST_KEY and
//   HERALD_TEST_DATABASE_URL (a webhook notification marked failed with psql).
//   HERALD_TEST_CHROMIUM    the browser (default /usr/bin/chromium)
// Exit status 0 when every check passed; the last line is "N passed, N failed".
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { launch, watch } from './browser.mjs';
import { HERE, Report, assert, env, runMain } from './lib.mjs';

const BASE = env('HERALD_TEST_BASE_URL').replace(/\/$/, '');
const ADMIN = env('HERALD_TEST_ADMIN_KEY');
const CHROMIUM = env('HERALD_TEST_CHROMIUM', '/usr/bin/chromium');
const OUT = join(HERE, 'out');
const TIMEOUT = 15000;
const report = new Report();

// A last_error that would run script if the page inserted it as HTML.
const HOSTILE_ERROR = 'HTTP 500 from <img src=x data-probe="xss"> & "the receiver"';

// makeDeadLetter: the fallback when the runner prepared none.
async function makeDeadLetter() {
  const key = env('HERALD_TEST_KEY');
  const db = env('HERALD_TEST_DATABASE_URL');
  const res = await fetch(BASE + '/v1/notifications', {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ channel: 'webhook', recipient: 'https://hooks.example.com/admin-page',
      body: '{"hello":"on-call"}' }),
  });
  if (res.status !== 201) throw new Error(`create: ${res.status} ${await res.text()}`);
  const { id } = await res.json();
  const sql = `UPDATE notifications SET status = 'failed', attempts = 2, failed_at = now(),
      updated_at = now(), in_stream = false, lease_owner = NULL, lease_until = NULL,
      last_error = :'err' WHERE id = :'id';
    INSERT INTO delivery_attempts (notification_id, attempt, started_at, duration_ms, outcome,
      status_code, error) VALUES
      (:'id', 1, now() - interval '1 minute', 131, 'retry', 503, 'HTTP 503'),
      (:'id', 2, now(), 87, 'failed', 500, :'err');`;
  execFileSync('psql', [db, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', `id=${id}`, '-v',
    `err=${HOSTILE_ERROR}`], { input: sql, stdio: ['pipe', 'ignore', 'inherit'] });
  return { id, channel: 'webhook', error: HOSTILE_ERROR };
}

const step = (name, fn) => report.step(name, fn);

async function main() {
  mkdirSync(OUT, { recursive: true });
  let dl;
  if (process.env.HERALD_TEST_DLQ_ID) {
    dl = { id: process.env.HERALD_TEST_DLQ_ID, channel: process.env.HERALD_TEST_DLQ_CHANNEL || 'webhook',
      error: process.env.HERALD_TEST_DLQ_ERROR || null };
  } else {
    dl = await makeDeadLetter();
  }

  const { context, close } = await launch(CHROMIUM, { width: 1280, height: 900 });
  const problems = [];
  try {
    const page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(TIMEOUT);
    watch(page, problems, 'admin');

    await step('the page asks for the key first', async () => {
      const res = await page.goto(BASE + '/admin');
      assert(res.status() === 200, `GET /admin answered ${res.status()}`);
      const csp = res.headers()['content-security-policy'] || '';
      assert(csp.includes("default-src 'none'"), `weak or missing CSP: ${csp}`);
      await page.locator('#admin-key').waitFor({ state: 'visible' });
      assert(await page.locator('#app').isHidden(), 'the app shows before a key is given');
    });

    await step('a wrong key is refused and asked again', async () => {
      await page.fill('#admin-key', 'hk_nosuchkey_secret');
      await page.click('#key-save');
      await page.locator('#status[data-kind="error"]').waitFor();
      await page.locator('#admin-key').waitFor({ state: 'visible' });
    });

    await step('with the admin key the queues show, per channel', async () => {
      await page.fill('#admin-key', ADMIN);
      await page.click('#key-save');
      await page.locator('#app').waitFor({ state: 'visible' });
      for (const ch of ['email', 'sms', 'push', 'webhook']) {
        await page.locator(`#queues-body tr[data-channel="${ch}"]`).waitFor();
      }
      const dead = page.locator(`#queues-body tr[data-channel="${dl.channel}"] td[data-field="dead_letters"]`);
      await page.waitForFunction((sel) => Number(document.querySelector(sel)?.textContent) >= 1,
        `#queues-body tr[data-channel="${dl.channel}"] td[data-field="dead_letters"]`);
      assert(Number(await dead.textContent()) >= 1, 'no dead letter counted');
    });

    const row = page.locator(`#dlq-body tr[data-id="${dl.id}"]`);
    await step('the dead letter is listed for its channel', async () => {
      await page.selectOption('#dlq-channel', dl.channel);
      await row.waitFor();
      const text = (f) => row.locator(`td[data-field="${f}"]`).textContent();
      assert((await text('id')) === dl.id, 'id cell');
      assert(Number(await text('attempts')) >= 1, 'attempts cell');
      assert(/^\d{4}-\d\d-\d\dT/.test(await text('failed_at')), 'failed_at cell');
      assert((await text('tenant')).length > 0, 'tenant cell');
      if (dl.error) assert((await text('last_error')) === dl.error, `last_error cell: ${await text('last_error')}`);
    });

    const more = Number(process.env.HERALD_TEST_DLQ_MORE || 0);
    if (more + 1 > 20) {
      await step('pagination: older dead letters on page 2, and back', async () => {
        assert(await page.locator('#dlq-next').isEnabled(), 'no next page');
        await page.click('#dlq-next');
        await page.waitForFunction(() => document.querySelector('#dlq-page')?.textContent.startsWith('page 2'));
        await page.waitForFunction((n) => document.querySelectorAll('#dlq-body tr[data-id]').length === n,
          Math.min(more + 1 - 20, 20));
        assert((await row.count()) === 0, 'the newest dead letter is on page 2');
        await page.click('#dlq-prev');
        await row.waitFor();
        assert(await page.locator('#dlq-prev').isDisabled(), 'page 1 offers a newer page');
      });
    }

    await step('server text is shown as text, never as HTML', async () => {
      assert((await page.locator('#dlq-body img, #dlq-body [data-probe]').count()) === 0,
        'an element was created from data');
    });

    await step('clicking the row shows its attempt history', async () => {
      await row.locator('td[data-field="recipient"]').click();
      await page.locator('#attempts-section').waitFor({ state: 'visible' });
      assert((await page.locator('#attempts-id').textContent()) === dl.id, 'attempts title');
      await page.locator('#attempts-body tr[data-attempt]').first().waitFor();
      const outcomes = await page.locator('#attempts-body td[data-field="outcome"]').allTextContents();
      assert(outcomes.length >= 1, 'no attempt rows');
      await page.screenshot({ path: join(OUT, 'admin.png'), fullPage: true });
    });

    await step('replay asks for confirmation; cancel changes nothing', async () => {
      await row.locator('button[data-action="replay"]').click();
      await page.locator('#confirm[open]').waitFor();
      assert((await page.locator('#confirm-text').textContent()).includes(dl.id), 'dialog names the id');
      await page.click('#confirm-cancel');
      await page.locator('#confirm[open]').waitFor({ state: 'detached' });
      assert(await row.isVisible(), 'the row left without a confirmation');
    });

    await step('replay after confirming: the dead letter leaves the list', async () => {
      await row.locator('button[data-action="replay"]').click();
      await page.locator('#confirm[open]').waitFor();
      await page.click('#confirm-ok');
      await page.locator('#status[data-kind="ok"]').waitFor();
      const msg = await page.locator('#status').textContent();
      assert(/Replayed 1 dead letter/.test(msg), `status says: ${msg}`);
      await row.waitFor({ state: 'detached' });
      await page.waitForFunction(() =>
        document.querySelector('#attempts-summary dd[data-field="status"]')?.textContent === 'pending');
      await page.screenshot({ path: join(OUT, 'admin-replayed.png'), fullPage: true });
    });

    await step('the API shows it pending again', async () => {
      const res = await fetch(`${BASE}/v1/admin/notifications/${dl.id}`, {
        headers: { Authorization: `Bearer ${ADMIN}` },
      });
      const n = await res.json();
      assert(res.status === 200 && n.status === 'pending', `${res.status} ${JSON.stringify(n).slice(0, 200)}`);
    });

    if (more > 0) {
      await step('replay all, after confirming, empties the list', async () => {
        await page.click('#dlq-replay-all');
        await page.locator('#confirm[open]').waitFor();
        assert(/EVERY/.test(await page.locator('#confirm-text').textContent()), 'dialog says every');
        await page.click('#confirm-ok');
        await page.waitForFunction((n) => document.querySelector('#status')?.textContent
          .startsWith(`Replayed ${n} dead letters`), more);
        await page.locator('#dlq-empty').waitFor({ state: 'visible' });
        await page.waitForFunction((ch) => document.querySelector(
          `#queues-body tr[data-channel="${ch}"] td[data-field="dead_letters"]`)?.textContent === '0', dl.channel);
      });
    }

    await step('the key lasts for the tab (reload), not for a new tab', async () => {
      await page.reload();
      await page.locator('#app').waitFor({ state: 'visible' });
      const other = await context.newPage();
      other.setDefaultTimeout(TIMEOUT);
      await other.goto(BASE + '/admin');
      await other.locator('#admin-key').waitFor({ state: 'visible' });
      await other.close();
    });

    await step('forget key brings the form back', async () => {
      await page.click('#key-forget');
      await page.locator('#admin-key').waitFor({ state: 'visible' });
      assert(await page.evaluate(() => sessionStorage.length) === 0, 'sessionStorage still holds the key');
    });

    const docs = await context.newPage();
    docs.setDefaultTimeout(TIMEOUT);
    watch(docs, problems, 'docs');
    await step('the reference page renders every operation', async () => {
      const res = await docs.goto(BASE + '/docs');
      assert(res.status() === 200, `GET /docs answered ${res.status()}`);
      await docs.locator('#intro').waitFor();
      const doc = await (await fetch(BASE + '/openapi.json')).json();
      for (const ops of Object.values(doc.paths)) {
        for (const o of Object.values(ops)) {
          await docs.locator(`#op-${o.operationId}`).waitFor({ state: 'attached' });
        }
      }
      await docs.screenshot({ path: join(OUT, 'docs.png') });
      await docs.locator('#op-createNotification').screenshot({ path: join(OUT, 'docs-operation.png') });
      await docs.locator('#schema-Notification').screenshot({ path: join(OUT, 'docs-schema.png') });
    });

    report.check('no script errors or CSP violations on either page', problems);
  } finally {
    await close();
  }
  report.finish();
}

runMain(main);

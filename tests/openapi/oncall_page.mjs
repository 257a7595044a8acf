// oncall_page: drives the on-call page's live parts (/admin) in headless
// Chromium (Debian's, through playwright-core) against a running herald-api
// whose workers have delivered something: the graphs per channel and their
// totals, the failure reasons, the destinations panel, and the search box that
// opens a notification with its attempts. A screenshot (oncall.png) goes to
// HERALD_TEST_ARTIFACTS. Starts no server.
//
// Environment:
//   HERALD_TEST_BASE_URL     e.g. http://127.0.0.1:8080
//   HERALD_TEST_ADMIN_KEY    an admin API key
//   HERALD_TEST_SENT_ID      a webhook notification that was sent (searched for)
//   HERALD_TEST_EXPECT       the hour's least totals, "channel:kind=n,..." (kind: accepted,
//                            sent, failed, retried), e.g. "webhook:sent=1,sms:accepted=3"
//   HERALD_TEST_REASON       text the webhook channel's top failure reason holds
//   HERALD_TEST_DESTINATION  optional: a webhook destination whose circuit is open (listed
//                            in the destinations panel as open)
//   HERALD_TEST_ARTIFACTS    where the screenshot goes
//   HERALD_TEST_CHROMIUM     the browser (default /usr/bin/chromium)
// Exit status 0 when every check passed; the last line is "N passed, N failed".
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { launch, watch } from './browser.mjs';
import { Report, assert, env, runMain } from './lib.mjs';

const BASE = env('HERALD_TEST_BASE_URL').replace(/\/$/, '');
const ADMIN = env('HERALD_TEST_ADMIN_KEY');
const SENT_ID = env('HERALD_TEST_SENT_ID');
const EXPECT = env('HERALD_TEST_EXPECT').split(',').map((e) => {
  const [, channel, kind, n] = /^(\w+):(\w+)=(\d+)$/.exec(e);
  return { channel, kind, n: Number(n) };
});
const REASON = env('HERALD_TEST_REASON');
const DESTINATION = process.env.HERALD_TEST_DESTINATION || '';
const OUT = env('HERALD_TEST_ARTIFACTS');
const CHROMIUM = env('HERALD_TEST_CHROMIUM', '/usr/bin/chromium');
const TIMEOUT = 20000;
const report = new Report();

const step = (name, fn) => report.step(name, fn);

async function main() {
  mkdirSync(OUT, { recursive: true });
  const { context, close } = await launch(CHROMIUM, { width: 1400, height: 1000 }, ['--headless']);
  const problems = [];
  try {
    const page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(TIMEOUT);
    watch(page, problems);

    await step('the page loads under its strict CSP and takes the key', async () => {
      const res = await page.goto(BASE + '/admin');
      assert(res.status() === 200, `GET /admin answered ${res.status()}`);
      const csp = res.headers()['content-security-policy'] || '';
      assert(csp.includes("default-src 'none'") && csp.includes("require-trusted-types-for 'script'"),
        `weak CSP: ${csp}`);
      await page.fill('#admin-key', ADMIN);
      await page.click('#key-save');
      await page.locator('#app').waitFor({ state: 'visible' });
    });

    await step('a card of three graphs per channel', async () => {
      for (const ch of ['email', 'sms', 'push', 'webhook']) {
        const card = page.locator(`#charts article[data-channel="${ch}"]`);
        await card.waitFor();
        for (const c of ['rates', 'lag', 'dwell']) {
          assert(await card.locator(`svg[data-chart="${c}"]`).count() === 1, `${ch}: no ${c} graph`);
        }
        for (const s of ['accepted', 'sent', 'failed']) {
          assert(await card.locator(`svg[data-chart="rates"] path[data-series="${s}"]`).count() === 1,
            `${ch}: no ${s} line`);
        }
      }
    });

    await step('the totals are the hour\'s figures', async () => {
      for (const e of EXPECT) {
        await page.waitForFunction(({ channel, kind, n }) => {
          const t = document.querySelector(`#charts article[data-channel="${channel}"] [data-field="totals"]`);
          return t && Number(t.dataset[kind]) >= n;
        }, e, { timeout: TIMEOUT });
      }
    });

    await step('the lines are drawn from the data', async () => {
      const card = page.locator('#charts article[data-channel="webhook"]');
      const d = await card.locator('svg[data-chart="rates"] path[data-series="sent"]').getAttribute('d');
      assert(/^M[\d. ]+(L[\d. ]+)+$/.test(d), `the sent line is not a line: ${d.slice(0, 80)}`);
      const maxSent = await card.locator('svg[data-chart="rates"] path[data-series="sent"]').evaluate(
        (p) => Math.min(...p.getAttribute('d').split(/[ML]/).filter(Boolean).map((xy) => Number(xy.split(' ')[1]))));
      const bottom = await card.locator('svg[data-chart="rates"] line.grid').first().getAttribute('y1');
      assert(maxSent < Number(bottom), 'the sent line never leaves zero');
      const dwell = await card.locator('svg[data-chart="dwell"] path').getAttribute('d');
      assert(dwell && dwell.startsWith('M') && dwell !== 'M0 0', 'no dwell p99 point');
      const lag = await card.locator('svg[data-chart="lag"] path').getAttribute('d');
      assert(lag && lag !== 'M0 0', 'no lag sample');
    });

    await step('the top failure reason of the webhook channel', async () => {
      const cell = page.locator('#reasons [data-channel="webhook"] td[data-field="error"]').first();
      await cell.waitFor();
      const text = await cell.textContent();
      assert(text.includes(REASON), `top reason: ${text}`);
      const n = await page.locator('#reasons [data-channel="webhook"] td[data-field="count"]').first().textContent();
      assert(Number(n) >= 1, `count ${n}`);
    });

    await step('the destinations panel answers (a list, or why there is none)', async () => {
      await page.waitForFunction(() => document.querySelectorAll('#destinations-body tr').length > 0 ||
        !document.querySelector('#destinations-note').hidden);
      const note = await page.locator('#destinations-note').textContent();
      assert(!note.includes('does not list'), `the route is missing: ${note}`);
    });

    if (DESTINATION) {
      await step('the destinations panel lists the open circuit', async () => {
        const row = page.locator(`#destinations-body tr[data-destination="${DESTINATION}"]`);
        await row.waitFor();
        assert(await row.locator('td[data-field="channel"]').textContent() === 'webhook', 'channel');
        assert(await row.locator('td[data-field="state"]').textContent() === 'open', 'state');
        assert(Number(await row.locator('td[data-field="failures"]').textContent()) === 10, 'failures');
      });
    }

    await step('a bad id in the search box is refused with a message', async () => {
      await page.fill('#search-id', 'not-an-id');
      await page.click('#search-go');
      await page.locator('#status[data-kind="error"]').waitFor();
      assert((await page.locator('#status').textContent()).includes('not a notification id'), 'message');
    });

    await step('the search box opens a notification and its attempts', async () => {
      await page.fill('#search-id', SENT_ID.toUpperCase());
      await page.click('#search-go');
      await page.locator('#attempts-section').waitFor({ state: 'visible' });
      await page.waitForFunction((id) => document.querySelector('#attempts-id')?.textContent === id, SENT_ID);
      assert(await page.locator('#attempts-summary dd[data-field="status"]').textContent() === 'sent', 'status');
      await page.locator('#attempts-body tr[data-attempt]').first().waitFor();
      const outcomes = await page.locator('#attempts-body td[data-field="outcome"]').allTextContents();
      assert(outcomes.includes('success'), `outcomes: ${outcomes}`);
    });

    await step('screenshot', async () => {
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.screenshot({ path: join(OUT, 'oncall.png'), fullPage: true });
    });

    report.check('no script errors or CSP violations', problems);
  } finally {
    await close();
  }
  report.finish();
}

runMain(main);

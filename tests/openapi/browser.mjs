// browser: what the page tests (admin_page, oncall_page) share: Debian's
// Chromium, headless through playwright-core, with a throwaway profile, and
// the watch that turns a page's script errors and CSP violations into problems.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// launch: Chromium at executablePath with a fresh profile, viewport and
// extraArgs. Returns { context, close }; close() ends it and deletes the profile.
export async function launch(executablePath, viewport, extraArgs = []) {
  const profile = mkdtempSync(join(tmpdir(), 'herald-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport,
    args: [...ARGS, ...extraArgs],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

// watch: adds to problems each console error of page and each uncaught
// exception, prefixed with label when given. A failed resource load is left
// out: the steps check the requests themselves; anything else (a CSP
// violation, an exception) is a problem.
export function watch(page, problems, label = '') {
  const pre = label ? `${label} ` : '';
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
      problems.push(`${pre}console: ${m.text()}`);
    }
  });
  page.on('pageerror', (e) => problems.push(`${pre}page error: ${e.message}`));
}

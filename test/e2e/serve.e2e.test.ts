// The real app in a real browser: serve mode as a child process, real engine and database, Debian's
// Chromium. Checks backend content on the page, a self-test run end to end, the token rule, that a
// page on another port of 127.0.0.1 can neither read nor write through the user's session, and
// leaves screenshots in test-artifacts/e2e.
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { totalmem } from 'node:os';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBytes } from '../../main/common/format.js';
import { tempHome } from '../helpers/temp-home.js';
import { collectProblems, launchBrowser, screenshot } from './browser.js';
import { startServe, type ServeProcess } from './serve-process.js';

describe('serve mode in Chromium', () => {
  const home = tempHome();
  let serve: ServeProcess;
  let browser: Browser;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    serve = await startServe(home.dir);
    browser = await launchBrowser();
    // A context of its own (not browser.newPage) so that a second page can share its cookies.
    page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    problems = collectProblems(page);
  });
  afterAll(async () => {
    await browser?.close();
    await serve?.stop();
    home.cleanup();
  });

  it('shows real system data from the backend', async () => {
    await page.goto(serve.url);
    await expect.poll(() => page.locator('[data-testid="backends"]').textContent(), { timeout: 30_000 }).toContain('cpu');
    const gpu = (await page.locator('[data-testid="gpu"]').textContent())!.trim();
    // This machine has no GPU: the page must say why, in the engine's words.
    expect(gpu).toMatch(/^no CUDA device: .+/);
    expect(await page.locator('[data-testid="ram"]').textContent()).toContain(formatBytes(totalmem()));
    expect(await page.locator('[data-testid="home"]').textContent()).toContain(home.dir);
    // The token was moved into a cookie and tidied out of the address bar.
    expect(page.url()).not.toContain('token=');
    expect(await page.locator('.connection').textContent()).toContain('Connected');
    await screenshot(page, '01-system');
  });

  it('runs the engine self-test from the page with live progress', async () => {
    await page.getByRole('button', { name: 'Run engine self-test' }).click();
    await expect.poll(() => page.locator('[data-testid="selftest-result"]').textContent(), { timeout: 60_000 }).toMatch(/^\s*Passed: max relative error/);
    expect(await page.locator('[data-testid="selftest-progress"]').textContent()).toMatch(/Step 12 of 12/);
    await screenshot(page, '02-selftest');
  });

  it('lists the run in history, and keeps working after a reload', async () => {
    await page.reload(); // the cookie carries the token now
    await page.getByRole('link', { name: 'Runs' }).click();
    const row = page.locator('[data-testid="run-row"]').first();
    await expect.poll(() => row.textContent(), { timeout: 10_000 }).toContain('succeeded');
    expect(await row.textContent()).toContain('Engine self-test');
    await screenshot(page, '03-runs');
  });

  it('shows the wizard steps, reachable from the keyboard', async () => {
    const steps = page.getByRole('navigation', { name: 'Fine-tuning steps' }).getByRole('link');
    expect(await steps.allTextContents()).toEqual(['1Model', '2Data', '3Method', '4Train', '5Evaluate', '6Export']);
    await steps.first().focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('main h1').textContent()).toBe('Model');
    expect(await page.getByLabel('Model folder').count()).toBe(1);
    await screenshot(page, '04-model-step');
  });

  it('gives a page served on another port of 127.0.0.1 nothing: no read, no write, not even with the cookie', async () => {
    const probe = `${home.dir}/probe.jsonl`;
    writeFileSync(probe, Array.from({ length: 20 }, (_, i) => JSON.stringify({ instruction: `Say ${i}.`, input: '', output: `${i}` })).join('\n') + '\n');
    const other: Server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>another local page</title>'));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      // Same browser context as the app: the session cookie is there for the taking.
      const foreign = await page.context().newPage();
      await foreign.goto(`http://127.0.0.1:${(other.address() as AddressInfo).port}/`);
      const outcome = await foreign.evaluate(
        async ({ target, file }) => {
          const attempt = async (run: () => Promise<string>) => run().catch((e: Error) => `blocked: ${e.message}`);
          const preview = await attempt(async () => {
            const r = await fetch(`${target}/api/data.preview`, { method: 'POST', credentials: 'include', body: JSON.stringify({ file: '/etc/passwd' }) });
            return `${r.status} ${await r.text()}`;
          });
          // no-cors: the response is opaque anyway; the question is whether the server acts on it.
          await attempt(async () => {
            await fetch(`${target}/api/data.import`, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ file }) });
            return 'sent';
          });
          const pageHtml = await attempt(async () => (await fetch(`${target}/`, { credentials: 'include' })).text());
          const socket = await new Promise<{ opened: boolean; messages: string[] }>((resolve) => {
            const result = { opened: false, messages: [] as string[] };
            const ws = new WebSocket(`${target.replace('http', 'ws')}/ws`);
            ws.onopen = () => {
              result.opened = true;
              ws.send(JSON.stringify({ id: 1, method: 'data.preview', params: { file: '/etc/passwd' } }));
            };
            ws.onmessage = (m) => result.messages.push(String(m.data));
            ws.onclose = () => resolve(result);
            setTimeout(() => resolve(result), 3000);
          });
          return { preview, pageHtml, socket };
        },
        { target: serve.origin, file: probe },
      );
      expect(outcome.preview).toMatch(/^blocked/);
      expect(outcome.pageHtml).toMatch(/^blocked/);
      expect(outcome.socket).toEqual({ opened: false, messages: [] });
      // Nothing was written: the import never ran.
      const datasets = await fetch(`${serve.origin}/api/datasets.list`, { method: 'POST', headers: { authorization: `Bearer ${serve.token}` }, body: '{}' });
      expect((await datasets.json()).result.datasets).toEqual([]);
      expect(serve.output()).not.toContain('internal error');
      await foreign.close();
      // The app's own page is untouched and still talks to the server.
      expect(await page.locator('.connection').textContent()).toContain('Connected');
    } finally {
      other.close();
    }
  });

  it('refuses requests without the token', async () => {
    const context = await browser.newContext(); // no cookie
    const bare = await context.newPage();
    const res = await bare.goto(serve.origin + '/');
    expect(res?.status()).toBe(401);
    expect(await bare.textContent('body')).toContain('missing or wrong token');
    const api = await fetch(`${serve.origin}/api/system.info`, { method: 'POST' });
    expect(api.status).toBe(401);
    const cookieOnly = await fetch(`${serve.origin}/api/system.info`, { method: 'POST', headers: { cookie: `tunesmith_token=${serve.token}` } });
    expect(cookieOnly.status).toBe(401);
    await context.close();
  });

  it('saw no console errors or CSP violations, and left screenshots', () => {
    expect(problems).toEqual([]);
    for (const name of ['01-system', '02-selftest', '03-runs', '04-model-step']) {
      const file = `test-artifacts/e2e/${name}.png`;
      expect(existsSync(file), file).toBe(true);
      expect(statSync(file).size).toBeGreaterThan(5000);
    }
  });
});

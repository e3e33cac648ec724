// Serve mode's HTTP and WebSocket doors: the token is required everywhere, the Host header is
// checked, and the API answers through both transports.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createAppContext, type AppContext } from '../../../main/app-context.js';
import type { ApiEventMessage, ApiReply } from '../../../main/api/contract.js';
import { rendererDir, trainerEntry } from '../../../main/paths.js';
import { startServer, type RunningServer } from '../../../main/serve/server.js';
import { forkLauncher } from '../../../main/trainer/launcher.js';
import { tempHome } from '../../helpers/temp-home.js';

function get(url: string, headers: Record<string, string> = {}, method = 'GET', body?: string) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let data = '';
      res.on('data', (c) => (data += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function wsOutcome(url: string, headers: Record<string, string> = {}): Promise<'open' | number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.on('open', () => {
      ws.close();
      resolve('open');
    });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('error', () => resolve(-1));
  });
}

describe('serve mode server', () => {
  let home: ReturnType<typeof tempHome>;
  let ctx: AppContext;
  let server: RunningServer;
  beforeAll(async () => {
    home = tempHome();
    ctx = createAppContext({ home: home.dir, mode: 'serve', launchTrainer: forkLauncher(trainerEntry()) });
    server = await startServer({ ctx, staticDir: rendererDir(), port: 0 });
  });
  afterAll(async () => {
    await server.close();
    ctx.close();
    home.cleanup();
  });

  it('binds to loopback and prints a URL that carries a long random token', () => {
    expect(server.origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.url).toBe(`${server.origin}/?token=${server.token}`);
    expect(server.token.length).toBeGreaterThanOrEqual(40);
  });

  it('refuses pages and API calls without the token', async () => {
    for (const path of ['/', '/index.html', '/api/system.info']) {
      const res = await get(`${server.origin}${path}`, {}, path.startsWith('/api') ? 'POST' : 'GET');
      expect(res.status, path).toBe(401);
      expect(res.body).toContain('missing or wrong token');
    }
    expect((await get(`${server.origin}/?token=${'x'.repeat(server.token.length)}`)).status).toBe(401);
  });

  it('serves the UI with the token, sets the cookie, and sends a strict CSP', async () => {
    const res = await get(server.url);
    expect(res.status).toBe(200);
    expect(res.body).toContain('<div id="app">');
    expect(String(res.headers['set-cookie'])).toMatch(/tunesmith_token=.*HttpOnly; SameSite=Strict/);
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    const cookie = String(res.headers['set-cookie']).split(';')[0]!;
    expect((await get(`${server.origin}/`, { cookie })).status).toBe(200);
  });

  it('refuses a foreign Host header even with the token (DNS rebinding)', async () => {
    const res = await get(server.url, { host: 'evil.example:80' });
    expect(res.status).toBe(403);
  });

  it('answers API calls over HTTP POST with a bearer token', async () => {
    const auth = { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' };
    const ok = await get(`${server.origin}/api/runs.list`, auth, 'POST', '{"limit": 5}');
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({ id: 0, ok: true, result: { runs: [] } });
    const bad = await get(`${server.origin}/api/runs.list`, auth, 'POST', '{"limit": "five"}');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error.message).toContain('params.limit');
    expect((await get(`${server.origin}/api/nope`, auth, 'POST')).status).toBe(404);
  });

  it('accepts WebSockets only with the token and streams job events', async () => {
    const wsBase = server.origin.replace('http', 'ws');
    expect(await wsOutcome(`${wsBase}/ws`)).toBe(401);
    expect(await wsOutcome(`${wsBase}/ws?token=wrong`)).toBe(401);
    expect(await wsOutcome(`${wsBase}/ws?token=${server.token}`, { origin: 'http://evil.example' })).toBe(401);

    const ws = new WebSocket(`${wsBase}/ws?token=${server.token}`);
    await new Promise((r) => ws.once('open', r));
    const messages: (ApiReply | ApiEventMessage)[] = [];
    ws.on('message', (d) => messages.push(JSON.parse(d.toString())));
    ws.send(JSON.stringify({ id: 1, method: 'jobs.start', params: { spec: { kind: 'selftest', rounds: 2, size: 32 } } }));
    await expect
      .poll(() => messages.some((m) => 'event' in m && m.event.type === 'run.state' && m.event.run.state === 'succeeded'), { timeout: 20_000 })
      .toBe(true);
    const reply = messages.find((m): m is ApiReply => 'id' in m && m.id === 1);
    expect(reply).toMatchObject({ ok: true, result: { run: { kind: 'selftest', state: 'running' } } });
    expect(messages.filter((m) => 'event' in m && m.event.type === 'run.progress')).toHaveLength(2);
    ws.close();
  });
});

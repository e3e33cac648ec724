// Serve mode's HTTP and WebSocket doors: the token is required everywhere (in a header or the
// socket's first message for the API, never the cookie alone), Host and Origin must name this server
// exactly, and the API answers through both transports.
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppContext, type AppContext } from '../../../main/app-context.js';
import type { ApiReply } from '../../../main/api/contract.js';
import { rendererDir, trainerEntry } from '../../../main/paths.js';
import { startServer, type RunningServer } from '../../../main/serve/server.js';
import { forkLauncher } from '../../../main/trainer/launcher.js';
import { call, closed, httpRequest as get, openSocket, wsOutcome } from '../../helpers/serve-client.js';
import { tempHome } from '../../helpers/temp-home.js';

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

  const bearer = () => ({ authorization: `Bearer ${server.token}`, 'content-type': 'application/json' });

  it('refuses pages and API calls without the token', async () => {
    for (const path of ['/', '/index.html', '/api/system.info']) {
      const res = await get(`${server.origin}${path}`, {}, path.startsWith('/api') ? 'POST' : 'GET');
      expect(res.status, path).toBe(401);
      expect(res.body).toContain('missing or wrong token');
    }
    expect((await get(`${server.origin}/?token=${'x'.repeat(server.token.length)}`)).status).toBe(401);
  });

  it('serves the UI with the token, sets the cookie, writes the token into the page, and sends a strict CSP', async () => {
    const res = await get(server.url);
    expect(res.status).toBe(200);
    expect(res.body).toContain('<div id="app">');
    expect(res.body).toContain(`<meta name="tunesmith-token" content="${server.token}" />`);
    expect(String(res.headers['set-cookie'])).toMatch(/tunesmith_token=.*HttpOnly; SameSite=Strict/);
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    expect(res.headers['content-security-policy']).not.toContain('unsafe-inline');
    expect(res.headers['cache-control']).toBe('no-store');
    const cookie = String(res.headers['set-cookie']).split(';')[0]!;
    const reload = await get(`${server.origin}/runs`, { cookie });
    expect(reload.status).toBe(200);
    expect(reload.body).toContain(`content="${server.token}"`);
  });

  it('never opens the API with the cookie or the query string alone', async () => {
    const cookie = `tunesmith_token=${server.token}`;
    expect((await get(`${server.origin}/api/runs.list`, { cookie }, 'POST', '{}')).status).toBe(401);
    const query = await get(`${server.origin}/api/runs.list?token=${server.token}`, {}, 'POST', '{}');
    expect(query.status).toBe(401);
    expect(query.body).toContain('Authorization: Bearer');
  });

  it('refuses a foreign Host header even with the token (DNS rebinding), and the right name on the wrong port', async () => {
    expect((await get(server.url, { host: 'evil.example:80' })).status).toBe(403);
    expect((await get(server.url, { host: `127.0.0.1:${server.port + 1}` })).status).toBe(403);
    expect((await get(server.url, { host: `localhost:${server.port}` })).status).toBe(200);
  });

  it('refuses every other origin, other ports of 127.0.0.1 and null included, with the token', async () => {
    const others = ['null', `http://127.0.0.1:${server.port + 1}`, `http://localhost:${server.port + 1}`, 'http://127.0.0.1', `https://127.0.0.1:${server.port}`, 'http://evil.example'];
    for (const origin of others) {
      const api = await get(`${server.origin}/api/runs.list`, { ...bearer(), origin }, 'POST', '{}');
      expect(api.status, origin).toBe(403);
      expect(api.body).toContain('another origin');
      expect(await wsOutcome(`${server.origin.replace('http', 'ws')}/ws`, { origin }), origin).toBe(403);
    }
    for (const origin of [`http://127.0.0.1:${server.port}`, `http://localhost:${server.port}`]) {
      expect((await get(`${server.origin}/api/runs.list`, { ...bearer(), origin }, 'POST', '{}')).status, origin).toBe(200);
      expect(await wsOutcome(`${server.origin.replace('http', 'ws')}/ws`, { origin }), origin).toBe('open');
    }
  });

  it('answers API calls over HTTP POST with a bearer token', async () => {
    const ok = await get(`${server.origin}/api/runs.list`, bearer(), 'POST', '{"limit": 5}');
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({ id: 0, ok: true, result: { runs: [] } });
    const bad = await get(`${server.origin}/api/runs.list`, bearer(), 'POST', '{"limit": "five"}');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error.message).toContain('params.limit');
    expect((await get(`${server.origin}/api/nope`, bearer(), 'POST')).status).toBe(404);
    const big = await get(`${server.origin}/api/runs.list`, bearer(), 'POST', `{"pad": "${'x'.repeat(1 << 20)}"}`);
    expect(big.status).toBe(413);
  });

  it('closes a WebSocket whose first message is not the token, and sends it nothing before', async () => {
    for (const first of ['{"id": 1, "method": "runs.list", "params": {}}', '{"auth": "wrong"}', 'not json', `{"auth": ${JSON.stringify(server.token + 'x')}}`]) {
      const socket = await openSocket(server.origin);
      socket.ws.send(first);
      socket.ws.send(JSON.stringify({ auth: server.token })); // too late: the first message decides
      socket.ws.send(JSON.stringify({ id: 2, method: 'runs.list', params: {} }));
      const close = await closed(socket.ws);
      expect(close.code, first).toBe(1008);
      expect(close.reason).toContain('first message must be {"auth"');
      expect(socket.messages, first).toEqual([]);
    }
  });

  it('closes a WebSocket that does not authenticate in time', async () => {
    const quick = await startServer({ ctx, staticDir: rendererDir(), port: 0, authTimeoutMs: 100 });
    try {
      const socket = await openSocket(quick.origin);
      const started = Date.now();
      const close = await closed(socket.ws);
      expect(close.code).toBe(1008);
      expect(close.reason).toContain('no {"auth": token} message within 100 ms');
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      await quick.close();
    }
  });

  it('streams job events over an authenticated WebSocket', async () => {
    const socket = await openSocket(server.origin, server.token);
    const reply = await call(socket, 1, 'jobs.start', { spec: { kind: 'selftest', rounds: 2, size: 32 } });
    expect(reply).toMatchObject({ ok: true, result: { run: { kind: 'selftest', state: 'running' } } });
    const { messages } = socket;
    await expect
      .poll(() => messages.some((m) => 'event' in m && m.event.type === 'run.state' && m.event.run.state === 'succeeded'), { timeout: 20_000 })
      .toBe(true);
    expect(messages.filter((m) => 'event' in m && m.event.type === 'run.progress')).toHaveLength(2);
    const bad = await call(socket, 2, 'runs.list', { limit: 'five' });
    expect(bad).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    socket.ws.send('{"method": "runs.list"}');
    await expect.poll(() => messages.some((m): m is ApiReply => 'id' in m && m.id === -1)).toBe(true);
    socket.ws.close();
  });
});

describe('serve mode bound to every interface', () => {
  const home = tempHome();
  let ctx: AppContext;
  let server: RunningServer;
  beforeAll(async () => {
    ctx = createAppContext({ home: home.dir, mode: 'serve', launchTrainer: forkLauncher(trainerEntry()) });
    server = await startServer({ ctx, staticDir: rendererDir(), host: '0.0.0.0', port: 0 });
  });
  afterAll(async () => {
    await server.close();
    ctx.close();
    home.cleanup();
  });

  // Traffic goes to 127.0.0.1 only; the Host and Origin headers name what a LAN client would use.
  const lanAddresses = Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((a) => !a.internal && a.family === 'IPv4')
    .map((a) => a.address);

  it('prints a URL a local browser can open', () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/?token=${server.token}`);
  });

  it.skipIf(lanAddresses.length === 0)("answers under the machine's addresses, with the token, and still refuses other names", async () => {
    const lan = lanAddresses[0]!;
    expect(server.hostNames.has(lan)).toBe(true);
    const host = `${lan}:${server.port}`;
    expect((await get(server.url, { host })).status).toBe(200);
    expect((await get(`${server.origin}/`, { host })).status).toBe(401);
    const api = await get(`${server.origin}/api/runs.list`, { host, origin: `http://${host}`, authorization: `Bearer ${server.token}` }, 'POST', '{}');
    expect(api.status).toBe(200);
    expect((await get(server.url, { host: `evil.example:${server.port}` })).status).toBe(403);
    expect((await get(`${server.origin}/api/runs.list`, { host, origin: 'http://evil.example', authorization: `Bearer ${server.token}` }, 'POST', '{}')).status).toBe(403);
  });
});

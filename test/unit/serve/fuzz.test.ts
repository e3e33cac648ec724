// A seeded fuzz of serve mode's doors while it supervises a job: a few hundred malformed HTTP
// requests (before and after the token), WebSocket upgrades and frames (before and after auth, at
// the message level and as raw bytes on the wire). Nothing may escape to the process, nothing may be
// answered with a 5xx, the server must answer afterwards, and the job must keep going throughout.
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppContext, type AppContext } from '../../../main/app-context.js';
import type { ApiEventMessage, ApiReply } from '../../../main/api/contract.js';
import { rendererDir, trainerEntry } from '../../../main/paths.js';
import { startServer, type RunningServer } from '../../../main/serve/server.js';
import { forkLauncher } from '../../../main/trainer/launcher.js';
import { seededRandom } from '../../../main/data/seeded-split.js';
import { call, closed, httpRequest, openSocket, rawExchange, recordEscapedErrors, statusLine } from '../../helpers/serve-client.js';
import { tempHome } from '../../helpers/temp-home.js';

const SEED = 0x7e57;
const HTTP_CASES = 240;
const SOCKET_CASES = 60;
const RAW_FRAME_CASES = 40;


describe('serve mode under a fuzz of malformed requests and frames', () => {
  const home = tempHome();
  let ctx: AppContext;
  let server: RunningServer;
  const logged: string[] = [];
  let runId: number | undefined;
  const random = seededRandom(SEED);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));

  beforeAll(async () => {
    ctx = createAppContext({ home: home.dir, mode: 'serve', launchTrainer: forkLauncher(trainerEntry()) });
    server = await startServer({ ctx, staticDir: rendererDir(), port: 0, log: (m) => logged.push(m) });
  });
  afterAll(async () => {
    // A failed assertion may leave the job running: stop it before the database closes under it.
    if (runId !== undefined && (await ctx.handlers['runs.get']({ id: runId })).run.state === 'running') {
      await ctx.handlers['jobs.cancel']({ runId });
      await expect.poll(async () => (await ctx.handlers['runs.get']({ id: runId! })).run.state, { timeout: 20_000 }).not.toBe('running');
    }
    await server.close();
    ctx.close();
    home.cleanup();
  });

  function fuzzPath(): string {
    return pick([
      () => '/',
      () => '/api/runs.list',
      () => `/api/${bytes(6).toString('hex')}`,
      () => '/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd',
      () => `/${'%'.repeat(1 + Math.floor(random() * 3))}${bytes(1).toString('hex').slice(0, 1)}`,
      () => `/${encodeURIComponent(bytes(8).toString('latin1'))}`,
      () => `/${[...bytes(8)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`,
      () => '/../../../../etc/passwd',
      () => '/assets/%2e%2e/%2e%2e/package.json',
      () => `/${'a/'.repeat(200)}x.js`,
      () => 'http://[bad',
      () => '*',
      () => `//${bytes(4).toString('hex')}@evil.example/`,
      () => '/%00.html',
    ])();
  }

  function fuzzHeaders(authed: boolean): string[] {
    const lines: string[] = [];
    const port = server.port;
    // With the token, mostly the right Host and no Origin, so the fuzz reaches the handlers behind.
    const served = authed && random() < 0.7;
    const host = served ? `127.0.0.1:${port}` : pick([`localhost:${port}`, `127.0.0.1:${port + 1}`, 'evil.example', '[::1', `[${bytes(2).toString('hex')}]:${port}`, '']);
    lines.push(`Host: ${host}`);
    if (!served && random() < 0.5) lines.push(`Origin: ${pick(['null', `http://127.0.0.1:${port}`, `http://127.0.0.1:${port + 1}`, 'http://[bad', 'http://', '', `http://localhost:${port}/path`])}`);
    if (random() < 0.5) lines.push(`Cookie: ${pick(['tunesmith_token=%E0%A4%A', `tunesmith_token=${server.token}`, 'tunesmith_token', '=;;=', `a=${bytes(6).toString('base64')}`])}`);
    if (authed) lines.push(`Authorization: Bearer ${server.token}`);
    else if (random() < 0.3) lines.push(`Authorization: ${pick(['Bearer', 'Bearer ', 'Basic x', `Bearer ${'x'.repeat(43)}`])}`);
    if (random() < 0.2) lines.push(`X-Junk: ${bytes(12).toString('latin1').replace(/[\r\n]/g, ' ')}`);
    return lines;
  }

  function fuzzRequest(authed: boolean): Buffer {
    if (random() < 0.08) return bytes(1 + Math.floor(random() * 64)); // not HTTP at all
    const body = pick(['', '{}', '{"limit": 5}', '{"limit": "x"}', '{', 'null', '[1,2', bytes(32).toString('latin1'), '{"spec": {"kind": "selftest", "rounds": -1}}']);
    // Half of the requests with the token are well formed up to the body, to reach the handlers.
    const requestLine =
      authed && random() < 0.5
        ? pick(['GET / HTTP/1.1', 'GET /runs HTTP/1.1', 'POST /api/runs.list HTTP/1.1', 'POST /api/data.preview HTTP/1.1'])
        : `${pick(['GET', 'POST', 'PUT', 'OPTIONS', 'HEAD', 'BREW', 'G\x01T'])} ${fuzzPath()} HTTP/1.1`;
    const lines = [requestLine, ...fuzzHeaders(authed), 'Connection: close'];
    if (random() < 0.15) lines.push(`Content-Length: ${pick(['-1', 'abc', '99999999999999999999', String(body.length + 10)])}`);
    else lines.push(`Content-Length: ${Buffer.byteLength(body, 'latin1')}`);
    return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'latin1');
  }

  function fuzzMessage(): string | Buffer {
    return pick<() => string | Buffer>([
      () => JSON.stringify({ id: Math.floor(random() * 1000), method: pick(['runs.list', 'data.preview', 'nope', 'jobs.cancel']), params: pick([{}, null, { limit: 'x' }, { path: '/etc/passwd' }, [1]]) }),
      () => JSON.stringify({ auth: pick([server.token, 'x', 5, null]) }),
      () => pick(['null', '[]', '{', '""', '{"id": null}', '1e309', '{"__proto__": {"id": 1}}']),
      () => bytes(1 + Math.floor(random() * 200)),
      () => 'x'.repeat(Math.floor(random() * 4096)),
    ])();
  }

  /** An upgrade done by hand, then bytes that break the framing rules (bad opcodes, RSV bits, unmasked). */
  function rawFrames(): Promise<void> {
    return new Promise((resolve) => {
      const socket = connect(server.port, '127.0.0.1');
      const key = bytes(16).toString('base64');
      const timer = setTimeout(() => socket.destroy(), 1000);
      socket.on('error', () => {});
      socket.on('close', () => {
        clearTimeout(timer);
        resolve();
      });
      let upgraded = false;
      socket.on('data', (d) => {
        if (upgraded) return;
        upgraded = true;
        const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
        expect(d.toString('latin1')).toContain(`Sec-WebSocket-Accept: ${accept}`);
        const frame = pick([
          () => Buffer.concat([Buffer.from([0x80 | Math.floor(random() * 16), 0x80 | 4]), bytes(8)]), // any opcode, masked
          () => Buffer.concat([Buffer.from([0xf1, 0x84]), bytes(8)]), // RSV bits set
          () => Buffer.concat([Buffer.from([0x81, 0x04]), Buffer.from('{"a}')]), // unmasked client frame
          () => Buffer.concat([Buffer.from([0x81, 0xff]), Buffer.from([0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), bytes(4)]), // 2^63 bytes
          () => bytes(1 + Math.floor(random() * 64)),
        ])();
        socket.write(frame);
      });
      socket.write(
        `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
  }

  it('stays up, answers every request with a 4xx or less, and the job it supervises keeps going', async () => {
    const escaped = recordEscapedErrors();
    try {
      const watcher = await openSocket(server.origin, server.token);
      const progress = () => watcher.messages.filter((m): m is ApiEventMessage => 'event' in m && m.event.type === 'run.progress').length;
      const started = await call(watcher, 1, 'jobs.start', { spec: { kind: 'selftest', rounds: 100_000, size: 96 } });
      expect(started.ok).toBe(true);
      runId = ((started as Extract<ApiReply, { ok: true }>).result as { run: { id: number } }).run.id;
      await expect.poll(progress, { timeout: 20_000 }).toBeGreaterThan(0);

      const t0 = Date.now();
      const statuses: string[] = [];
      for (let i = 0; i < HTTP_CASES; i += 8) {
        const batch = Array.from({ length: 8 }, (_, j) => fuzzRequest((i + j) % 2 === 1));
        statuses.push(...(await Promise.all(batch.map((b) => rawExchange(server.port, b, 1000).then(statusLine)))));
      }
      const progressMid = progress();
      for (let i = 0; i < SOCKET_CASES; i++) {
        const socket = await openSocket(server.origin, i % 2 === 1 ? server.token : undefined);
        for (let k = 0; k < 4; k++) socket.ws.send(fuzzMessage(), { binary: random() < 0.3 });
        if (i % 15 === 0) socket.ws.send('x'.repeat((1 << 20) + 1));
        socket.ws.close();
        await closed(socket.ws);
      }
      for (let i = 0; i < RAW_FRAME_CASES; i++) await rawFrames();
      const fuzzMs = Date.now() - t0;

      // Every request got an answer the client could read, and none was a server error.
      const answered = statuses.filter((s) => s.startsWith('HTTP/1.1 '));
      expect(statuses.filter((s) => /^HTTP\/1\.1 5/.test(s))).toEqual([]);
      expect(answered.length).toBeGreaterThan(HTTP_CASES * 0.9);
      expect(answered.filter((s) => s.startsWith('HTTP/1.1 200'))).not.toHaveLength(0); // the fuzz reached real handlers too
      expect(fuzzMs).toBeLessThan(20_000);

      // The job kept reporting through the fuzz and is still running; the server answers.
      expect(progressMid).toBeGreaterThan(0);
      const before = progress();
      await expect.poll(progress, { timeout: 10_000 }).toBeGreaterThan(before);
      const run = await httpRequest(`${server.origin}/api/runs.get`, { authorization: `Bearer ${server.token}` }, 'POST', JSON.stringify({ id: runId }));
      expect(run.status).toBe(200);
      expect(JSON.parse(run.body).result.run.state).toBe('running');
      expect((await call(watcher, 2, 'jobs.cancel', { runId })).ok).toBe(true);
      await expect
        .poll(() => watcher.messages.some((m) => 'event' in m && m.event.type === 'run.state' && m.event.run.state === 'cancelled'), { timeout: 20_000 })
        .toBe(true);
      watcher.ws.close();

      expect(escaped.errors).toEqual([]);
      expect(logged).toEqual([]);
    } finally {
      escaped.stop();
    }
  });
});

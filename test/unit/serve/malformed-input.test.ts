// Input that once ended `tunesmith serve` (and every job it supervised) with an exception thrown out
// of a handler. Each must now get a 4xx or a close with a reason, nothing may escape to the process,
// and the server must answer the next call.
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAppContext, type AppContext } from '../../../main/app-context.js';
import { rendererDir, trainerEntry } from '../../../main/paths.js';
import { startServer, type RunningServer } from '../../../main/serve/server.js';
import { forkLauncher } from '../../../main/trainer/launcher.js';
import { call, closed, httpRequest, openSocket, rawExchange, recordEscapedErrors, statusLine, wsOutcome } from '../../helpers/serve-client.js';
import { tempHome } from '../../helpers/temp-home.js';

describe('serve mode survives malformed input', () => {
  const home = tempHome();
  let ctx: AppContext;
  let server: RunningServer;
  let escaped: ReturnType<typeof recordEscapedErrors>;
  const logged: string[] = [];

  beforeAll(async () => {
    ctx = createAppContext({ home: home.dir, mode: 'serve', launchTrainer: forkLauncher(trainerEntry()) });
    server = await startServer({ ctx, staticDir: rendererDir(), port: 0, log: (m) => logged.push(m) });
  });
  afterAll(async () => {
    await server.close();
    ctx.close();
    home.cleanup();
  });
  beforeEach(() => {
    escaped = recordEscapedErrors();
  });
  afterEach(async () => {
    // Give a thrown error one turn of the event loop to surface before checking.
    await new Promise((r) => setTimeout(r, 20));
    escaped.stop();
    expect(escaped.errors).toEqual([]);
    expect(logged).toEqual([]); // client mistakes are not internal errors
    const still = await httpRequest(`${server.origin}/api/runs.list`, { authorization: `Bearer ${server.token}` }, 'POST', '{}');
    expect(still.status).toBe(200);
  });

  const hostLine = () => `Host: 127.0.0.1:${server.port}\r\n`;

  it('a WebSocket upgrade with Origin: null (a sandboxed iframe, no token needed) gets 403', async () => {
    expect(await wsOutcome(`${server.origin.replace('http', 'ws')}/ws`, { origin: 'null' })).toBe(403);
  });

  it('a cookie that is not valid percent-encoding counts as no token: 401', async () => {
    const res = await httpRequest(`${server.origin}/`, { cookie: 'tunesmith_token=%E0%A4%A' });
    expect(res.status).toBe(401);
  });

  it('a request line whose URL cannot be parsed gets 400', async () => {
    const response = await rawExchange(server.port, `GET http://[bad HTTP/1.1\r\n${hostLine()}Connection: close\r\n\r\n`);
    expect(statusLine(response)).toBe('HTTP/1.1 400 Bad Request');
    expect(response).toContain('the request URL is malformed');
  });

  it('a path that is not valid UTF-8 once decoded (overlong "..") gets 400, with the token', async () => {
    const res = await httpRequest(`${server.origin}/%c0%ae%c0%ae/?token=${server.token}`);
    expect(res.status).toBe(400);
    expect(res.body).toContain('not valid percent-encoded UTF-8');
    expect((await httpRequest(`${server.origin}/%00?token=${server.token}`)).status).toBe(400);
  });

  it('bytes that are not HTTP get 400 from the parser', async () => {
    expect(statusLine(await rawExchange(server.port, '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 not http\r\n\r\n'))).toBe('HTTP/1.1 400 Bad Request');
  });

  it('a WebSocket message over 1 MB (a long paste into the chat) closes that socket with 1009', async () => {
    const socket = await openSocket(server.origin, server.token);
    socket.ws.send('x'.repeat((1 << 20) + 1));
    expect((await closed(socket.ws)).code).toBe(1009);
  });

  it('a text frame that is not UTF-8 closes that socket with 1007, before and after auth', async () => {
    for (const auth of [undefined, server.token]) {
      const socket = await openSocket(server.origin, auth);
      socket.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
      expect((await closed(socket.ws)).code).toBe(1007);
    }
  });

  it('a JSON message that is not a request gets a bad_request reply and the socket stays open', async () => {
    const socket = await openSocket(server.origin, server.token);
    for (const text of ['null', '[]', '"x"', '{"id": "1", "method": 2}', '{']) socket.ws.send(text);
    socket.ws.send(Buffer.from('{"id": 7'), { binary: true });
    await expect.poll(() => socket.messages.length).toBe(6);
    expect(socket.messages.every((m) => 'id' in m && m.id === -1 && !m.ok)).toBe(true);
    expect(await call(socket, 8, 'runs.list')).toMatchObject({ ok: true });
    expect(socket.ws.readyState).toBe(WebSocket.OPEN);
    socket.ws.close();
  });

  it('an upgrade to any path but /ws gets 404, and a body cut short gets 400', async () => {
    expect(await wsOutcome(`${server.origin.replace('http', 'ws')}/elsewhere`)).toBe(404);
    const half = `POST /api/runs.list HTTP/1.1\r\n${hostLine()}Authorization: Bearer ${server.token}\r\nContent-Length: 1000\r\n\r\n{"li`;
    expect(statusLine(await rawExchange(server.port, half))).toBe('HTTP/1.1 400 Bad Request');
  });
});

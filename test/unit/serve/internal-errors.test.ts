// A bug behind a handler (here: a result JSON cannot encode) must neither end the server nor vanish:
// the client gets a 500 or a close with 1011, the serve log gets the stack, and the next call works.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppContext, type AppContext } from '../../../main/app-context.js';
import type { Result } from '../../../main/api/contract.js';
import { rendererDir, trainerEntry } from '../../../main/paths.js';
import { startServer, type RunningServer } from '../../../main/serve/server.js';
import { forkLauncher } from '../../../main/trainer/launcher.js';
import { call, closed, httpRequest, openSocket, recordEscapedErrors } from '../../helpers/serve-client.js';
import { tempHome } from '../../helpers/temp-home.js';

describe('serve mode with a handler bug', () => {
  const home = tempHome();
  let ctx: AppContext;
  let server: RunningServer;
  const logged: string[] = [];

  beforeAll(async () => {
    ctx = createAppContext({ home: home.dir, mode: 'serve', launchTrainer: forkLauncher(trainerEntry()) });
    // JSON.stringify throws on a BigInt: the reply cannot be written after dispatch succeeded.
    const buggy = { ...ctx.handlers, 'runs.list': async () => ({ runs: [1n] }) as unknown as Result<'runs.list'> };
    server = await startServer({ ctx: { ...ctx, handlers: buggy }, staticDir: rendererDir(), port: 0, log: (m) => logged.push(m) });
  });
  afterAll(async () => {
    await server.close();
    ctx.close();
    home.cleanup();
  });

  it('answers 500 over HTTP and closes the WebSocket with 1011, logs both, and keeps serving', async () => {
    const escaped = recordEscapedErrors();
    try {
      const auth = { authorization: `Bearer ${server.token}` };
      const res = await httpRequest(`${server.origin}/api/runs.list`, auth, 'POST', '{}');
      expect(res.status).toBe(500);
      expect(res.body).toContain('internal error');
      const socket = await openSocket(server.origin, server.token);
      socket.ws.send(JSON.stringify({ id: 1, method: 'runs.list', params: {} }));
      expect(await closed(socket.ws)).toEqual({ code: 1011, reason: 'internal error' });
      expect(logged).toHaveLength(2);
      expect(logged[0]).toMatch(/^serve: internal error on POST \/api\/runs\.list: TypeError: Do not know how to serialize a BigInt\n\s+at /);
      expect(logged[1]).toMatch(/^serve: internal error on a WebSocket request: TypeError: Do not know how to serialize a BigInt/);
      expect((await httpRequest(`${server.origin}/api/datasets.list`, auth, 'POST', '{}')).status).toBe(200);
      const again = await openSocket(server.origin, server.token);
      expect(await call(again, 2, 'datasets.list')).toMatchObject({ ok: true });
      again.ws.close();
      await new Promise((r) => setTimeout(r, 20));
      expect(escaped.errors).toEqual([]);
    } finally {
      escaped.stop();
    }
  });
});

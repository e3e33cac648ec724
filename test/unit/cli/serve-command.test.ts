// `tunesmith serve --host 0.0.0.0` as a user runs it: it says who can reach it, that the token is
// then the only guard, and how to tunnel instead; and it answers under this machine's addresses.
// Traffic goes to 127.0.0.1 only; the Host header names what a client on the network would use.
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest } from '../../helpers/serve-client.js';
import { tempHome } from '../../helpers/temp-home.js';
import { startServe, type ServeProcess } from '../../e2e/serve-process.js';

const lanAddress = Object.values(networkInterfaces())
  .flatMap((list) => list ?? [])
  .find((a) => !a.internal && a.family === 'IPv4')?.address;

describe('tunesmith serve --host 0.0.0.0', () => {
  const home = tempHome();
  let serve: ServeProcess;
  beforeAll(async () => {
    serve = await startServe(home.dir, ['--host', '0.0.0.0']);
  });
  afterAll(async () => {
    await serve?.stop();
    home.cleanup();
  });

  it('warns that the token is the only guard and suggests an SSH tunnel, and prints a loopback URL', async () => {
    const port = new URL(serve.url).port;
    expect(serve.origin).toBe(`http://127.0.0.1:${port}`);
    // stderr and stdout are separate pipes: the warning may arrive just after the URL.
    await expect.poll(() => serve.output()).toContain('ssh -L');
    expect(serve.output()).toContain('warning: bound to 0.0.0.0: reachable from other machines as ');
    expect(serve.output()).toContain('the token is then the only guard');
    expect(serve.output()).toContain(`ssh -L ${port}:127.0.0.1:${port}`);
    if (lanAddress) expect(serve.output()).toContain(`http://${lanAddress}:${port}`);
  });

  it.skipIf(!lanAddress)('answers a request that names a network address of this machine, with the token only', async () => {
    const host = `${lanAddress}:${new URL(serve.url).port}`;
    expect((await httpRequest(serve.url, { host })).status).toBe(200);
    expect((await httpRequest(`${serve.origin}/api/runs.list`, { host }, 'POST', '{}')).status).toBe(401);
    expect((await httpRequest(`${serve.origin}/api/runs.list`, { host, authorization: `Bearer ${serve.token}` }, 'POST', '{}')).status).toBe(200);
  });
});

// Serve mode: the same UI and API as the Electron app, over HTTP + WebSocket, for a headless GPU box
// and for end-to-end tests in a real browser. Binds 127.0.0.1 by default; every request must carry
// the per-launch token.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AppContext } from '../app-context.js';
import type { ApiEventMessage, ApiRequest } from '../api/contract.js';
import { dispatch } from '../api/dispatch.js';
import { serveStatic } from './static-files.js';
import { hostAllowed, newToken, TOKEN_COOKIE, tokenFromRequest, tokensMatch } from './token.js';

/** The page may talk only to this server; no inline script; nothing from elsewhere. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

const securityHeaders = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const MAX_BODY_BYTES = 1 << 20;

export interface ServeOptions {
  ctx: AppContext;
  staticDir: string;
  host?: string;
  port?: number;
  token?: string;
}

export interface RunningServer {
  url: string; // with the token: what the user opens
  origin: string;
  token: string;
  close(): Promise<void>;
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const { ctx, staticDir } = options;
  const host = options.host ?? '127.0.0.1';
  const token = options.token ?? newToken();
  const allowedHosts = new Set(['127.0.0.1', 'localhost', '::1', host.toLowerCase()]);

  const refuse = (res: ServerResponse, status: number, message: string): void => {
    res.writeHead(status, { ...securityHeaders, 'content-type': 'text/plain; charset=utf-8' }).end(message);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://placeholder');
    if (!hostAllowed(req.headers.host, allowedHosts)) return refuse(res, 403, 'Tunesmith: unexpected Host header');
    if (!tokensMatch(token, tokenFromRequest(req, url))) {
      return refuse(res, 401, 'Tunesmith: missing or wrong token. Open the URL that "tunesmith serve" printed.');
    }
    if (url.pathname.startsWith('/api/')) return void handleHttpApi(req, res, url.pathname.slice('/api/'.length));
    const headers: Record<string, string> = { ...securityHeaders };
    // The token came in the URL: keep it in a cookie so the page's own requests (assets, WebSocket,
    // reloads after the URL is tidied) carry it without exposing it again.
    if (url.searchParams.has('token')) {
      headers['set-cookie'] = `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`;
    }
    serveStatic(staticDir, url.pathname, res, headers);
  });

  async function handleHttpApi(req: IncomingMessage, res: ServerResponse, method: string): Promise<void> {
    if (req.method !== 'POST') return refuse(res, 405, 'use POST with a JSON body');
    let size = 0;
    const chunks: Buffer[] = [];
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) return refuse(res, 413, 'request body too large');
      chunks.push(chunk as Buffer);
    }
    let params: unknown = {};
    if (size > 0) {
      try {
        params = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch (err) {
        return refuse(res, 400, `request body is not JSON: ${(err as Error).message}`);
      }
    }
    const reply = await dispatch(ctx.handlers, 0, method, params);
    res.writeHead(reply.ok ? 200 : reply.error.code === 'unknown_method' || reply.error.code === 'not_found' ? 404 : 400, {
      ...securityHeaders,
      'content-type': 'application/json',
    });
    res.end(JSON.stringify(reply));
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_BODY_BYTES });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://placeholder');
    const origin = req.headers.origin;
    const originOk = !origin || hostAllowed(new URL(origin).host, allowedHosts);
    if (url.pathname !== '/ws' || !hostAllowed(req.headers.host, allowedHosts) || !originOk || !tokensMatch(token, tokenFromRequest(req, url))) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws));
  });

  function onConnection(ws: WebSocket): void {
    const unsubscribe = ctx.hub.subscribe((event) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ event } satisfies ApiEventMessage));
    });
    ws.on('close', unsubscribe);
    ws.on('message', async (data) => {
      let request: ApiRequest;
      try {
        request = JSON.parse(data.toString()) as ApiRequest;
        if (typeof request.id !== 'number' || typeof request.method !== 'string') throw new Error('expected {id: number, method: string, params}');
      } catch (err) {
        ws.send(JSON.stringify({ id: -1, ok: false, error: { code: 'bad_request', message: `bad request message: ${(err as Error).message}` } }));
        return;
      }
      const reply = await dispatch(ctx.handlers, request.id, request.method, request.params);
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(reply));
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const hostForUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const origin = `http://${hostForUrl}:${address.port}`;
  return {
    url: `${origin}/?token=${token}`,
    origin,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

// Serve mode: the same UI and API as the Electron app, over HTTP + WebSocket, for a headless GPU box
// and for end-to-end tests in a real browser. Binds 127.0.0.1 by default. The Host and Origin must
// name this server exactly; the API takes the per-launch token only in a header (HTTP) or the first
// message (WebSocket); the cookie opens nothing but the UI's own files. Every handler answers or
// closes with a reason: nothing a client sends can end the process and the jobs it supervises.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { AppContext } from '../app-context.js';
import { dispatch } from '../api/dispatch.js';
import { hostHeaderAllowed, isWildcardBind, originAllowed, originOf, servedHostNames } from './origins.js';
import { serveStatic } from './static-files.js';
import { bearerToken, newToken, pageToken, TOKEN_COOKIE, tokensMatch } from './token.js';
import { runWsSession } from './ws-session.js';

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
const DEFAULT_AUTH_TIMEOUT_MS = 5000;
const WRONG_TOKEN = 'Tunesmith: missing or wrong token. Open the URL that "tunesmith serve" printed.';

export interface ServeOptions {
  ctx: AppContext;
  staticDir: string;
  host?: string;
  port?: number;
  token?: string;
  /** How long a new WebSocket may take to send its auth message. */
  authTimeoutMs?: number;
  /** Where internal errors go (bugs, never a client's bad input); stderr by default. */
  log?: (message: string) => void;
}

export interface RunningServer {
  url: string; // with the token: what the user opens
  origin: string;
  token: string;
  /** Every name the server answers to (Host and Origin); more than loopback on a network bind. */
  hostNames: Set<string>;
  port: number;
  close(): Promise<void>;
}

function describeError(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

function parseRequestUrl(raw: string | undefined): URL | null {
  try {
    return new URL(raw ?? '/', 'http://placeholder');
  } catch {
    return null;
  }
}

function refuseUpgrade(socket: Duplex, status: string, reason: string): void {
  const body = `${reason}\n`;
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const { ctx, staticDir } = options;
  const host = options.host ?? '127.0.0.1';
  const token = options.token ?? newToken();
  const log = options.log ?? ((message: string) => console.error(message));
  const hostNames = servedHostNames(host);
  let port = 0; // known once listening; no request arrives before

  const refuse = (res: ServerResponse, status: number, message: string): void => {
    if (res.headersSent) return void res.destroy();
    res.writeHead(status, { ...securityHeaders, 'content-type': 'text/plain; charset=utf-8' }).end(message);
  };

  /** Host, then Origin: the reason to refuse, or null. */
  const wrongPlace = (req: IncomingMessage): string | null => {
    if (!hostHeaderAllowed(req.headers.host, hostNames, port)) return 'Tunesmith: unexpected Host header';
    if (!originAllowed(req.headers.origin, hostNames, port)) return 'Tunesmith: requests from another origin are refused';
    return null;
  };

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = parseRequestUrl(req.url);
    if (!url) return refuse(res, 400, 'Tunesmith: the request URL is malformed');
    const place = wrongPlace(req);
    if (place) return refuse(res, 403, place);
    if (url.pathname.startsWith('/api/')) {
      if (!tokensMatch(token, bearerToken(req))) return refuse(res, 401, `${WRONG_TOKEN} API calls need the header "Authorization: Bearer <token>".`);
      handleHttpApi(req, res, url.pathname.slice('/api/'.length)).catch((err: unknown) => {
        // dispatch answers every handler error itself: reaching here is a bug, so say so loudly.
        log(`serve: internal error on ${req.method} ${url.pathname}: ${describeError(err)}`);
        refuse(res, 500, 'Tunesmith: internal error (see the serve log)');
      });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(res, 405, 'Tunesmith: the UI files take GET');
    if (!tokensMatch(token, pageToken(req, url))) return refuse(res, 401, WRONG_TOKEN);
    const headers: Record<string, string> = { ...securityHeaders };
    // The token came in the URL: keep it in a cookie so the page's own loads (assets, reloads after
    // the URL is tidied) carry it without exposing it again. The cookie never opens the API.
    if (url.searchParams.has('token')) {
      headers['set-cookie'] = `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`;
    }
    serveStatic(staticDir, url.pathname, res, headers, token);
  }

  async function handleHttpApi(req: IncomingMessage, res: ServerResponse, method: string): Promise<void> {
    if (req.method !== 'POST') return refuse(res, 405, 'use POST with a JSON body');
    let size = 0;
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size > MAX_BODY_BYTES) return refuse(res, 413, `request body too large (over ${MAX_BODY_BYTES} bytes)`);
        chunks.push(chunk as Buffer);
      }
    } catch {
      return void res.destroy(); // the client went away mid-body: nobody to answer
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
    const body = JSON.stringify(reply); // before the head: if this throws, a 500 can still be sent
    if (res.destroyed) return;
    res.writeHead(reply.ok ? 200 : reply.error.code === 'unknown_method' || reply.error.code === 'not_found' ? 404 : 400, {
      ...securityHeaders,
      'content-type': 'application/json',
    });
    res.end(body);
  }

  const server = createServer((req, res) => {
    try {
      onRequest(req, res);
    } catch (err) {
      log(`serve: internal error on ${req.method} ${req.url}: ${describeError(err)}`);
      refuse(res, 500, 'Tunesmith: internal error (see the serve log)');
    }
  });

  // A request Node cannot even parse (a bad request line, bad headers): answer 400 where the socket
  // still takes writes, else drop it.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_BODY_BYTES });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => socket.destroy()); // a reset during the handshake is the client's business
    try {
      const url = parseRequestUrl(req.url);
      if (!url || url.pathname !== '/ws') return refuseUpgrade(socket, '404 Not Found', 'Tunesmith: the WebSocket is at /ws');
      const place = wrongPlace(req);
      if (place) return refuseUpgrade(socket, '403 Forbidden', place);
      wss.handleUpgrade(req, socket, head, (ws) =>
        runWsSession(ws, { token, hub: ctx.hub, handlers: ctx.handlers, authTimeoutMs: options.authTimeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS, log }),
      );
    } catch (err) {
      log(`serve: internal error on a WebSocket upgrade: ${describeError(err)}`);
      socket.destroy();
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  port = address.port;
  // A wildcard bind is reachable on loopback too: print the address a local browser can open.
  const localName = isWildcardBind(host) ? (address.family === 'IPv6' ? '::1' : '127.0.0.1') : address.address;
  const origin = originOf(localName, port);
  return {
    url: `${origin}/?token=${token}`,
    origin,
    token,
    hostNames,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

// Clients for serve mode's tests: plain HTTP, raw bytes on a TCP socket (requests Node's own client
// refuses to send), and WebSockets that authenticate with the first message. Also a recorder of
// errors that escape to the process, which is how a crash of the server shows inside the test.
import { request } from 'node:http';
import { connect } from 'node:net';
import WebSocket from 'ws';
import type { ApiEventMessage, ApiReply } from '../../main/api/contract.js';

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function httpRequest(url: string, headers: Record<string, string> = {}, method = 'GET', body?: string): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let data = '';
      res.on('data', (c) => (data += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Writes bytes as they are and returns whatever comes back before the server closes or `ms` pass. */
export function rawExchange(port: number, bytes: string | Buffer, ms = 2000): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const timer = setTimeout(done, ms);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', done);
    socket.on('close', done);
    socket.end(bytes);
  });
}

/** The status line of a raw HTTP response, e.g. "HTTP/1.1 400 Bad Request". */
export function statusLine(response: string): string {
  return response.split('\r\n')[0] ?? '';
}

export type WsOutcome = 'open' | number;

/** Whether the handshake succeeds ('open'), or the HTTP status that refused it (-1: no answer). */
export function wsOutcome(url: string, headers: Record<string, string> = {}): Promise<WsOutcome> {
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

export interface WsClose {
  code: number;
  reason: string;
}

export function closed(ws: WebSocket): Promise<WsClose> {
  return new Promise((resolve) => {
    if (ws.readyState === ws.CLOSED) return resolve({ code: 1006, reason: '' });
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
}

/** A WebSocket to `origin`/ws, collecting every message; `auth` is sent first when given. */
export async function openSocket(origin: string, auth?: string): Promise<{ ws: WebSocket; messages: (ApiReply | ApiEventMessage)[] }> {
  const ws = new WebSocket(`${origin.replace('http', 'ws')}/ws`);
  ws.on('error', () => {}); // a test that makes the server close the socket reads the close instead
  const messages: (ApiReply | ApiEventMessage)[] = [];
  ws.on('message', (d) => messages.push(JSON.parse(d.toString())));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', () => reject(new Error('the WebSocket handshake was refused')));
  });
  if (auth !== undefined) ws.send(JSON.stringify({ auth }));
  return { ws, messages };
}

/** Sends a request on an authenticated socket and waits for its reply. */
export async function call(socket: { ws: WebSocket; messages: (ApiReply | ApiEventMessage)[] }, id: number, method: string, params: unknown = {}): Promise<ApiReply> {
  socket.ws.send(JSON.stringify({ id, method, params }));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const reply = socket.messages.find((m): m is ApiReply => 'id' in m && m.id === id);
    if (reply) return reply;
    if (Date.now() > deadline) throw new Error(`no reply to ${method} (id ${id}) within 10 s`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Errors that reach the process (an exception thrown out of a handler, a rejected promise nobody
 * handles): in `tunesmith serve` each of these would end the server and every job it supervises.
 */
export function recordEscapedErrors(): { errors: unknown[]; stop(): void } {
  const errors: unknown[] = [];
  const onError = (err: unknown) => errors.push(err);
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  return {
    errors,
    stop() {
      process.off('uncaughtException', onError);
      process.off('unhandledRejection', onError);
    },
  };
}

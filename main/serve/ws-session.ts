// One client on serve mode's WebSocket. The socket is opened without credentials (a browser cannot
// put headers on it); the first message must be {"auth": "<token>"} within a few seconds, and
// nothing (no reply, no event) goes out before it. Every frame a client can send gets a reply or a
// close with a reason, never an exception out of the process.
import type { WebSocket } from 'ws';
import type { ApiAuthMessage, ApiEventMessage, ApiReply, ApiRequest } from '../api/contract.js';
import { dispatch, type Handlers } from '../api/dispatch.js';
import type { EventHub } from '../api/event-hub.js';
import { tokensMatch } from './token.js';

/** Close code for a client that broke the protocol's rules (RFC 6455 policy violation). */
export const CLOSE_POLICY = 1008;
const CLOSE_INTERNAL = 1011;

export interface WsSessionOptions {
  token: string;
  hub: EventHub;
  handlers: Handlers;
  authTimeoutMs: number;
  log: (message: string) => void;
}

function badRequest(message: string): ApiReply {
  return { id: -1, ok: false, error: { code: 'bad_request', message } };
}

function parseRequest(text: string): ApiRequest | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return `bad request message: not JSON (${(err as Error).message})`;
  }
  const r = value as Partial<ApiRequest> | null;
  if (typeof r !== 'object' || r === null || typeof r.id !== 'number' || typeof r.method !== 'string') {
    return 'bad request message: expected {id: number, method: string, params}';
  }
  return r as ApiRequest;
}

function authToken(text: string): string | null {
  try {
    const m = JSON.parse(text) as Partial<ApiAuthMessage> | null;
    return typeof m === 'object' && m !== null && typeof m.auth === 'string' ? m.auth : null;
  } catch {
    return null;
  }
}

export function runWsSession(ws: WebSocket, options: WsSessionOptions): void {
  const { token, hub, handlers, log } = options;
  let unsubscribe: (() => void) | null = null;
  const send = (message: ApiReply | ApiEventMessage): void => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
  };
  const authTimer = setTimeout(
    () => ws.close(CLOSE_POLICY, `no {"auth": token} message within ${options.authTimeoutMs} ms`),
    options.authTimeoutMs,
  );

  // ws reports frames it refuses (over the size limit, text that is not UTF-8, bad opcodes) here and
  // closes the socket with the matching code itself; without a listener the error would be thrown.
  ws.on('error', () => {});
  ws.on('close', () => {
    clearTimeout(authTimer);
    unsubscribe?.();
  });

  async function onRequest(text: string): Promise<void> {
    const request = parseRequest(text);
    if (typeof request === 'string') return send(badRequest(request));
    send(await dispatch(handlers, request.id, request.method, request.params));
  }

  ws.on('message', (data) => {
    if (ws.readyState !== ws.OPEN) return; // closing: frames already on the wire are dropped
    const text = data.toString();
    if (!unsubscribe) {
      clearTimeout(authTimer);
      if (!tokensMatch(token, authToken(text))) {
        ws.close(CLOSE_POLICY, 'the first message must be {"auth": "<token>"} with the token serve printed');
        return;
      }
      unsubscribe = hub.subscribe((event) => send({ event }));
      return;
    }
    onRequest(text).catch((err: unknown) => {
      // dispatch answers every handler error itself: reaching here is a bug, so say so loudly.
      log(`serve: internal error on a WebSocket request: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      ws.close(CLOSE_INTERNAL, 'internal error');
    });
  });
}

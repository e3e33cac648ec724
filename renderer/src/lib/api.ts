// The renderer's side of the API contract. In Electron the preload bridge carries requests over
// IPC; in serve mode a WebSocket to the same origin does, and its first message is the token, which
// the server wrote into this page's HTML (a page on another origin cannot read it). Pages see only
// ApiClient, whichever transport is underneath.
import type { ApiAuthMessage, ApiClient, ApiEvent, ApiEventMessage, ApiReply, MethodName, Params, Result } from '../../../main/api/contract';

interface PreloadBridge {
  request(method: string, params: unknown): Promise<ApiReply>;
  onEvent(listener: (event: ApiEvent) => void): () => void;
  /** Electron only: the native folder dialog; null when the user cancels. */
  pickFolder?: () => Promise<string | null>;
}

declare global {
  interface Window {
    tunesmith?: PreloadBridge;
  }
}

export class ApiCallError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function unwrap(reply: ApiReply): unknown {
  if (reply.ok) return reply.result;
  throw new ApiCallError(reply.error.code, reply.error.message);
}

function bridgeClient(bridge: PreloadBridge): ApiClient {
  return {
    call: async <M extends MethodName>(method: M, params: Params<M>) => unwrap(await bridge.request(method, params)) as Result<M>,
    onEvent: (listener) => bridge.onEvent(listener),
  };
}

export type ConnectionState = 'connecting' | 'open' | 'closed';

/** Same name as TOKEN_META_NAME in main/serve/static-files.ts. */
const TOKEN_META = 'meta[name="tunesmith-token"]';

function webSocketClient(onState: (s: ConnectionState) => void): ApiClient {
  const token = document.querySelector<HTMLMetaElement>(TOKEN_META)?.content ?? '';
  if (new URLSearchParams(location.search).has('token')) {
    // The server has set a cookie from it (for reloads); tidy the address bar so the token is not
    // left on screen.
    history.replaceState(null, '', location.pathname + location.hash);
  }
  const listeners = new Set<(e: ApiEvent) => void>();
  const pending = new Map<number, { resolve: (r: ApiReply) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let socket: WebSocket;
  let opened: Promise<void>;
  let retryMs = 250;

  function open(): void {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    socket = new WebSocket(`${scheme}://${location.host}/ws`);
    onState('connecting');
    opened = new Promise((resolve, reject) => {
      socket.addEventListener('open', () => {
        socket.send(JSON.stringify({ auth: token } satisfies ApiAuthMessage));
        retryMs = 250;
        onState('open');
        resolve();
      });
      socket.addEventListener('error', () => reject(new Error('cannot reach the Tunesmith server')));
    });
    opened.catch(() => {});
    socket.addEventListener('message', (msg) => {
      const data = JSON.parse(String(msg.data)) as ApiReply | ApiEventMessage;
      if ('event' in data) for (const l of listeners) l(data.event);
      else pending.get(data.id)?.resolve(data), pending.delete(data.id);
    });
    socket.addEventListener('close', () => {
      onState('closed');
      for (const p of pending.values()) p.reject(new Error('connection to the Tunesmith server closed'));
      pending.clear();
      setTimeout(open, retryMs);
      retryMs = Math.min(retryMs * 2, 5000);
    });
  }
  open();

  return {
    async call<M extends MethodName>(method: M, params: Params<M>): Promise<Result<M>> {
      await opened;
      const id = nextId++;
      const reply = await new Promise<ApiReply>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        socket.send(JSON.stringify({ id, method, params }));
      });
      return unwrap(reply) as Result<M>;
    },
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

export function connectApi(onState: (s: ConnectionState) => void = () => {}): ApiClient {
  if (window.tunesmith) {
    onState('open');
    return bridgeClient(window.tunesmith);
  }
  return webSocketClient(onState);
}

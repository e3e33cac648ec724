// The per-launch secret of serve mode. Anyone who can reach the port but was not handed the printed
// URL (another local user, a web page on another origin) is refused. The API takes the token only
// from a header or the WebSocket's first message, never from the cookie alone: a browser attaches
// cookies to requests other pages make, but no page can set another origin's headers or messages.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const TOKEN_COOKIE = 'tunesmith_token';

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export function tokensMatch(expected: string, given: string | null | undefined): boolean {
  if (!given) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `Authorization: Bearer <token>`: what every HTTP API call must carry. */
export function bearerToken(req: IncomingMessage): string | null {
  const auth = req.headers.authorization;
  return auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length).trim() : null;
}

/**
 * The token that may open the UI's own files: `?token=` on the first visit, the cookie set then on
 * later ones (after the page tidied the address bar, on reload), or the bearer header.
 */
export function pageToken(req: IncomingMessage, url: URL): string | null {
  return url.searchParams.get('token') || bearerToken(req) || cookieValue(req.headers.cookie, TOKEN_COOKIE);
}

/** One cookie's value; a value that is not valid percent-encoding counts as absent. */
export function cookieValue(header: string | undefined, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    try {
      return decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      return null;
    }
  }
  return null;
}

// Serves the built renderer. Paths are resolved inside the root (no ../ escapes); unknown paths
// that look like app routes fall back to index.html. The page's HTML carries the token in a meta tag
// so its script can authenticate the API: only a request that already holds the token gets here, and
// a page on another origin cannot read the response.
import { createReadStream, readFile, stat } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { pipeline } from 'node:stream';

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

/** The meta tag the renderer reads its API token from (renderer/src/lib/api.ts). */
export const TOKEN_META_NAME = 'tunesmith-token';

function plain(res: ServerResponse, headers: Record<string, string>, status: number, message: string): void {
  res.writeHead(status, { ...headers, 'content-type': 'text/plain; charset=utf-8' }).end(message);
}

/** The file a URL path names inside root, or why there is none. */
export function resolveInside(root: string, pathname: string): { file: string; rel: string } | { error: string } {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return { error: `bad path: ${pathname} is not valid percent-encoded UTF-8` };
  }
  if (decoded.includes('\0')) return { error: 'bad path: it contains a NUL byte' };
  const rel = normalize(decoded).replace(/^([\\/])+/, '');
  const file = join(root, rel);
  if (!file.startsWith(root + sep) && file !== root) return { error: 'bad path: it leads outside the app folder' };
  return { file, rel };
}

function withTokenMeta(html: string, token: string): string {
  const meta = `<meta name="${TOKEN_META_NAME}" content="${token.replace(/[^A-Za-z0-9_-]/g, '')}" />`;
  return html.includes('</head>') ? html.replace('</head>', `    ${meta}\n  </head>`) : meta + html;
}

export function serveStatic(root: string, pathname: string, res: ServerResponse, headers: Record<string, string>, token: string): void {
  const resolved = resolveInside(root, pathname);
  if ('error' in resolved) return plain(res, headers, 400, resolved.error);
  const send = (file: string): void => {
    const type = contentTypes[extname(file)] ?? 'application/octet-stream';
    if (extname(file) === '.html') {
      readFile(file, 'utf8', (err, html) => {
        if (err) return plain(res, headers, 500, `cannot read ${file}: ${err.message}`);
        res.writeHead(200, { ...headers, 'content-type': type, 'cache-control': 'no-store' }).end(withTokenMeta(html, token));
      });
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': type, 'cache-control': 'public, max-age=31536000, immutable' });
    // A read error after the head is sent can only cut the response short.
    pipeline(createReadStream(file), res, () => {});
  };
  stat(resolved.file, (err, st) => {
    if (!err && st.isFile()) return send(resolved.file);
    if (extname(resolved.rel)) return plain(res, headers, 404, `not found: ${pathname}`);
    const index = join(root, 'index.html');
    stat(index, (indexErr) => {
      if (indexErr) return plain(res, headers, 500, `the UI is not built (${index} is missing): run "npm run build"`);
      send(index);
    });
  });
}

// Serves the built renderer. Paths are resolved inside the root (no ../ escapes); unknown paths
// that look like app routes fall back to index.html.
import { createReadStream, existsSync, statSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';

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

export function serveStatic(root: string, pathname: string, res: ServerResponse, headers: Record<string, string>): void {
  const rel = normalize(decodeURIComponent(pathname)).replace(/^([\\/])+/, '');
  let file = join(root, rel);
  if (!file.startsWith(root + sep) && file !== root) {
    res.writeHead(400, { 'content-type': 'text/plain' }).end('bad path');
    return;
  }
  if (!existsSync(file) || statSync(file).isDirectory()) {
    if (extname(rel)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${pathname}`);
      return;
    }
    file = join(root, 'index.html');
  }
  if (!existsSync(file)) {
    res.writeHead(500, { 'content-type': 'text/plain' }).end(`the UI is not built (${file} is missing): run "npm run build"`);
    return;
  }
  res.writeHead(200, {
    ...headers,
    'content-type': contentTypes[extname(file)] ?? 'application/octet-stream',
    'cache-control': extname(file) === '.html' ? 'no-store' : 'public, max-age=31536000, immutable',
  });
  createReadStream(file).pipe(res);
}

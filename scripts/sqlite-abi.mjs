// better-sqlite3 is a classic (non-N-API) addon: it must be compiled for the runtime that loads it,
// Node (CLI, serve mode, tests) or Electron (the desktop app). This keeps a stamp of which one the
// current build is for and rebuilds only when switching.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stamp = join(root, 'node_modules', 'better-sqlite3', 'build', 'tunesmith-runtime.txt');

function run(command, args) {
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

export function currentRuntime() {
  return existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : `node-${process.versions.modules}`;
}

/** target: "node" (this Node's ABI) or "electron". */
export function ensureSqliteFor(target) {
  const wanted = target === 'node' ? `node-${process.versions.modules}` : 'electron';
  if (currentRuntime() === wanted) return;
  console.log(`tunesmith: rebuilding better-sqlite3 for ${target}`);
  if (target === 'node') run('npm', ['rebuild', 'better-sqlite3']);
  else run('npx', ['electron-builder', 'install-app-deps']);
  writeFileSync(stamp, wanted);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) ensureSqliteFor(process.argv[2] ?? 'node');

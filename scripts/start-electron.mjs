// `npm start`: the desktop app. Builds what is missing, makes sure better-sqlite3 matches Electron,
// then opens the window. Extra arguments pass through (e.g. npm start -- --home /data/tunesmith).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureSqliteFor } from './sqlite-abi.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

let electronBinary;
try {
  electronBinary = require('electron'); // the path of the downloaded Electron binary
} catch (err) {
  console.error(`tunesmith: Electron is not installed (${err.message}).`);
  console.error('Run "npm install" with network access (Electron downloads its binary then), or use "npm run serve" to open the app in a browser.');
  process.exit(1);
}

if (!existsSync(join(root, 'dist', 'main', 'electron', 'main.js')) || !existsSync(join(root, 'dist', 'renderer', 'index.html'))) {
  const r = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
ensureSqliteFor('electron');

const child = spawn(electronBinary, [root, ...process.argv.slice(2)], { stdio: 'inherit' });
child.on('exit', (code) => process.exit(code ?? 0));

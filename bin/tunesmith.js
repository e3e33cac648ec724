#!/usr/bin/env node
// The `tunesmith` command. The CLI itself is TypeScript compiled to dist/ by `npm run build`
// (which `npm install` runs).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/main/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  console.error('tunesmith: not built yet (dist/ is missing): run "npm install" or "npm run build" in the Tunesmith folder');
  process.exit(1);
}
const { runCli } = await import(entry.href);
process.exitCode = await runCli(process.argv.slice(2));

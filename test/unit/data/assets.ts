// Where the shared real-data assets live: TUNESMITH_ASSETS, or ../shared/assets beside the repo.
// They are never copied into the repository; tests that need them skip, saying why, when absent.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export const assetsDir = process.env['TUNESMITH_ASSETS'] ?? resolve(repoRoot, '../shared/assets');
export const haveAssets = existsSync(join(assetsDir, 'data')) && existsSync(join(assetsDir, 'models'));
export const assetsSkipReason = `shared assets not found at ${assetsDir} (set TUNESMITH_ASSETS); skipping tests on real files`;

export function asset(...parts: string[]): string {
  return join(assetsDir, ...parts);
}

if (!haveAssets) console.warn(assetsSkipReason);

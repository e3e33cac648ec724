// The shared test models and data beside the project (../shared/assets, or $TUNESMITH_ASSETS).
// Tests that need them skip with a message where they are absent (a user's fresh clone); CI has them.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { packageRoot } from '../../main/paths.js';

export const assetsDir = resolve(process.env.TUNESMITH_ASSETS || join(packageRoot(), '..', 'shared', 'assets'));
export const haveAssets = existsSync(join(assetsDir, 'models', 'stories260K-hf', 'config.json'));
export const stories260K = join(assetsDir, 'models', 'stories260K-hf');

if (!haveAssets) console.warn(`shared test assets not found at ${assetsDir}: tests that need them are skipped`);

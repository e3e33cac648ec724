// Writing an output folder (a trained model, an adapter, an export) whole: into a hidden staging
// sibling named after the writing process (`.<name>.partial-<pid>`), renamed into place once
// complete, so a killed writer never leaves a half-written folder under the final name. What a
// killed writer does leave — its staging folder, or `.tmp` files — is cleared by the next write to
// the same folder instead of blocking it.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/** Temporary names the engine and the JSON writer use inside a folder: `X.tmp`, `X.tmp-<pid>`. */
const TEMPORARY_FILE = /\.tmp(-\d+)?$/;

function stagingPrefix(out: string): string {
  return `.${basename(out)}.partial-`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}

/** Removes staging folders for `out` left by processes that are gone (a live writer's is left alone). */
export function removeStaleStaging(out: string): void {
  const parent = dirname(out);
  if (!existsSync(parent)) return;
  const prefix = stagingPrefix(out);
  for (const name of readdirSync(parent)) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length));
    if (!Number.isInteger(pid) || pid === process.pid || !processAlive(pid)) rmSync(join(parent, name), { recursive: true, force: true });
  }
}

/**
 * Refuses an output folder that already holds something (a new result never overwrites an old one),
 * unless all it holds are temporaries of a killed write: those are removed.
 */
export function checkOutputFolder(out: string, what = 'output folder'): void {
  if (!existsSync(out)) return;
  const entries = readdirSync(out);
  if (entries.length === 0) return;
  if (!entries.every((name) => TEMPORARY_FILE.test(name))) throw new Error(`the ${what} ${out} already exists and is not empty: choose a new folder`);
  for (const name of entries) rmSync(join(out, name), { recursive: true, force: true });
}

/**
 * Runs `write` on a fresh staging folder and renames it to `out`. `out` must be new or empty (see
 * checkOutputFolder) unless `replace` is set, when a complete earlier result is replaced. On failure
 * the staging folder is removed and `out` is as it was.
 */
export async function writeFolderStaged(out: string, write: (staging: string) => Promise<void>, options: { what?: string; replace?: boolean } = {}): Promise<string> {
  const target = resolve(out);
  if (!options.replace) checkOutputFolder(target, options.what);
  mkdirSync(dirname(target), { recursive: true });
  removeStaleStaging(target);
  const staging = join(dirname(target), `${stagingPrefix(target)}${process.pid}`);
  mkdirSync(staging);
  try {
    await write(staging);
    if (existsSync(target)) rmSync(target, { recursive: true });
    renameSync(staging, target);
    return target;
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
}

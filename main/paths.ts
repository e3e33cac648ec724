// Where things live: the installed package (to find the addon, the renderer build and the trainer
// entry) and the user's Tunesmith home (database, runs, exports).
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | undefined;

/** The folder holding Tunesmith's package.json, found by walking up from this module. */
export function packageRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'tunesmith') {
      cachedRoot = dir;
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find Tunesmith's package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/**
 * A path inside the package. In a packaged Electron app, native files live outside the asar
 * archive (electron-builder's asarUnpack), so they are looked up in app.asar.unpacked.
 */
export function packagePath(...parts: string[]): string {
  return join(packageRoot(), ...parts);
}

export function unpackedPath(...parts: string[]): string {
  return packagePath(...parts).replace(/([\\/])app\.asar([\\/])/, '$1app.asar.unpacked$2');
}

export function packageVersion(): string {
  return (JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version: string }).version;
}

/** The compiled trainer process entry (the child that loads the addon). */
export function trainerEntry(): string {
  const entry = packagePath('dist', 'main', 'trainer', 'trainer-process.js');
  if (!existsSync(entry)) throw new Error(`trainer entry ${entry} is missing: run "npm run build" first`);
  return entry;
}

/** The built renderer (index.html and assets). */
export function rendererDir(): string {
  return packagePath('dist', 'renderer');
}

/**
 * The platform's per-user app-data folder for Tunesmith, the same one Electron's
 * app.getPath('userData') gives for an app named Tunesmith.
 */
export function defaultHome(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (platform === 'win32') return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'Tunesmith');
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'Tunesmith');
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'Tunesmith');
}

/** --home beats TUNESMITH_HOME beats the platform default. */
export function resolveHome(options: { flag?: string; env?: NodeJS.ProcessEnv; fallback?: string } = {}): string {
  const env = options.env ?? process.env;
  if (options.flag) return resolve(options.flag);
  if (env.TUNESMITH_HOME) return resolve(env.TUNESMITH_HOME);
  return options.fallback ?? defaultHome(env);
}

export interface HomeLayout {
  home: string;
  database: string;
  runs: string;
  exports: string;
}

export function homeLayout(home: string): HomeLayout {
  return { home, database: join(home, 'tunesmith.db'), runs: join(home, 'runs'), exports: join(home, 'exports') };
}

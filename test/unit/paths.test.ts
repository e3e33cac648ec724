import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { defaultHome, homeLayout, packageRoot, resolveHome } from '../../main/paths.js';

describe('home folder', () => {
  it('prefers --home, then TUNESMITH_HOME, then the platform default', () => {
    const env = { TUNESMITH_HOME: '/data/ts', XDG_CONFIG_HOME: '/cfg' };
    expect(resolveHome({ flag: 'rel/dir', env })).toBe(resolve('rel/dir'));
    expect(resolveHome({ env })).toBe('/data/ts');
    expect(resolveHome({ env: { XDG_CONFIG_HOME: '/cfg' } })).toBe('/cfg/Tunesmith');
    expect(resolveHome({ env: {}, fallback: '/electron/userData' })).toBe('/electron/userData');
  });

  it('matches Electron userData folders per platform', () => {
    expect(defaultHome({ APPDATA: 'C:\\Users\\a\\AppData\\Roaming' }, 'win32')).toBe(join('C:\\Users\\a\\AppData\\Roaming', 'Tunesmith'));
    expect(defaultHome({}, 'darwin')).toMatch(/Library[\\/]Application Support[\\/]Tunesmith$/);
  });

  it('keeps the database, runs and exports inside the home', () => {
    expect(homeLayout('/h')).toEqual({ home: '/h', database: join('/h', 'tunesmith.db'), runs: join('/h', 'runs'), exports: join('/h', 'exports') });
  });

  it('finds the package root', () => {
    expect(packageRoot()).toBe(resolve(fileURLToPath(new URL('../..', import.meta.url))));
  });
});

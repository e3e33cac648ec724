// The `tunesmith` command as a user runs it: the bin script, a real child process.
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { packagePath } from '../../../main/paths.js';
import { tempHome } from '../../helpers/temp-home.js';

const home = tempHome();
afterAll(() => home.cleanup());

function tunesmith(...args: string[]) {
  const r = spawnSync(process.execPath, [packagePath('bin', 'tunesmith.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, TUNESMITH_HOME: '' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('tunesmith CLI', () => {
  it('--help lists every command', () => {
    const r = tunesmith('--help');
    expect(r.code).toBe(0);
    for (const name of ['info', 'selftest', 'serve', 'runs']) expect(r.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    expect(r.stdout).toContain('--home DIR');
  });

  it('runs as `npx tunesmith` from the checkout (the package bin)', () => {
    const r = spawnSync('npx', ['--no-install', 'tunesmith', '--help'], { cwd: packagePath(), encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: tunesmith [--home DIR] <command> [options]');
  });

  it('explains a wrong call and exits 2', () => {
    const unknown = tunesmith('fly');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "fly"');
    const badOption = tunesmith('selftest', '--rounds', 'many');
    expect(badOption.code).toBe(2);
    expect(badOption.stderr).toContain('--rounds must be a whole number from 1 to 100000, got "many"');
  });

  it('runs the self-test through the trainer process and records it under --home', () => {
    const run = tunesmith('--home', home.dir, 'selftest', '--rounds', '2', '--size', '32');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/\[2\/2\] round 2\/2: max rel\. error/);
    expect(run.stdout).toMatch(/^passed: max relative error/m);
    const list = tunesmith('runs', 'list', '--json', '--home', home.dir);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toMatchObject([{ kind: 'selftest', state: 'succeeded' }]);
  });

  it('info --json reports the engine and the home in use', () => {
    const r = tunesmith('info', '--json', `--home=${home.dir}`);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.app.home).toBe(home.dir);
    expect(info.engine.backends).toContain('cpu');
  });
});

// A run's owner is a process; these check that a live process counts as alive, an exited one as
// gone, and (on Linux) that a different process holding a recorded id is not taken for the owner.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ownerIsAlive, processStartToken, thisProcessOwner } from '../../../main/system/process-identity.js';

describe('process identity', () => {
  it('this process is alive and is itself', () => {
    const me = thisProcessOwner();
    expect(me.pid).toBe(process.pid);
    expect(ownerIsAlive(me)).toBe(true);
    if (process.platform === 'linux') {
      expect(me.started).toMatch(/^[0-9a-f-]+:\d+$/);
      expect(ownerIsAlive({ pid: process.pid, started: `${me.started}0` })).toBe(false); // same id, another start
    }
  });

  it('another process is alive while it runs and gone once it has exited', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
    try {
      const owner = { pid: child.pid!, started: processStartToken(child.pid!) };
      expect(ownerIsAlive(owner)).toBe(true);
      if (process.platform === 'linux') {
        expect(owner.started).not.toBe(thisProcessOwner().started);
        expect(ownerIsAlive({ pid: child.pid!, started: thisProcessOwner().started })).toBe(false);
      }
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
      expect(ownerIsAlive(owner)).toBe(false);
      expect(ownerIsAlive({ pid: owner.pid, started: null })).toBe(false); // the id-only fallback agrees
    } finally {
      child.kill('SIGKILL');
    }
  });
});

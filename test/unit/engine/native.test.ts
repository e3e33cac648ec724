// The native addon through its binding, in this (test) process.
import { describe, expect, it } from 'vitest';
import { EngineInfoSchema } from '../../../main/api/contract.js';
import { loadEngine } from '../../../main/engine/native.js';

describe('native engine addon', () => {
  const engine = loadEngine();

  it('reports its build and CUDA state without a GPU or driver', () => {
    const info = EngineInfoSchema.parse(engine.engineInfo());
    expect(info.backends[0]).toBe('cpu');
    expect(info.cpuThreads).toBeGreaterThan(0);
    expect(info.backends.includes('cuda')).toBe(info.cuda.compiled);
    if (info.cuda.devices.length === 0) {
      // Either not compiled in or no driver/device: always a readable reason, never a crash.
      expect(info.cuda.error).toMatch(/CUDA|driver|device/);
    }
  });

  it('runs the self-test on a worker thread with progress, and can cancel it', async () => {
    const rounds: number[] = [];
    const done = await engine.selfTest({ rounds: 4, size: 48, seed: 7 }, (r) => rounds.push(r.round)).promise;
    expect(rounds).toEqual([1, 2, 3, 4]);
    expect(done).toMatchObject({ passed: true, cancelled: false, roundsDone: 4 });
    expect(done.maxRelError).toBeGreaterThan(0); // fp32 differs from float64 somewhere
    expect(done.maxRelError).toBeLessThan(done.tolerance);

    let handle: ReturnType<typeof engine.selfTest>;
    handle = engine.selfTest({ rounds: 100_000, size: 64 }, (r) => {
      if (r.round === 2) handle.cancel();
    });
    const cancelled = await handle.promise;
    expect(cancelled.cancelled).toBe(true);
    expect(cancelled.passed).toBe(false);
    expect(cancelled.roundsDone).toBeLessThan(100_000);
  });

  it('rejects bad options with a message instead of crashing', async () => {
    await expect(engine.selfTest({ rounds: 1, size: 0 }, () => {}).promise).rejects.toThrow(/size must be between 1 and 4096/);
    expect(() => (engine.selfTest as unknown as (a: unknown) => void)(42)).toThrow(/selfTest\(options: object, onRound: function\) expected/);
  });
});

// The trainer supervisor with real trainer processes (the compiled entry and the native addon):
// jobs succeed, fail, cancel, and a process killed mid-job fails its run with a clear message while
// the app keeps working.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApiEvent } from '../../../main/api/contract.js';
import { createAppContext, type AppContext } from '../../../main/app-context.js';
import { trainerEntry } from '../../../main/paths.js';
import { forkLauncher } from '../../../main/trainer/launcher.js';
import { Supervisor } from '../../../main/trainer/supervisor.js';
import { tempHome } from '../../helpers/temp-home.js';

function firstEvent(ctx: AppContext, match: (e: ApiEvent) => boolean): Promise<ApiEvent> {
  return new Promise((resolve) => {
    const off = ctx.hub.subscribe((e) => {
      if (match(e)) {
        off();
        resolve(e);
      }
    });
  });
}

describe('trainer supervisor', () => {
  let home: ReturnType<typeof tempHome>;
  let ctx: AppContext;
  beforeEach(() => {
    home = tempHome();
    ctx = createAppContext({ home: home.dir, mode: 'cli', launchTrainer: forkLauncher(trainerEntry()), cancelGraceMs: 2000 });
  });
  afterEach(() => {
    ctx.close();
    home.cleanup();
  });

  it('runs the self-test in a child process and streams progress', async () => {
    const progress: number[] = [];
    ctx.hub.subscribe((e) => {
      if (e.type === 'run.progress') progress.push(e.step);
    });
    const run = ctx.jobs.start({ kind: 'selftest', rounds: 3, size: 64 });
    expect(run.state).toBe('running');
    const ended = await ctx.jobs.settled(run.id);
    expect(ended.state).toBe('succeeded');
    expect(ended.result).toMatchObject({ passed: true, roundsDone: 3 });
    expect((ended.result as { maxRelError: number }).maxRelError).toBeLessThan(1e-4);
    expect(progress).toEqual([1, 2, 3]);
  });

  it('fails a job whose process is killed mid-job, and keeps working', async () => {
    const run = ctx.jobs.start({ kind: 'selftest', rounds: 100_000, size: 96 });
    await firstEvent(ctx, (e) => e.type === 'run.progress' && e.runId === run.id);
    const pid = ctx.jobs.pidOf(run.id);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid!, 'SIGKILL');

    const ended = await ctx.jobs.settled(run.id);
    expect(ended.state).toBe('failed');
    expect(ended.error).toMatch(/trainer process running this selftest job was killed by signal SIGKILL before it finished/);
    expect(ended.endedAt).not.toBeNull();

    const again = ctx.jobs.start({ kind: 'selftest', rounds: 2, size: 32 });
    expect((await ctx.jobs.settled(again.id)).state).toBe('succeeded');
  });

  it('cancels a running job cooperatively', async () => {
    const run = ctx.jobs.start({ kind: 'selftest', rounds: 100_000, size: 96 });
    await firstEvent(ctx, (e) => e.type === 'run.progress' && e.runId === run.id);
    const stateEvent = firstEvent(ctx, (e) => e.type === 'run.state' && e.run.id === run.id && e.run.state !== 'running');
    await expect(ctx.handlers['jobs.cancel']({ runId: run.id })).resolves.toEqual({ cancelled: true });
    const ended = await ctx.jobs.settled(run.id);
    expect(ended.state).toBe('cancelled');
    expect(ended.error).toBeNull();
    expect(await stateEvent).toMatchObject({ run: { state: 'cancelled' } });
    await expect(ctx.handlers['jobs.cancel']({ runId: run.id })).resolves.toEqual({ cancelled: false });
    await expect(ctx.handlers['jobs.cancel']({ runId: 4242 })).rejects.toThrow(/no run with id 4242/);
  });

  it('reports an error raised inside the job as the failure message', async () => {
    // Bypass the API's validation to reach the engine's own argument check.
    const supervisor = new Supervisor(forkLauncher(trainerEntry()));
    const outcome = await supervisor.start({ kind: 'selftest', rounds: 0, size: 64 }).done;
    expect(outcome).toEqual({ state: 'failed', error: 'rounds must be between 1 and 100000' });
  });

  it('kills a job that ignores cancel after the grace period', async () => {
    let killed = false;
    const supervisor = new Supervisor(() => {
      let exit: (code: number | null, signal: string | null) => void = () => {};
      return {
        pid: 1,
        send: () => {}, // a wedged child: never answers, never exits by itself
        kill: () => {
          killed = true;
          exit(null, 'SIGKILL');
        },
        onMessage: () => {},
        onExit: (l) => (exit = l),
      };
    }, 50);
    const job = supervisor.start({ kind: 'selftest', rounds: 1, size: 8 });
    job.cancel();
    expect(await job.done).toEqual({ state: 'cancelled' });
    expect(killed).toBe(true);
  });

  it('answers system.info from a probe in the trainer process', async () => {
    const info = await ctx.handlers['system.info']({ refresh: false });
    expect(info.engine.backends).toContain('cpu');
    expect(info.app).toMatchObject({ mode: 'cli', home: home.dir });
    if (info.engine.cuda.devices.length === 0) expect(info.engine.cuda.error).toBeTruthy();
    expect(info.host.totalMemory).toBeGreaterThan(0);
  });
});

// A running job's writes (metrics, how it ended) while another process holds the database's write
// lock: nothing throws out of the trainer's message handler, the app's thread is not held, and
// everything is recorded, in order, once the lock is free.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../../db/database.js';
import { listMetrics } from '../../../db/metrics.js';
import { getRun } from '../../../db/runs.js';
import type { ApiEvent } from '../../../main/api/contract.js';
import { EventHub } from '../../../main/api/event-hub.js';
import { JobService } from '../../../main/jobs/job-service.js';
import type { JobListener, JobOutcome, Supervisor } from '../../../main/trainer/supervisor.js';
import { tempHome } from '../../helpers/temp-home.js';

/** A supervisor whose one job is driven by the test: it reports metrics and ends when told. */
function scriptedSupervisor() {
  let listener: JobListener = {};
  let end: (o: JobOutcome) => void = () => {};
  const supervisor = {
    start: (_spec: unknown, l: JobListener) => {
      listener = l;
      return { pid: 1, done: new Promise<JobOutcome>((r) => (end = r)), cancel: () => {} };
    },
  } as unknown as Supervisor;
  return { supervisor, metric: (step: number, loss: number) => listener.metric!({ step, loss, lr: 0.01, tokensPerS: 1, memBytes: 1, gradNorm: 1 }), end: (o: JobOutcome) => end(o) };
}

describe('job writes under contention', () => {
  let home: ReturnType<typeof tempHome>;
  let db: Db;
  let other: Database.Database;
  beforeEach(() => {
    home = tempHome();
    db = openDatabase(join(home.dir, 'tunesmith.db'));
    other = new Database(join(home.dir, 'tunesmith.db'));
  });
  afterEach(() => {
    if (other.inTransaction) other.exec('ROLLBACK');
    other.close();
    db.close();
    home.cleanup();
  });

  it('records metrics and the end state that arrive while another connection holds the lock', async () => {
    const job = scriptedSupervisor();
    const hub = new EventHub();
    const events: ApiEvent[] = [];
    hub.subscribe((e) => events.push(e));
    const jobs = new JobService(db, job.supervisor, hub);
    const run = jobs.start({ kind: 'selftest', rounds: 1, size: 8 });

    other.exec('BEGIN IMMEDIATE'); // an import's batch, or any other process writing
    const started = performance.now();
    job.metric(1, 2.5);
    job.metric(2, 2.25);
    job.end({ state: 'succeeded', result: { ok: true } });
    await new Promise((r) => setTimeout(r, 100));
    // Neither waited on the thread (the busy timeout is 5 s) nor failed; the UI saw the metrics live.
    expect(performance.now() - started).toBeLessThan(1000);
    expect(events.filter((e) => e.type === 'run.metric')).toHaveLength(2);
    expect(getRun(db, run.id)!.state).toBe('running');
    other.exec('COMMIT');

    const ended = await jobs.settled(run.id);
    expect(ended).toMatchObject({ state: 'succeeded', result: { ok: true } });
    expect(listMetrics(db, run.id).map((m) => [m.step, m.loss])).toEqual([
      [1, 2.5],
      [2, 2.25],
    ]);
    expect(events.filter((e) => e.type === 'run.log')).toEqual([]);
    expect(events.at(-1)).toMatchObject({ type: 'run.state', run: { id: run.id, state: 'succeeded' } });
  });
});

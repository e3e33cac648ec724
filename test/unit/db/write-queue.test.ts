// The write queue: a write that meets another connection's write lock neither blocks the thread nor
// throws; it lands, in order, once the lock is free, and one that cannot land is reported clearly.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../../db/database.js';
import { listMetrics, recordMetric } from '../../../db/metrics.js';
import { createRun } from '../../../db/runs.js';
import { isBusyError, WriteQueue } from '../../../db/write-queue.js';
import { tempHome } from '../../helpers/temp-home.js';

describe('write queue', () => {
  let home: ReturnType<typeof tempHome>;
  let db: Db;
  let other: Database.Database;
  let runId: number;
  beforeEach(() => {
    home = tempHome();
    db = openDatabase(join(home.dir, 'tunesmith.db'));
    other = new Database(join(home.dir, 'tunesmith.db'));
    runId = createRun(db, { kind: 'train', name: 'r', spec: {} }).id;
  });
  afterEach(() => {
    if (other.inTransaction) other.exec('ROLLBACK');
    other.close();
    db.close();
    home.cleanup();
  });

  it('queues writes while another connection holds the lock, without blocking, and lands them in order', async () => {
    const queue = new WriteQueue(db);
    other.exec('BEGIN IMMEDIATE');
    const started = performance.now();
    const first = queue.write('step 1', () => recordMetric(db, runId, { step: 1, loss: 2 }));
    const second = queue.write('step 1 again', () => recordMetric(db, runId, { step: 1, loss: 1.5 }));
    const third = queue.write('step 2', () => recordMetric(db, runId, { step: 2, loss: 1 }));
    // The connection's own busy timeout is 5 s: waiting for the lock on the thread would show here.
    expect(performance.now() - started).toBeLessThan(50);
    await new Promise((r) => setTimeout(r, 150));
    expect(listMetrics(db, runId)).toEqual([]);
    other.exec('COMMIT');
    expect(await Promise.all([first, second, third])).toEqual([{ written: true }, { written: true }, { written: true }]);
    expect(listMetrics(db, runId).map((m) => [m.step, m.loss])).toEqual([
      [1, 1.5],
      [2, 1],
    ]);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
  });

  it('gives a write up after the deadline with an error naming the database and the write', async () => {
    const queue = new WriteQueue(db, { giveUpAfterMs: 200 });
    other.exec('BEGIN IMMEDIATE');
    const outcome = await queue.write('the metrics of step 7', () => recordMetric(db, runId, { step: 7, loss: 1 }));
    expect(outcome.written).toBe(false);
    expect(!outcome.written && outcome.error.message).toMatch(/the database .*tunesmith\.db stayed locked by another connection for \d+ s; gave up writing the metrics of step 7/);
    other.exec('ROLLBACK');
    expect(await queue.write('the metrics of step 8', () => recordMetric(db, runId, { step: 8, loss: 1 }))).toEqual({ written: true });
  });

  it('reports a write that fails for another reason and goes on with the next', async () => {
    const queue = new WriteQueue(db);
    const bad = queue.write('a metric of no run', () => recordMetric(db, 999, { step: 1, loss: 1 }));
    const good = queue.write('step 1', () => recordMetric(db, runId, { step: 1, loss: 1 }));
    const outcome = await bad;
    expect(!outcome.written && outcome.error.message).toMatch(/FOREIGN KEY/);
    expect(await good).toEqual({ written: true });
  });

  it('settles what is still queued when closed', async () => {
    const queue = new WriteQueue(db);
    other.exec('BEGIN IMMEDIATE');
    const pending = queue.write('step 1', () => recordMetric(db, runId, { step: 1, loss: 1 }));
    queue.close();
    const outcome = await pending;
    expect(!outcome.written && outcome.error.message).toMatch(/closed before step 1 could be written/);
  });

  it('tells a busy error from others', () => {
    other.exec('BEGIN IMMEDIATE');
    db.pragma('busy_timeout = 0');
    let busy: unknown;
    try {
      recordMetric(db, runId, { step: 1, loss: 1 });
    } catch (err) {
      busy = err;
    }
    expect(isBusyError(busy)).toBe(true);
    expect(isBusyError(new Error('x'))).toBe(false);
    expect(isBusyError(null)).toBe(false);
  });
});

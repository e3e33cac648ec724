import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrate, openDatabase, schemaVersion, type Db } from '../../../db/database.js';
import { listMetrics, recordMetric } from '../../../db/metrics.js';
import { migrations } from '../../../db/migrations.js';
import { createRun, failOrphanedRuns, getRun, listActiveRuns, markRunEnded, markRunStarted, type RunOwner } from '../../../db/runs.js';
import { tempHome } from '../../helpers/temp-home.js';

describe('database', () => {
  let home: ReturnType<typeof tempHome>;
  let db: Db;
  beforeEach(() => {
    home = tempHome();
    db = openDatabase(`${home.dir}/nested/tunesmith.db`);
  });
  afterEach(() => {
    db.close();
    home.cleanup();
  });

  it('opens in WAL mode with foreign keys on and every migration applied', () => {
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(schemaVersion(db)).toBe(migrations.length);
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name);
    expect(tables).toEqual(expect.arrayContaining(['schema_version', 'runs', 'metrics']));
  });

  it('applies nothing twice when reopened', () => {
    db.close();
    db = openDatabase(`${home.dir}/nested/tunesmith.db`);
    const rows = db.prepare('SELECT version FROM schema_version ORDER BY version').all() as { version: number }[];
    expect(rows.map((r) => r.version)).toEqual(migrations.map((m) => m.version));
  });

  it('rolls a failing migration back whole and keeps the previous version', () => {
    const raw = new Database(':memory:');
    const broken = [
      { version: 1, name: 'ok', up: 'CREATE TABLE a (x INTEGER);' },
      { version: 2, name: 'broken', up: 'CREATE TABLE b (y INTEGER); INSERT INTO nowhere VALUES (1);' },
    ];
    expect(() => migrate(raw, broken)).toThrow(/nowhere/);
    expect(schemaVersion(raw)).toBe(1);
    expect(raw.prepare("SELECT name FROM sqlite_master WHERE name = 'b'").get()).toBeUndefined();
    raw.close();
  });

  it('refuses a database from a newer Tunesmith', () => {
    db.prepare('INSERT INTO schema_version (version, name) VALUES (?, ?)').run(migrations.length + 1, 'from the future');
    db.close();
    expect(() => (db = openDatabase(`${home.dir}/nested/tunesmith.db`))).toThrow(/newer than this Tunesmith knows/);
    db = openDatabase(`${home.dir}/other.db`); // so afterEach has something to close
  });

  it('records a run through its life and its metrics', () => {
    const run = createRun(db, { kind: 'selftest', name: 'check', spec: { kind: 'selftest', rounds: 2 } });
    expect(run).toMatchObject({ state: 'queued', spec: { rounds: 2 }, result: null, startedAt: null });
    markRunStarted(db, run.id);
    recordMetric(db, run.id, { step: 1, loss: 2.5, lr: 1e-4 });
    recordMetric(db, run.id, { step: 2, loss: 2.25 });
    recordMetric(db, run.id, { step: 1, evalLoss: 2.6 }); // a later eval fills in step 1, keeps its loss
    markRunEnded(db, run.id, { state: 'succeeded', result: { ok: true } });
    const ended = getRun(db, run.id)!;
    expect(ended.state).toBe('succeeded');
    expect(ended.result).toEqual({ ok: true });
    expect(ended.startedAt).not.toBeNull();
    expect(ended.endedAt).not.toBeNull();
    expect(listMetrics(db, run.id)).toEqual([
      { step: 1, loss: 2.5, evalLoss: 2.6, lr: 1e-4, tokensPerS: null, memBytes: null },
      { step: 2, loss: 2.25, evalLoss: null, lr: null, tokensPerS: null, memBytes: null },
    ]);
  });

  it('refuses metrics for a run that does not exist (foreign key)', () => {
    expect(() => recordMetric(db, 999, { step: 1, loss: 1 })).toThrow(/FOREIGN KEY/);
  });

  it('marks failed only the runs whose owning process is gone', () => {
    const live = { pid: 101, started: 'a' };
    const gone = { pid: 102, started: 'b' };
    const alive = (o: RunOwner) => o.pid === live.pid && o.started === live.started;
    const running = (name: string, owner?: RunOwner) => {
      const r = createRun(db, { kind: 'selftest', name, spec: {}, owner });
      markRunStarted(db, r.id);
      return r.id;
    };
    const ownedByLive = running('live', live);
    const queuedByLive = createRun(db, { kind: 'selftest', name: 'queued', spec: {}, owner: live }).id;
    const ownedByGone = running('gone', gone);
    const reusedPid = running('same pid, another process', { pid: live.pid, started: 'older' });
    const noOwner = running('recorded before owners were');
    const ended = createRun(db, { kind: 'selftest', name: 'done', spec: {}, owner: gone });
    markRunEnded(db, ended.id, { state: 'succeeded' });

    expect(failOrphanedRuns(db, alive)).toBe(3);
    expect(getRun(db, ownedByLive)!.state).toBe('running');
    expect(getRun(db, queuedByLive)!.state).toBe('queued');
    for (const id of [ownedByGone, reusedPid, noOwner]) {
      expect(getRun(db, id)).toMatchObject({ state: 'failed', error: expect.stringContaining('stopped') });
    }
    expect(getRun(db, ended.id)!.state).toBe('succeeded');
    expect(listActiveRuns(db).map((r) => [r.id, r.owner])).toEqual([
      [ownedByLive, live],
      [queuedByLive, live],
    ]);
    expect(failOrphanedRuns(db, alive)).toBe(0);
  });
});

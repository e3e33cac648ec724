// User-started jobs: each is recorded as a run in the database, executed by the supervisor in a
// trainer process, and reported to every UI as events. The database is the source of truth, so
// history survives a reload or a crash.
import { ApiError, type ApiEvent, type Run, type UserJobSpec } from '../api/contract.js';
import type { EventHub } from '../api/event-hub.js';
import type { Db } from '../../db/database.js';
import { createRun, getRun, markRunEnded, markRunStarted } from '../../db/runs.js';
import type { RunningJob, Supervisor } from '../trainer/supervisor.js';
import { EtaEstimator } from './eta.js';

export class JobService {
  private readonly running = new Map<number, RunningJob>();

  constructor(
    private readonly db: Db,
    private readonly supervisor: Supervisor,
    private readonly hub: EventHub,
  ) {}

  start(spec: UserJobSpec, name?: string): Run {
    const run = createRun(this.db, { kind: spec.kind, name: name ?? defaultName(spec), spec });
    markRunStarted(this.db, run.id);
    this.emitState(run.id);
    const eta = new EtaEstimator();
    const job = this.supervisor.start(spec, {
      progress: (step, total, message) =>
        this.hub.emit({ type: 'run.progress', runId: run.id, step, total, message, etaSeconds: eta.update(step, total) }),
      log: (level, message) => this.hub.emit({ type: 'run.log', runId: run.id, level, message }),
    });
    this.running.set(run.id, job);
    job.done.then((outcome) => {
      this.running.delete(run.id);
      markRunEnded(this.db, run.id, {
        state: outcome.state,
        error: outcome.state === 'failed' ? outcome.error : null,
        result: outcome.state === 'succeeded' ? outcome.result : undefined,
      });
      this.emitState(run.id);
    });
    return getRun(this.db, run.id)!;
  }

  cancel(runId: number): boolean {
    const job = this.running.get(runId);
    if (!job) {
      if (!getRun(this.db, runId)) throw new ApiError('not_found', `no run with id ${runId}`);
      return false; // already ended
    }
    job.cancel();
    return true;
  }

  /** The trainer process of a running job (tests use it to crash a job on purpose). */
  pidOf(runId: number): number | undefined {
    return this.running.get(runId)?.pid;
  }

  /** Resolves when the run has ended (immediately if it already has). */
  async settled(runId: number): Promise<Run> {
    await this.running.get(runId)?.done;
    // The state is written in the same microtask chain as `done`; yield once so it has landed.
    await new Promise((r) => setImmediate(r));
    return getRun(this.db, runId)!;
  }

  get activeCount(): number {
    return this.running.size;
  }

  private emitState(runId: number): void {
    const run = getRun(this.db, runId);
    if (run) this.hub.emit({ type: 'run.state', run } satisfies ApiEvent);
  }
}

function defaultName(spec: UserJobSpec): string {
  switch (spec.kind) {
    case 'selftest':
      return `Engine self-test (${spec.rounds} × ${spec.size}²)`;
  }
}

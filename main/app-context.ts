// Everything the app's services need, wired once, shared by Electron, serve mode and the CLI: the
// database in the user's home, the event hub, the trainer supervisor, and the API handlers.
import { mkdirSync } from 'node:fs';
import { openDatabase, type Db } from '../db/database.js';
import { listMetrics } from '../db/metrics.js';
import { failOrphanedRuns, getRun, listRuns } from '../db/runs.js';
import { trainingBudget, type TrainingBudget } from './estimate/training-budget.js';
import { exportHandlers } from './api/export-handlers.js';
import { runHandlers } from './api/run-handlers.js';
import { runView } from './jobs/run-view.js';
import { ApiError, EngineInfoSchema, type EngineInfo, type SystemInfo } from './api/contract.js';
import type { Handlers } from './api/dispatch.js';
import { wizardHandlers } from './api/wizard-handlers.js';
import { EventHub } from './api/event-hub.js';
import { JobService } from './jobs/job-service.js';
import { homeLayout, packageVersion, type HomeLayout } from './paths.js';
import { hostInfo } from './system/host-info.js';
import { ownerIsAlive } from './system/process-identity.js';
import type { LaunchTrainer } from './trainer/launcher.js';
import { Supervisor } from './trainer/supervisor.js';

export interface AppContext {
  readonly layout: HomeLayout;
  readonly db: Db;
  readonly hub: EventHub;
  readonly supervisor: Supervisor;
  readonly jobs: JobService;
  readonly handlers: Handlers;
  /** What training runs must fit in: the GPU the engine sees, else RAM (probes the engine once). */
  trainingBudget(): Promise<TrainingBudget>;
  close(): void;
}

export function createAppContext(options: {
  home: string;
  mode: SystemInfo['app']['mode'];
  launchTrainer: LaunchTrainer;
  cancelGraceMs?: number;
}): AppContext {
  const layout = homeLayout(options.home);
  mkdirSync(layout.runs, { recursive: true });
  mkdirSync(layout.exports, { recursive: true });
  const db = openDatabase(layout.database);
  failOrphanedRuns(db, ownerIsAlive);
  const hub = new EventHub();
  const supervisor = new Supervisor(options.launchTrainer, { cancelGraceMs: options.cancelGraceMs, databasePath: layout.database });
  const jobs = new JobService(db, supervisor, hub);

  let engineInfo: Promise<EngineInfo> | undefined;
  const probeEngine = async (): Promise<EngineInfo> => {
    const outcome = await supervisor.start({ kind: 'system' }).done;
    if (outcome.state !== 'succeeded') {
      throw new Error(`the engine probe failed: ${outcome.state === 'failed' ? outcome.error : 'cancelled'}`);
    }
    return EngineInfoSchema.parse(outcome.result);
  };

  const budget = async (): Promise<TrainingBudget> => {
    const info = await handlers['system.info']({ refresh: false });
    return trainingBudget(info);
  };

  const handlers: Handlers = {
    'system.info': async ({ refresh }) => {
      if (refresh || !engineInfo) {
        engineInfo = probeEngine();
        engineInfo.catch(() => (engineInfo = undefined)); // a failed probe is retried next time
      }
      return {
        app: { version: packageVersion(), mode: options.mode, home: layout.home, databasePath: layout.database },
        host: hostInfo(),
        engine: await engineInfo,
      };
    },
    // Another process sharing this home may have died mid-run since this one started: settle first.
    'runs.list': async ({ limit }) => {
      failOrphanedRuns(db, ownerIsAlive);
      return { runs: listRuns(db, limit).map((r) => runView(db, r)) };
    },
    'runs.get': async ({ id }) => {
      failOrphanedRuns(db, ownerIsAlive);
      const run = getRun(db, id);
      if (!run) throw new ApiError('not_found', `no run with id ${id}`);
      return { run: runView(db, run), metrics: listMetrics(db, id) };
    },
    // A training spec is checked against the memory there is: the API has no way around it.
    'jobs.start': async ({ spec, name }) => ({ run: jobs.start(spec, name, spec.kind === 'train' ? { budget: await budget() } : {}) }),
    'jobs.cancel': async ({ runId }) => ({ cancelled: jobs.cancel(runId) }),
    ...wizardHandlers({ db, databasePath: layout.database, supervisor, hub }),
    ...runHandlers({ db, jobs, startOptions: async () => ({ budget: await budget() }) }),
    ...exportHandlers({ db, jobs, exportsDir: layout.exports }),
  };

  return {
    layout,
    db,
    hub,
    supervisor,
    jobs,
    handlers,
    trainingBudget: budget,
    close: () => {
      supervisor.killAll();
      jobs.close();
      db.close();
    },
  };
}

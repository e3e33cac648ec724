// API handlers of training-run continuity: the checkpoints a run folder holds, resuming from the
// newest one as a new run, and one metric timeline across a run and the runs it resumed.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Db } from '../../db/database.js';
import { listMetrics } from '../../db/metrics.js';
import { getRun, listRuns, type RunRow } from '../../db/runs.js';
import type { JobService, StartOptions } from '../jobs/job-service.js';
import { describeLiveRun, liveRuns, refuseIfRunFolderBusy } from '../jobs/live-runs.js';
import { checkpointStep, resumeSpec } from '../train/resume-run.js';
import { checkpointPath, listCheckpoints, runFolder } from '../train/run-folder.js';
import { ApiError, type TrainSpec } from './contract.js';
import type { Handlers } from './dispatch.js';

export type RunMethod = 'runs.timeline' | 'runs.checkpoints' | 'runs.resume';

function trainRun(db: Db, id: number): RunRow & { spec: TrainSpec } {
  liveRuns(db); // settles runs whose owning process is gone, so a state read below is current
  const run = getRun(db, id);
  if (!run) throw new ApiError('not_found', `no run with id ${id}`);
  if (run.kind !== 'train') throw new ApiError('bad_request', `params.runId: run ${id} is a ${run.kind} run, not a training run`);
  return run as RunRow & { spec: TrainSpec };
}

/** Train runs that wrote into the same run folder, oldest first, up to and including `upTo`. */
function runsOfFolder(db: Db, dir: string, upTo: number): (RunRow & { spec: TrainSpec })[] {
  const d = resolve(dir);
  return listRuns(db, 100_000)
    .filter((r) => r.kind === 'train' && r.id <= upTo && resolve((r.spec as TrainSpec).out) === d)
    .reverse() as (RunRow & { spec: TrainSpec })[];
}

export function runHandlers(deps: { db: Db; jobs: JobService; startOptions: () => Promise<StartOptions> }): Pick<Handlers, RunMethod> {
  const { db, jobs } = deps;
  return {
    'runs.timeline': async ({ id }) => {
      const run = trainRun(db, id);
      let metrics: ReturnType<typeof listMetrics> = [];
      const runIds: number[] = [];
      // Each resumed run continues from its checkpoint's step: what earlier runs logged after that
      // step was redone (bit-exactly) and is replaced by the resumed run's points.
      for (const r of runsOfFolder(db, run.spec.out, run.id)) {
        const from = r.spec.resumeFrom ? checkpointStep(r.spec.resumeFrom) : null;
        if (from === null) {
          metrics = [];
          runIds.length = 0;
        }
        metrics = [...metrics.filter((m) => from !== null && m.step <= from), ...listMetrics(db, r.id)];
        runIds.push(r.id);
      }
      return { runIds, metrics };
    },
    'runs.checkpoints': async ({ runId }) => {
      const run = trainRun(db, runId);
      const folder = runFolder(run.spec.out);
      const checkpoints = listCheckpoints(folder).map((c) => ({ step: c.step, path: checkpointPath(folder, c.step) }));
      const newer = listRuns(db, 100_000).find((r) => r.id > runId && r.kind === 'train' && resolve((r.spec as TrainSpec).out) === folder.dir);
      const reason =
        run.state === 'running' || run.state === 'queued'
          ? 'the run is still going'
          : run.state === 'succeeded'
            ? 'the run finished'
            : newer
              ? `run ${newer.id} already continued it`
              : !existsSync(folder.dir)
                ? `the run folder ${folder.dir} is gone`
                : checkpoints.length === 0
                  ? 'no checkpoint was written before it stopped'
                  : null;
      return { runDir: folder.dir, checkpoints, resumable: reason === null, reason };
    },
    'runs.resume': async ({ runId, steps }) => {
      const run = trainRun(db, runId);
      const live = liveRuns(db).find((r) => r.id === runId);
      if (live) throw new ApiError('conflict', `${describeLiveRun(live)}: pause it first`);
      refuseIfRunFolderBusy(db, run.spec.out);
      let resumed;
      try {
        resumed = await resumeSpec(run.spec.out, steps);
      } catch (err) {
        // No checkpoint, no run.json, a folder that is gone: the user's to fix, said as it is.
        throw new ApiError('bad_request', `run ${runId}: ${(err as Error).message}`);
      }
      return { run: jobs.start(resumed.spec, undefined, await deps.startOptions()), fromStep: resumed.fromStep };
    },
  };
}

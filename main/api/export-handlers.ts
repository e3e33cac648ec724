// API handlers of the Export step: export a finished training run (PEFT adapter, merged model, or a
// recipe for a cluster) as a recorded job, and list what was exported.
import { join } from 'node:path';
import type { Db } from '../../db/database.js';
import { listExports } from '../../db/exports.js';
import { getRun } from '../../db/runs.js';
import { recipeRefusal } from '../export/recipe-settings.js';
import type { JobService } from '../jobs/job-service.js';
import { ApiError, ExportRecordSchema, usesAdapter, type ExportRecord, type TrainSpec } from './contract.js';
import type { Handlers } from './dispatch.js';

export type ExportMethod = 'exports.start' | 'exports.list';

export function exportHandlers(deps: { db: Db; jobs: JobService; exportsDir: string }): Pick<Handlers, ExportMethod> {
  const { db, jobs } = deps;
  return {
    'exports.start': async ({ runId, format, dtype, out, gpus, nodes, fromStep }) => {
      const run = getRun(db, runId);
      if (!run) throw new ApiError('not_found', `no run with id ${runId}`);
      if (run.kind !== 'train') throw new ApiError('bad_request', `params.runId: run ${runId} is a ${run.kind} run; only training runs are exported`);
      if (run.state !== 'succeeded') throw new ApiError('bad_request', `params.runId: run ${runId} is ${run.state}; export it once it has finished (resume it first if it was paused)`);
      const spec = run.spec as TrainSpec;
      if (format === 'peft' && !usesAdapter(spec)) {
        throw new ApiError('bad_request', `params.format: run ${runId} trained all weights with ${spec.method}: there is no adapter; export it as "merged"`);
      }
      if (format === 'recipe') {
        const refusal = recipeRefusal(spec);
        if (refusal) throw new ApiError('bad_request', `params.format: run ${runId}: ${refusal}`);
        if (fromStep !== undefined && fromStep >= spec.steps) throw new ApiError('bad_request', `params.fromStep: ${fromStep}: the run has ${spec.steps} steps; a recipe starts from a checkpoint before the last`);
      }
      const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
      const target = out ?? join(deps.exportsDir, `run-${runId}-${format === 'merged' ? `merged-${dtype}` : format}-${stamp}`);
      const started = jobs.start({ kind: 'export', run: spec.out, format, out: target, dtype, maxShardBytes: 5_000_000_000, gpus, nodes, fromStep });
      return { run: started, out: target };
    },
    'exports.list': async ({ runId }) => {
      const rows = listExports(db, runId === undefined ? {} : { runId });
      const exports: ExportRecord[] = [];
      for (const row of rows) {
        const parsed = ExportRecordSchema.safeParse(row);
        if (parsed.success) exports.push(parsed.data); // rows of other formats (older versions) are not shown
      }
      return { exports };
    },
  };
}

// Runs that are really going right now, whichever process on this home started them: the app, a
// server and CLI commands may share one database. Asking first settles the runs whose owner is gone
// (they are marked failed), so what is left is live, and what it holds must not be touched: its run
// folder is not resumed into by anyone else, its dataset is not removed under it.
import { resolve } from 'node:path';
import type { Db } from '../../db/database.js';
import { failOrphanedRuns, listActiveRuns, type ActiveRun } from '../../db/runs.js';
import { ApiError } from '../api/contract.js';
import { ownerIsAlive } from '../system/process-identity.js';

export function liveRuns(db: Db): ActiveRun[] {
  failOrphanedRuns(db, ownerIsAlive);
  return listActiveRuns(db);
}

/** "run 7 ("LoRA of ...") is still running (owned by process 4242)" */
export function describeLiveRun(run: ActiveRun): string {
  return `run ${run.id} ("${run.name}") is still ${run.state}${run.owner ? ` (owned by process ${run.owner.pid})` : ''}`;
}

/** The live training run writing into `dir`, if any. */
function liveRunInFolder(db: Db, dir: string): ActiveRun | undefined {
  const d = resolve(dir);
  return liveRuns(db).find((r) => r.kind === 'train' && typeof (r.spec as { out?: unknown }).out === 'string' && resolve((r.spec as { out: string }).out) === d);
}

/** Two trainers must never write one run folder: refuses while a live run trains in `dir`. */
export function refuseIfRunFolderBusy(db: Db, dir: string): void {
  const busy = liveRunInFolder(db, dir);
  if (busy) throw new ApiError('conflict', `${describeLiveRun(busy)} in ${resolve(dir)}: a run folder takes one run at a time; wait for it to end or cancel it first`);
}

/** A dataset a queued or running job reads cannot be removed under it. */
export function refuseIfDatasetInUse(db: Db, datasetId: number): void {
  const user = liveRuns(db).find((r) => (r.spec as { datasetId?: unknown }).datasetId === datasetId);
  if (user) throw new ApiError('conflict', `dataset ${datasetId} is in use: ${describeLiveRun(user)}; cancel it or wait for it to end, then remove the dataset`);
}

// A run as the API shows it: the database row plus, for training runs, the summary history lists
// (method, parameters trained, last loss and step, run folder) without a second request per run.
import type { Db } from '../../db/database.js';
import type { RunRow } from '../../db/runs.js';
import type { Run, TrainSpec } from '../api/contract.js';

export function runView(db: Db, row: RunRow): Run {
  if (row.kind !== 'train') return { ...row, training: null };
  const spec = row.spec as TrainSpec;
  const result = (row.result ?? null) as { trainableParameters?: number } | null;
  const last = db.prepare('SELECT step, loss FROM metrics WHERE run_id = ? ORDER BY step DESC LIMIT 1').get(row.id) as { step: number; loss: number | null } | undefined;
  return {
    ...row,
    training: {
      method: spec.method ?? 'full',
      trainableParameters: typeof result?.trainableParameters === 'number' ? result.trainableParameters : null,
      finalLoss: last?.loss ?? null,
      lastStep: last?.step ?? null,
      runDir: spec.out,
      resumed: typeof spec.resumeFrom === 'string',
    },
  };
}

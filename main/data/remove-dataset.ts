// Removing a dataset, as the CLI (`tunesmith data rm`) and the API (datasets.remove) do it: refused
// while a queued or running job reads it. The check and the delete are one immediate transaction,
// so a job starting on the dataset in another process meanwhile either finds it gone or blocks it.
import type { Db } from '../../db/database.js';
import { deleteDataset } from '../../db/datasets.js';
import { refuseIfDatasetInUse } from '../jobs/live-runs.js';

/** False when there is no such dataset; throws (conflict) when a live run uses it. */
export function removeDataset(db: Db, id: number): boolean {
  return db
    .transaction(() => {
      refuseIfDatasetInUse(db, id);
      return deleteDataset(db, id);
    })
    .immediate();
}

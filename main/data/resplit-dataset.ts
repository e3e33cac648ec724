// Draws a stored dataset's train/validation split again with another fraction or seed, without
// re-importing: the same seeded choice the import makes, over the rows in file order.
import type { Db } from '../../db/database.js';
import { refreshDatasetCounts, setDatasetSplit, getDataset, type DatasetRow } from '../../db/datasets.js';
import { assignSplits, exampleIds } from '../../db/examples.js';
import { chooseValidationIndices } from './seeded-split.js';

export function resplitDataset(db: Db, datasetId: number, split: { valFraction: number; seed: number }): DatasetRow {
  return db.transaction(() => {
    if (!getDataset(db, datasetId)) throw new Error(`no dataset ${datasetId}`);
    const ids = exampleIds(db, datasetId);
    assignSplits(db, datasetId, chooseValidationIndices(ids.length, split.valFraction, split.seed).map((i) => ids[i]!));
    setDatasetSplit(db, datasetId, split);
    refreshDatasetCounts(db, datasetId);
    return getDataset(db, datasetId)!;
  })();
}

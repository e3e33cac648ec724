// A training run's examples as the train job feeds them to the engine: a split of its stored
// dataset templated and tokenized for its model, cut to its sequence length, with the examples that
// have nothing to learn dropped. The recipe export writes the same sequences for a cluster.
import type { TrainSpec } from '../../api/contract.js';
import { trainingDataHash } from '../../data/content-hash.js';
import { iterateTemplatedExamples } from '../../data/tokenized-dataset.js';
import { batchSizeWarning, type TrainSequence } from '../../train/batches.js';
import type { JobContext } from './job-context.js';
import { withStoredDataset } from './stored-dataset.js';

/**
 * A split of the run's dataset as training sees it, tokenized; examples with nothing to learn (no
 * target token) are dropped. The training split must have one. `datasetHash` identifies the training
 * data a checkpoint was made on (dataset ids are reused after a removal).
 */
export function loadSequences(
  databasePath: string | null,
  spec: TrainSpec,
  ctx: JobContext,
  split: 'train' | 'val' = 'train',
): Promise<{ sequences: TrainSequence[]; padId: number; datasetHash: string }> {
  return withStoredDataset(databasePath, spec, ({ db, dataset, tokenizer, template }) => {
    const sequences: TrainSequence[] = [];
    let dropped = 0;
    let truncated = 0;
    for (const row of iterateTemplatedExamples(db, spec.datasetId, tokenizer, template, {
      split,
      trainOnResponsesOnly: spec.responsesOnly,
      maxTokens: spec.seqLen,
    })) {
      if (row.truncated) truncated++;
      if (row.ids.length < 2 || !row.mask.some((m, i) => m === 1 && i > 0)) dropped++;
      else sequences.push({ ids: row.ids, mask: row.mask });
    }
    const kind = split === 'train' ? 'training' : 'validation';
    if (sequences.length === 0 && split === 'train') throw new Error(`dataset ${spec.datasetId} ("${dataset.name}") has no training example with a token to learn`);
    ctx.log('info', `dataset "${dataset.name}": ${sequences.length} ${kind} examples${dropped ? `, ${dropped} without targets skipped` : ''}${truncated ? `, ${truncated} cut to ${spec.seqLen} tokens` : ''}`);
    if (split === 'train') {
      const tooLarge = batchSizeWarning(spec.batchSize, sequences.length);
      if (tooLarge) ctx.log('warn', tooLarge);
    }
    const padId = tokenizer.eosTokenId ?? tokenizer.bosTokenId ?? 0;
    return { sequences, padId, datasetHash: trainingDataHash(db, spec.datasetId) };
  });
}

// The `evaluate` job: held-out loss. Each example of a dataset's split is templated exactly as
// training templates it (same mask, same truncation), scored by the engine, and the negative
// log-likelihood of its target tokens averaged over all of them — the number a training loss
// curve is compared against. Base and fine-tuned models scored on the same split are comparable;
// a LoRA run's model is the base with its adapter (a QLoRA run's on the NF4 base it trained on).
import type { EvaluateSpec } from '../../api/contract.js';
import { countExamples } from '../../../db/examples.js';
import { iterateTemplatedExamples } from '../../data/tokenized-dataset.js';
import type { JobContext } from './job-context.js';
import { openModel } from './open-model.js';
import { withStoredDataset } from './stored-dataset.js';

export interface EvaluateResult {
  model: string;
  adapter: string | null;
  quant: 'none' | 'nf4';
  datasetId: number;
  split: 'val' | 'train';
  examples: number;
  /** Target tokens scored. */
  tokens: number;
  meanNll: number;
  perplexity: number;
  cancelled: boolean;
}

export async function runEvaluate(spec: EvaluateSpec, ctx: JobContext, databasePath: string | null): Promise<EvaluateResult> {
  return withStoredDataset(databasePath, spec, async ({ db, dataset, tokenizer, template }) => {
    const available = countExamples(db, spec.datasetId, spec.split);
    if (available === 0) throw new Error(`dataset ${spec.datasetId} ("${dataset.name}") has no ${spec.split === 'val' ? 'validation' : 'training'} examples`);
    const total = Math.min(available, spec.maxExamples);
    ctx.log('info', `loading ${spec.model}${spec.adapter ? ` with the adapter ${spec.adapter}` : ''}${spec.quant === 'nf4' ? ' (NF4 base)' : ''}`);
    const model = await openModel({ model: spec.model, adapter: spec.adapter, quant: spec.quant });
    const vocab = model.config().vocabSize;
    let cancelled = false;
    ctx.onCancel(() => (cancelled = true));

    let examples = 0;
    let tokens = 0;
    let nll = 0;
    for (const row of iterateTemplatedExamples(db, spec.datasetId, tokenizer, template, {
      split: spec.split,
      trainOnResponsesOnly: spec.responsesOnly,
      maxTokens: spec.seqLen,
    })) {
      if (cancelled || examples >= total) break;
      examples++;
      if (row.ids.length < 2) continue;
      const bad = row.ids.find((id) => id >= vocab);
      if (bad !== undefined) throw new Error(`the tokenizer produced id ${bad}, outside the model's vocabulary of ${vocab}`);
      // logprobs[i] = log p(ids[i + 1] | ids[..i]); mask[i + 1] says whether training learns ids[i + 1].
      const logprobs = await model.score(Int32Array.from(row.ids), 1, row.ids.length);
      for (let i = 0; i + 1 < row.ids.length; i++) {
        if (row.mask[i + 1] !== 1) continue;
        nll -= logprobs[i]!;
        tokens++;
      }
      ctx.progress(examples, total, `example ${examples}/${total}: mean loss so far ${tokens ? (nll / tokens).toFixed(4) : '-'}`);
    }
    if (tokens === 0 && !cancelled) throw new Error(`the ${spec.split} split has no target tokens to score`);
    const meanNll = tokens ? nll / tokens : 0;
    return { model: spec.model, adapter: spec.adapter ?? null, quant: spec.quant, datasetId: spec.datasetId, split: spec.split, examples, tokens, meanNll, perplexity: Math.exp(meanNll), cancelled };
  });
}

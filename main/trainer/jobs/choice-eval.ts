// The `choice-eval` job: multiple-choice accuracy of a model (optionally with an adapter) on SST-2
// or COPA, scored as MeZO does (main/eval/multiple-choice.ts), with progress per example.
import type { ChoiceEvalSpec } from '../../api/contract.js';
import { loadTask, scoreExample } from '../../eval/multiple-choice.js';
import { loadTokenizer } from '../../model/tokenizer.js';
import type { JobContext } from './job-context.js';
import { openModel } from './open-model.js';

export interface ChoiceEvalResult {
  task: 'sst2' | 'copa';
  examples: number;
  correct: number;
  accuracy: number;
  /** Accuracy of always answering the most common label: the floor to beat. */
  majorityAccuracy: number;
  cancelled: boolean;
}

export async function runChoiceEval(spec: ChoiceEvalSpec, ctx: JobContext): Promise<ChoiceEvalResult> {
  const all = loadTask(spec.task, spec.data);
  const examples = spec.limit > 0 ? all.slice(0, spec.limit) : all;
  const tokenizer = loadTokenizer(spec.model);
  const model = await openModel(spec);
  const vocab = model.config().vocabSize;
  let cancelled = false;
  ctx.onCancel(() => (cancelled = true));
  const scorer = {
    encode: (text: string) => tokenizer.encode(text, { addSpecialTokens: true }),
    logprobs: (ids: number[]) => {
      const bad = ids.find((id) => id >= vocab);
      if (bad !== undefined) throw new Error(`the tokenizer produced id ${bad}, outside the model's vocabulary of ${vocab}`);
      return model.score(Int32Array.from(ids), 1, ids.length);
    },
  };
  let correct = 0;
  let done = 0;
  const labelCounts = new Map<number, number>();
  for (const example of examples) {
    if (cancelled) break;
    const r = await scoreExample(example, scorer);
    done++;
    if (r.predicted === r.label) correct++;
    labelCounts.set(r.label, (labelCounts.get(r.label) ?? 0) + 1);
    if (done % 10 === 0 || done === examples.length) ctx.progress(done, examples.length, `${done}/${examples.length}: accuracy ${((100 * correct) / done).toFixed(1)}%`);
  }
  const majority = Math.max(0, ...labelCounts.values());
  return { task: spec.task, examples: done, correct, accuracy: done ? correct / done : 0, majorityAccuracy: done ? majority / done : 0, cancelled };
}

// tunesmith eval: how good a model (or a training run's result) is — multiple-choice accuracy on
// SST-2 or COPA as MeZO scores it, or held-out loss and perplexity on a dataset's validation split.
import { existsSync } from 'node:fs';
import type { EvaluateResult } from '../../trainer/jobs/evaluate.js';
import type { ChoiceEvalResult } from '../../trainer/jobs/choice-eval.js';
import { readRunSpec, runFolder } from '../../train/run-folder.js';
import { followRun, parseIntOption, parseOptions, parseQuant, runEphemeralJob, UsageError, withContext, type CliCommand } from '../command.js';

/** --run RUN_DIR stands for its trained model, or its base model plus its adapter. */
function modelOf(values: { model?: string; adapter?: string; run?: string }): { model: string; adapter?: string; qlora: boolean } {
  if (values.run === undefined) {
    if (!values.model) throw new UsageError('eval needs --model DIR or --run RUN_DIR');
    return { model: values.model, adapter: values.adapter, qlora: false };
  }
  const folder = runFolder(values.run);
  const spec = readRunSpec(folder);
  if (existsSync(folder.adapter)) return { model: spec.model, adapter: folder.adapter, qlora: spec.method === 'qlora' };
  if (existsSync(folder.model)) return { model: folder.model, qlora: false };
  throw new Error(`${folder.dir} has no trained model or adapter yet: has the run finished?`);
}

export const evalCommand: CliCommand = {
  name: 'eval',
  summary: 'Accuracy on SST-2 or COPA, or held-out loss, of a model or a training run',
  help: `Usage: tunesmith eval --task sst2|copa --data FILE (--model DIR [--adapter DIR] | --run RUN_DIR) [options]
       tunesmith eval --task loss --dataset ID --model DIR [options]

  --task T       sst2: "{sentence} It was great|terrible"; copa: premise + " so "/" because " +
                 each choice; the answer with the higher mean token log-likelihood wins (as MeZO
                 and ZO-Bench score them). loss: mean NLL and perplexity of the responses of a
                 dataset's validation split, templated as training templates them
  --data FILE    sst2: a TSV with sentence and label columns; copa: SuperGLUE JSONL
  --dataset ID   loss: the dataset (see "tunesmith data list")
  --model DIR    the model; --adapter DIR adds a PEFT adapter
  --run RUN_DIR  a training run's result (its model, or its base with its adapter)
  --quant nf4    evaluate with the Linear weights in NF4 (QLoRA runs use it automatically)
  --limit N      at most N examples (default: all for sst2/copa, 500 for loss)
  --json         print the result as JSON`,
  async run(argv, io) {
    const { values } = parseOptions(argv, {
      task: { type: 'string' },
      data: { type: 'string' },
      dataset: { type: 'string' },
      model: { type: 'string' },
      adapter: { type: 'string' },
      run: { type: 'string' },
      quant: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
    });
    const task = values.task;
    if (task !== 'sst2' && task !== 'copa' && task !== 'loss') throw new UsageError(`--task must be sst2, copa or loss, got "${task ?? ''}"`);
    const target = modelOf(values);
    const quant = target.qlora ? 'nf4' : parseQuant(values.quant);

    if (task === 'loss') {
      const datasetId = parseIntOption('dataset', values.dataset, 0, 1, 2 ** 31 - 1);
      const maxExamples = parseIntOption('limit', values.limit, 500, 1, 1_000_000);
      return withContext(io, async (ctx) => {
        // The evaluate job loads base + adapter (NF4 base for QLoRA) itself.
        const run = ctx.jobs.start({ kind: 'evaluate', model: target.model, adapter: target.adapter, quant, datasetId, split: 'val', seqLen: 512, responsesOnly: true, maxExamples });
        const ended = await followRun(ctx, io, run.id, { quiet: true });
        if (ended.state !== 'succeeded') {
          io.err(`evaluation ${ended.state}${ended.error ? `: ${ended.error}` : ''}`);
          return 1;
        }
        const r = ended.result as EvaluateResult;
        if (values.json) io.out(JSON.stringify(r, null, 2));
        else io.out(`held-out loss ${r.meanNll.toFixed(4)}, perplexity ${r.perplexity.toFixed(3)} (${r.examples} examples, ${r.tokens} tokens of dataset ${r.datasetId}'s validation split)`);
        return 0;
      });
    }

    if (!values.data) throw new UsageError(`--task ${task} needs --data FILE`);
    const limit = parseIntOption('limit', values.limit, 0, 0, 10_000_000);
    const result = (await withContext(io, (ctx) =>
      runEphemeralJob(ctx, { kind: 'choice-eval', task, data: values.data!, limit, model: target.model, adapter: target.adapter, quant }, {
        progress: (_s, _t, message) => !values.json && io.err(message),
      }),
    )) as ChoiceEvalResult;
    if (values.json) io.out(JSON.stringify(result, null, 2));
    else io.out(`${task}: accuracy ${(100 * result.accuracy).toFixed(1)}% (${result.correct}/${result.examples}); always answering the most common label: ${(100 * result.majorityAccuracy).toFixed(1)}%`);
    return 0;
  },
};

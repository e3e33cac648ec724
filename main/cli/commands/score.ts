// tunesmith score: how likely a model finds a text — per-token log-probabilities, NLL, perplexity.
import { readFileSync } from 'node:fs';
import type { ScoreResult } from '../../trainer/jobs/score.js';
import { parseOptions, parseQuant, runEphemeralJob, UsageError, withContext, type CliCommand } from '../command.js';

export const scoreCommand: CliCommand = {
  name: 'score',
  summary: 'Per-token log-probabilities, total NLL and perplexity of a text under a model',
  help: `Usage: tunesmith score --model DIR (--text T | --file F) [--adapter DIR] [--quant nf4] [--json]

  --model DIR   a Hugging Face model folder (config.json, safetensors, tokenizer.json)
  --adapter DIR a PEFT LoRA adapter to apply on the model
  --quant nf4   score with the Linear weights quantized to NF4 (what 4-bit costs this model)
  --text T      the text to score
  --file F      read the text from a UTF-8 file
  --json        print every token with its log-probability as JSON`,
  async run(argv, io) {
    const { values } = parseOptions(argv, { model: { type: 'string' }, text: { type: 'string' }, file: { type: 'string' }, adapter: { type: 'string' }, quant: { type: 'string' }, json: { type: 'boolean' } });
    const quant = parseQuant(values.quant);
    if (!values.model) throw new UsageError('score needs --model DIR');
    if ((values.text === undefined) === (values.file === undefined)) throw new UsageError('score needs exactly one of --text T or --file F');
    const text = values.text ?? readFileSync(values.file!, 'utf8');
    const result = (await withContext(io, (ctx) => runEphemeralJob(ctx, { kind: 'score', model: values.model!, text, adapter: values.adapter, quant }))) as ScoreResult;
    if (values.json) {
      io.out(JSON.stringify(result, null, 2));
      return 0;
    }
    for (const t of result.tokens) io.out(`${String(t.id).padStart(7)}  ${t.logprob.toFixed(4).padStart(9)}  ${JSON.stringify(t.token)}`);
    io.out(`tokens scored: ${result.count}, total NLL: ${result.totalNll.toFixed(4)}, mean NLL: ${result.meanNll.toFixed(4)}, perplexity: ${result.perplexity.toFixed(3)}`);
    return 0;
  },
};

// tunesmith generate: continue a prompt with a model, streaming the text as it comes.
import type { GenerateResult } from '../../trainer/jobs/generate.js';
import { parseIntOption, parseNumberOption, parseOptions, parseQuant, runEphemeralJob, UsageError, withContext, type CliCommand } from '../command.js';

export const generateCommand: CliCommand = {
  name: 'generate',
  summary: 'Continue a prompt with a model (greedy or sampled), streaming tokens',
  help: `Usage: tunesmith generate --model DIR --prompt P [options]

  --model DIR        a Hugging Face model folder
  --prompt P         the text to continue
  --max-tokens N     at most N new tokens (default 128)
  --temperature T    0 picks the likeliest token each time (default 0)
  --top-k K          sample among the K likeliest tokens (default 0: off)
  --top-p P          sample among the likeliest tokens whose probabilities sum to P (default 1: off)
  --seed N           seed for sampling (default 0)
  --stop S           stop at this text (repeatable)
  --adapter DIR      a PEFT LoRA adapter to apply on the model
  --quant nf4        generate with the Linear weights quantized to NF4
  --json             print the result as JSON instead of streaming`,
  async run(argv, io) {
    const { values } = parseOptions(argv, {
      model: { type: 'string' },
      prompt: { type: 'string' },
      'max-tokens': { type: 'string' },
      temperature: { type: 'string' },
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      seed: { type: 'string' },
      stop: { type: 'string', multiple: true },
      adapter: { type: 'string' },
      quant: { type: 'string' },
      json: { type: 'boolean' },
    });
    if (!values.model) throw new UsageError('generate needs --model DIR');
    if (values.prompt === undefined) throw new UsageError('generate needs --prompt P');
    const spec = {
      kind: 'generate' as const,
      model: values.model,
      prompt: values.prompt,
      maxTokens: parseIntOption('max-tokens', values['max-tokens'], 128, 1, 1_000_000),
      temperature: parseNumberOption('temperature', values.temperature, 0, 0, 10),
      topK: parseIntOption('top-k', values['top-k'], 0, 0, 1_000_000),
      topP: parseNumberOption('top-p', values['top-p'], 1, 1e-6, 1),
      seed: parseIntOption('seed', values.seed, 0, 0, 2 ** 31 - 1),
      stop: values.stop ?? [],
      adapter: values.adapter,
      quant: parseQuant(values.quant),
    };
    const stream = !values.json;
    if (stream) process.stdout.write(spec.prompt);
    const result = (await withContext(io, (ctx) =>
      runEphemeralJob(ctx, spec, { text: (chunk) => stream && process.stdout.write(chunk) }),
    )) as GenerateResult;
    if (stream) process.stdout.write('\n');
    else io.out(JSON.stringify(result, null, 2));
    return 0;
  },
};

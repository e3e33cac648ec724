// tunesmith export: a training run as a PEFT adapter, a merged Hugging Face model, or a recipe that
// trains it again on a cluster with accelerate (FSDP or DeepSpeed).
import { resolve } from 'node:path';
import { checkWritableFolder } from '../../system/writable-output.js';
import type { ExportResult } from '../../trainer/jobs/export.js';
import { parseIntOption, parseOptions, runEphemeralJob, UsageError, withContext, type CliCommand } from '../command.js';

export const exportCommand: CliCommand = {
  name: 'export',
  summary: 'Export a training run as a PEFT adapter, a merged Hugging Face model or a recipe for a cluster',
  help: `Usage: tunesmith export --run RUN_DIR --format peft|merged|recipe --out DIR [--dtype bf16|f16|f32]
                        [--gpus N] [--nodes N] [--from-step N]

  --run RUN_DIR    a run folder written by "tunesmith train --out RUN_DIR"
  --format F       peft: the LoRA adapter (adapter_config.json + adapter_model.safetensors) that
                   PEFT loads onto the base; merged: the adapter folded into the base (QLoRA:
                   onto the dequantized base), a folder transformers and Tunesmith load;
                   recipe: a folder that trains the run again with Hugging Face accelerate
                   (FSDP or DeepSpeed ZeRO-3): its tokenized data, train.py, accelerate configs,
                   requirements.txt and a README with the launch commands
  --out DIR        where to write it (must be new or empty)
  --dtype D        merged weights: bf16 (default), f16 or f32
  --gpus N         recipe: GPUs per node (default 8)
  --nodes N        recipe: nodes (default 1)
  --from-step N    recipe: start from the run's weights at this checkpoint step (fresh optimizer)
                   instead of the base model, and train the steps after it
  --json           print the result as JSON`,
  async run(argv, io) {
    const { values } = parseOptions(argv, {
      run: { type: 'string' },
      format: { type: 'string' },
      out: { type: 'string' },
      dtype: { type: 'string' },
      gpus: { type: 'string' },
      nodes: { type: 'string' },
      'from-step': { type: 'string' },
      json: { type: 'boolean' },
    });
    if (!values.run) throw new UsageError('export needs --run RUN_DIR');
    const format = values.format;
    if (format !== 'peft' && format !== 'merged' && format !== 'recipe') throw new UsageError(`--format must be peft, merged or recipe, got "${format ?? ''}"`);
    if (!values.out) throw new UsageError('export needs --out DIR');
    const dtype = values.dtype ?? 'bf16';
    if (dtype !== 'bf16' && dtype !== 'f16' && dtype !== 'f32') throw new UsageError(`--dtype must be bf16, f16 or f32, got "${dtype}"`);
    // Before the run is read and a process started: a folder that cannot be written fails now.
    checkWritableFolder(resolve(values.out));
    if (format !== 'recipe') {
      for (const name of ['gpus', 'nodes', 'from-step'] as const) if (values[name] !== undefined) throw new UsageError(`--${name} applies to --format recipe only`);
    }
    const gpus = parseIntOption('gpus', values.gpus, 8, 1, 1024);
    const nodes = parseIntOption('nodes', values.nodes, 1, 1, 4096);
    const fromStep = values['from-step'] === undefined ? undefined : parseIntOption('from-step', values['from-step'], 1, 1, 10_000_000);
    const result = (await withContext(io, (ctx) =>
      runEphemeralJob(ctx, { kind: 'export', run: values.run!, format, out: values.out!, dtype, maxShardBytes: 5_000_000_000, gpus, nodes, fromStep }, {
        progress: (_step, _total, message) => !values.json && io.out(message),
      }),
    )) as ExportResult;
    if (values.json) io.out(JSON.stringify(result, null, 2));
    else if (result.format === 'peft') io.out(`adapter written to ${result.out}`);
    return 0;
  },
};

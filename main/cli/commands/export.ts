// tunesmith export: a training run as a PEFT adapter or a merged Hugging Face model.
import { resolve } from 'node:path';
import { checkWritableFolder } from '../../system/writable-output.js';
import type { ExportResult } from '../../trainer/jobs/export.js';
import { parseOptions, runEphemeralJob, UsageError, withContext, type CliCommand } from '../command.js';

export const exportCommand: CliCommand = {
  name: 'export',
  summary: 'Export a training run as a PEFT adapter or a merged Hugging Face model',
  help: `Usage: tunesmith export --run RUN_DIR --format peft|merged --out DIR [--dtype bf16|f16|f32]

  --run RUN_DIR    a run folder written by "tunesmith train --out RUN_DIR"
  --format F       peft: the LoRA adapter (adapter_config.json + adapter_model.safetensors) that
                   PEFT loads onto the base; merged: the adapter folded into the base (QLoRA:
                   onto the dequantized base), a folder transformers and Tunesmith load
  --out DIR        where to write it (must be new or empty)
  --dtype D        merged weights: bf16 (default), f16 or f32
  --json           print the result as JSON`,
  async run(argv, io) {
    const { values } = parseOptions(argv, { run: { type: 'string' }, format: { type: 'string' }, out: { type: 'string' }, dtype: { type: 'string' }, json: { type: 'boolean' } });
    if (!values.run) throw new UsageError('export needs --run RUN_DIR');
    if (values.format !== 'peft' && values.format !== 'merged') throw new UsageError(`--format must be peft or merged, got "${values.format ?? ''}"`);
    if (!values.out) throw new UsageError('export needs --out DIR');
    const dtype = values.dtype ?? 'bf16';
    if (dtype !== 'bf16' && dtype !== 'f16' && dtype !== 'f32') throw new UsageError(`--dtype must be bf16, f16 or f32, got "${dtype}"`);
    // Before the run is read and a process started: a folder that cannot be written fails now.
    checkWritableFolder(resolve(values.out));
    const result = (await withContext(io, (ctx) =>
      runEphemeralJob(ctx, { kind: 'export', run: values.run!, format: values.format as 'peft' | 'merged', out: values.out!, dtype, maxShardBytes: 5_000_000_000 }, {
        progress: (_step, _total, message) => !values.json && io.out(message),
      }),
    )) as ExportResult;
    if (values.json) io.out(JSON.stringify(result, null, 2));
    else if (result.format === 'peft') io.out(`adapter written to ${result.out}`);
    return 0;
  },
};

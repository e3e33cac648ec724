// tunesmith estimate: how much memory a fine-tuning run will take, before starting it — the same
// estimator the Method step's memory bar uses (main/estimate/memory-estimate.ts).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { checkFit, TRAIN_METHODS, type TrainMethod } from '../../estimate/memory-estimate.js';
import { ModelConfigError, modelShapeFromConfig, parameterCount } from '../../estimate/model-shape.js';
import { formatBytes, parseIntOption, parseOptions, UsageError, withContext, type CliCommand } from '../command.js';

export const estimateCommand: CliCommand = {
  name: 'estimate',
  summary: 'Estimate the memory a fine-tuning run needs, against this machine\'s GPU or RAM',
  help: `Usage: tunesmith estimate --model DIR [options]

  --model DIR          a Hugging Face model folder (only config.json is read)
  --method M           ${TRAIN_METHODS.join(', ')} (default full)
  --device D           cuda (the bf16 GPU engine) or cpu (the fp32 CPU engine); default: cuda
                       when a CUDA device is found, else cpu
  --bf16-states        CUDA full/LISA: AdamW moments in bf16
  --seq-len N          tokens per sequence (default 512)
  --batch-size N       sequences per micro-batch (default 1)
  --optimizer O        adamw (default) or sgd
  --checkpointing      recompute activations in backward
  --rank N             LoRA/QLoRA adapter rank (default 16)
  --lisa-layers N      LISA: layers trained at a time, γ (default 2)
  --budget BYTES       compare against this many bytes instead of the GPU (or RAM) found
  --json               print the estimate as JSON`,
  async run(argv, io) {
    const { values } = parseOptions(argv, {
      model: { type: 'string' },
      method: { type: 'string' },
      device: { type: 'string' },
      'bf16-states': { type: 'boolean' },
      'seq-len': { type: 'string' },
      'batch-size': { type: 'string' },
      optimizer: { type: 'string' },
      checkpointing: { type: 'boolean' },
      rank: { type: 'string' },
      'lisa-layers': { type: 'string' },
      budget: { type: 'string' },
      json: { type: 'boolean' },
    });
    if (!values.model) throw new UsageError('estimate needs --model DIR');
    const method = (values.method ?? 'full') as TrainMethod;
    if (!TRAIN_METHODS.includes(method)) throw new UsageError(`--method must be one of ${TRAIN_METHODS.join(', ')}, got "${values.method}"`);
    const optimizer = values.optimizer ?? 'adamw';
    if (optimizer !== 'adamw' && optimizer !== 'sgd') throw new UsageError(`--optimizer must be adamw or sgd, got "${optimizer}"`);
    const configFile = join(resolve(values.model), 'config.json');
    if (!existsSync(configFile)) {
      io.err(`${configFile} is missing: is this a Hugging Face model folder?`);
      return 1;
    }
    let shape;
    try {
      shape = modelShapeFromConfig(JSON.parse(readFileSync(configFile, 'utf8')));
    } catch (err) {
      io.err(`${configFile}: ${err instanceof ModelConfigError || err instanceof SyntaxError ? err.message : String(err)}`);
      return 1;
    }
    if (values.device !== undefined && values.device !== 'cpu' && values.device !== 'cuda') {
      throw new UsageError(`--device must be cpu or cuda, got "${values.device}"`);
    }
    const input = {
      shape,
      method,
      bf16OptimizerStates: values['bf16-states'] ?? false,
      seqLen: parseIntOption('seq-len', values['seq-len'], 512, 2, 1 << 20),
      batchSize: parseIntOption('batch-size', values['batch-size'], 1, 1, 4096),
      optimizer: optimizer as 'adamw' | 'sgd',
      checkpointing: values.checkpointing ?? undefined,
      loraRank: parseIntOption('rank', values.rank, 16, 1, 4096),
      lisaLayers: parseIntOption('lisa-layers', values['lisa-layers'], 2, 1, 1024),
    };
    let budget: number;
    let against: string;
    let device = values.device as 'cpu' | 'cuda' | undefined;
    if (values.budget !== undefined) {
      budget = parseIntOption('budget', values.budget, 0, 1, Number.MAX_SAFE_INTEGER);
      against = 'the given budget';
      device ??= 'cpu';
    } else {
      const info = await withContext(io, (ctx) => ctx.handlers['system.info']({ refresh: false }));
      const gpu = info.engine.cuda.devices[0];
      device ??= gpu ? 'cuda' : 'cpu';
      budget = device === 'cuda' && gpu ? gpu.totalMemory : info.host.totalMemory;
      against = device === 'cuda' ? (gpu ? `${gpu.name} memory` : 'system RAM (no GPU found to compare with)') : 'system RAM';
    }
    const fit = checkFit({ ...input, device }, budget);
    if (values.json) {
      io.out(JSON.stringify({ input: { ...input, device, shape: undefined }, parameters: parameterCount(shape), ...fit }, null, 2));
      return fit.fits ? 0 : 1;
    }
    const e = fit.estimate;
    const checkpointed = input.checkpointing ?? device === 'cuda';
    io.out(`${method} fine-tuning on the ${device === 'cuda' ? 'CUDA (bf16)' : 'CPU (fp32)'} engine, ${input.seqLen} tokens × batch ${input.batchSize}${checkpointed ? ', checkpointing' : ''}: ${e.trainableParams.toLocaleString('en-US')} of ${e.totalParams.toLocaleString('en-US')} parameters trained`);
    io.out(`weights:      ${formatBytes(e.weights)}`);
    io.out(`gradients:    ${formatBytes(e.gradients)}`);
    io.out(`optimizer:    ${formatBytes(e.optimizer)}`);
    io.out(`activations:  ${formatBytes(e.activations)}`);
    if (e.runtimeOverhead) io.out(`CUDA runtime: ${formatBytes(e.runtimeOverhead)} (context and cuBLAS, assumed)`);
    io.out(`total:        ${formatBytes(e.total)} of ${formatBytes(budget)} (${against})`);
    if (!fit.fits) io.out(`does not fit${fit.suggestion ? `; would fit with ${fit.suggestion}` : ''}`);
    return fit.fits ? 0 : 1;
  },
};

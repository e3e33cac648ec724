// The `export` job: a training run's result in a form other tools load. "peft" copies the run's
// LoRA adapter (adapter_config.json + adapter_model.safetensors, PEFT's names); "merged" folds the
// adapter into the base (QLoRA: onto the NF4-dequantized base it was trained on) — or takes a
// full-weight run's model — and writes a Hugging Face folder in the chosen dtype, sharded at 5 GB.
// Then it reloads what it wrote and compares its logits with the in-memory model on a probe. Both
// are written into a staging folder and renamed into place only when complete (and, merged, checked).
// "recipe" hands the run over to a cluster (export-recipe.ts).
import { cpSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { usesAdapter, type ExportSpec } from '../../api/contract.js';
import { loadEngine } from '../../engine/native.js';
import { readRunSpec, runFolder } from '../../train/run-folder.js';
import { checkOutputFolder, writeFolderStaged } from '../../train/staged-folder.js';
import { runRecipeExport } from './export-recipe.js';
import type { JobContext } from './job-context.js';
import { openModel } from './open-model.js';

export interface ExportResult {
  format: 'peft' | 'merged' | 'recipe';
  out: string;
  dtype: string | null;
  /** ‖reloaded − source‖/‖source‖ over the probe's logits (merged only). */
  reloadRelError: number | null;
  /** Recipe: the command that starts it on the cluster. */
  launch?: string;
}

export async function runExport(spec: ExportSpec, ctx: JobContext, databasePath: string | null): Promise<ExportResult> {
  if (spec.format === 'recipe') return runRecipeExport(spec, ctx, databasePath);
  const folder = runFolder(spec.run);
  const run = readRunSpec(folder);
  const out = resolve(spec.out);
  checkOutputFolder(out, 'export folder'); // before loading anything: a taken folder fails at once
  const adapter = usesAdapter(run);

  if (spec.format === 'peft') {
    if (!adapter) throw new Error(`run ${folder.dir} trained all weights with ${run.method}: there is no adapter to export; use --format merged`);
    if (!existsSync(folder.adapter)) throw new Error(`${folder.adapter} not found: the run has not finished (resume it first)`);
    await writeFolderStaged(out, async (staging) => cpSync(folder.adapter, staging, { recursive: true }), { what: 'export folder' });
    ctx.log('info', `adapter written to ${out}`);
    return { format: 'peft', out, dtype: null, reloadRelError: null };
  }

  const source = adapter ? folder.adapter : folder.model;
  if (!existsSync(source)) throw new Error(`${source} not found: the run has not finished (resume it first)`);
  ctx.progress(0, 2, 'loading the trained model');
  const model = adapter
    ? await openModel({ model: run.model, adapter: folder.adapter, quant: run.method === 'qlora' ? 'nf4' : 'none' })
    : await loadEngine().loadModel(folder.model);
  ctx.progress(1, 2, `writing a merged ${spec.dtype} model`);
  let reloadRelError = NaN;
  await writeFolderStaged(
    out,
    async (staging) => {
      await model.saveMerged(adapter ? run.model : folder.model, staging, { dtype: spec.dtype, maxShardBytes: spec.maxShardBytes });

      // Reload and compare on a probe: catches a broken file, a wrong name or a bad dtype conversion.
      const vocab = model.config().vocabSize;
      const probe = Int32Array.from({ length: 16 }, (_, i) => (i * 7919 + 1) % vocab);
      const expected = await model.logits(probe, 1, probe.length);
      const reloaded = await (await loadEngine().loadModel(staging)).logits(probe, 1, probe.length);
      let num = 0;
      let den = 0;
      for (let i = 0; i < expected.length; i++) {
        num += (reloaded[i]! - expected[i]!) ** 2;
        den += expected[i]! ** 2;
      }
      reloadRelError = Math.sqrt(num / den);
      // f32 should be exact up to summation order; bf16/f16 round every weight (8 and 11 bits), and the
      // rounding compounds through the layers: a LoRA-trained stories260K measured 3.2e-2 (bf16) and
      // 2.7e-3 (f16). A wrong name or a broken conversion is off by O(1), far above either bound.
      const tolerance = spec.dtype === 'f32' ? 1e-5 : spec.dtype === 'f16' ? 1e-2 : 8e-2;
      if (!(reloadRelError <= tolerance)) throw new Error(`the exported model's logits differ from the trained model's by ${reloadRelError.toExponential(2)} (over ${tolerance} for ${spec.dtype})`);
    },
    { what: 'export folder' },
  );
  ctx.progress(2, 2, `merged model written to ${out}; reloaded logits within ${reloadRelError.toExponential(2)}`);
  return { format: 'merged', out, dtype: spec.dtype, reloadRelError };
}

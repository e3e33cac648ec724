// Loading a model for inference the way the user asked: the base, optionally with a PEFT adapter,
// optionally with its Linear weights in NF4 (what QLoRA trains on, and what `score --quant nf4`
// measures the cost of).
import { loadEngine, type NativeModel } from '../../engine/native.js';

export async function openModel(options: { model: string; adapter?: string; quant?: 'none' | 'nf4'; threads?: number }): Promise<NativeModel> {
  const model = await loadEngine().loadModel(options.model, { threads: options.threads ?? 0 });
  const nf4 = options.quant === 'nf4';
  if (options.adapter) await model.loadAdapter(options.adapter, { quantizeNf4: nf4 });
  // A LoRA whose B is zero adds nothing: attaching one with an NF4 base leaves exactly the
  // quantized base model.
  else if (nf4) await model.attachLora({ targets: 'all-linear', r: 1, alpha: 1, quantizeNf4: true });
  return model;
}

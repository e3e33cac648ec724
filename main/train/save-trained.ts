// Writing what a training run trained: the LoRA adapter as a PEFT folder (LoRA, QLoRA, zeroth-order
// over LoRA), or every weight as a Hugging Face folder beside the base's config and tokenizer.
// The train job writes its result this way, and a recipe export its start weights at a checkpoint.
import { basename, join } from 'node:path';
import type { NativeModel } from '../engine/native.js';
import { writeHfFolder } from './hf-folder.js';

export async function saveTrainedAdapter(model: NativeModel, baseModel: string, out: string): Promise<string> {
  await model.saveAdapter(out, basename(baseModel));
  return out;
}

export function saveTrainedModel(model: NativeModel, baseModel: string, out: string): Promise<string> {
  return writeHfFolder({ baseModel, out, torchDtype: 'float32', writeWeights: (dir) => model.save(join(dir, 'model.safetensors')) });
}

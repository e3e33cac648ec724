// Writing what a training run trained: the LoRA adapter as a PEFT folder (LoRA, QLoRA, zeroth-order
// over LoRA), or every weight as a Hugging Face folder beside the base's config and tokenizer. Both
// are staged and renamed into place whole. The train job writes its result this way, and a recipe
// export its start weights at a checkpoint.
import { basename, join } from 'node:path';
import type { NativeModel } from '../engine/native.js';
import { writeHfFolder } from './hf-folder.js';
import { writeFolderStaged } from './staged-folder.js';

/** `replace`: a complete earlier result in `out` is replaced (a run resumed to train longer). */
export interface SaveOptions {
  replace?: boolean;
}

export function saveTrainedAdapter(model: NativeModel, baseModel: string, out: string, options: SaveOptions = {}): Promise<string> {
  return writeFolderStaged(out, (staging) => model.saveAdapter(staging, basename(baseModel)), { replace: options.replace });
}

export function saveTrainedModel(model: NativeModel, baseModel: string, out: string, options: SaveOptions = {}): Promise<string> {
  return writeHfFolder({ baseModel, out, torchDtype: 'float32', replace: options.replace, writeWeights: (dir) => model.save(join(dir, 'model.safetensors')) });
}

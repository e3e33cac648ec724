// Writing a trained model as a Hugging Face folder that transformers (and Tunesmith) load: the
// weights plus the base model's config and tokenizer files. Written into a temporary sibling folder
// and renamed into place (staged-folder.ts), so a crash never leaves a half-written model under the final name.
import { chmodSync, copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFolderStaged } from './staged-folder.js';

/** Files copied from the base model folder when present. */
const COPIED_FILES = ['tokenizer.json', 'tokenizer_config.json', 'tokenizer.model', 'special_tokens_map.json', 'generation_config.json', 'chat_template.jinja'];

export async function writeHfFolder(options: {
  baseModel: string;
  out: string;
  /** Writes model.safetensors into the folder it is given. */
  writeWeights: (folder: string) => Promise<void>;
  torchDtype: 'float32' | 'bfloat16' | 'float16';
  /** Replace a complete model already there (a resumed run's own result) instead of refusing it. */
  replace?: boolean;
}): Promise<string> {
  return writeFolderStaged(
    options.out,
    async (staging) => {
      await options.writeWeights(staging);
      const config = JSON.parse(readFileSync(join(options.baseModel, 'config.json'), 'utf8')) as Record<string, unknown>;
      // transformers 5 names it `dtype` (and reads it first); keep both keys telling the truth.
      config['torch_dtype'] = options.torchDtype;
      if ('dtype' in config) config['dtype'] = options.torchDtype;
      writeFileSync(join(staging, 'config.json'), JSON.stringify(config, null, 2) + '\n');
      for (const name of COPIED_FILES) {
        const from = join(options.baseModel, name);
        if (!existsSync(from)) continue;
        copyFileSync(from, join(staging, name));
        chmodSync(join(staging, name), 0o644); // the base folder may be read-only; the export should not be
      }
    },
    { replace: options.replace },
  );
}

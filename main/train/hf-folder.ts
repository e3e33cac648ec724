// Writing a trained model as a Hugging Face folder that transformers (and Tunesmith) load: the
// weights plus the base model's config and tokenizer files. Written into a temporary sibling folder
// and renamed into place, so a crash never leaves a half-written model under the final name.
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/** Files copied from the base model folder when present. */
const COPIED_FILES = ['tokenizer.json', 'tokenizer_config.json', 'tokenizer.model', 'special_tokens_map.json', 'generation_config.json', 'chat_template.jinja'];

/** Refuses an output folder that already holds something: a new run never overwrites an old one. */
export function checkOutputFolder(out: string): void {
  if (existsSync(out) && readdirSync(out).length > 0) {
    throw new Error(`the output folder ${out} already exists and is not empty: choose a new folder`);
  }
}

export async function writeHfFolder(options: {
  baseModel: string;
  out: string;
  /** Writes model.safetensors into the folder it is given. */
  writeWeights: (folder: string) => Promise<void>;
  torchDtype: 'float32' | 'bfloat16' | 'float16';
}): Promise<string> {
  const out = resolve(options.out);
  checkOutputFolder(out);
  mkdirSync(dirname(out), { recursive: true });
  const staging = join(dirname(out), `.${basename(out)}.partial-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging);
  try {
    await options.writeWeights(staging);
    const config = JSON.parse(readFileSync(join(options.baseModel, 'config.json'), 'utf8')) as Record<string, unknown>;
    config['torch_dtype'] = options.torchDtype;
    writeFileSync(join(staging, 'config.json'), JSON.stringify(config, null, 2) + '\n');
    for (const name of COPIED_FILES) {
      const from = join(options.baseModel, name);
      if (!existsSync(from)) continue;
      copyFileSync(from, join(staging, name));
      chmodSync(join(staging, name), 0o644); // the base folder may be read-only; the export should not be
    }
    if (existsSync(out)) rmSync(out, { recursive: true }); // empty, checked above
    renameSync(staging, out);
    return out;
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
}

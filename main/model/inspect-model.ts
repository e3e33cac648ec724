// What the Model step shows about a local Hugging Face folder, and every reason it cannot be used,
// each naming the file and what was expected. The engine's own load-time checks run too (in the
// trainer process, through `checkWithEngine`), so a folder shown as usable is one `score` and
// training will load. Recording it in the models table makes it a recent model.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from '../../db/database.js';
import type { ModelSummary } from '../api/contract.js';
import { templateStopToken } from '../data/templated-example.js';
import { dtypeFromConfig, ModelConfigError, modelShapeFromConfig, parameterCount } from '../estimate/model-shape.js';
import { ModelFolderError, openModelForData, requireModelFolder } from './model-folder.js';

export { ModelFolderError };

function weightFiles(dir: string): string[] {
  if (existsSync(join(dir, 'model.safetensors'))) return ['model.safetensors'];
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(index)) {
    let map: unknown;
    try {
      map = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map?: unknown }).weight_map;
    } catch (err) {
      throw new ModelFolderError(`${index}: not valid JSON (${(err as Error).message})`);
    }
    if (!map || typeof map !== 'object') throw new ModelFolderError(`${index}: expected a "weight_map" object naming the shard of each tensor`);
    const shards = [...new Set(Object.values(map as Record<string, string>))].sort();
    const missing = shards.filter((s) => !existsSync(join(dir, s)));
    if (missing.length) throw new ModelFolderError(`${index} names shard(s) that are not in the folder: ${missing.join(', ')}`);
    return shards;
  }
  const other = readdirSync(dir).filter((f) => /\.(bin|pt|pth|gguf)$/.test(f));
  throw new ModelFolderError(
    `no weights in ${dir}: expected model.safetensors or model.safetensors.index.json with its shards` +
      (other.length ? ` (found ${other.join(', ')}: only safetensors weights are read; convert them first)` : ''),
  );
}

/**
 * `checkWithEngine(dir)` runs the engine's checks of the folder (config, safetensors headers,
 * tensor shapes and dtypes) and rejects with the engine's message; it runs after the checks here,
 * which name what is missing in the user's terms, and before the folder is recorded.
 */
export async function inspectModelFolder(db: Db, path: string, checkWithEngine: (dir: string) => Promise<void>): Promise<ModelSummary> {
  const dir = requireModelFolder(path);
  const configFile = join(dir, 'config.json');
  if (!existsSync(configFile)) throw new ModelFolderError(`${configFile} is missing: is this a Hugging Face model folder?`);
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new ModelFolderError(`${configFile}: not valid JSON (${(err as Error).message})`);
  }
  let shape;
  try {
    shape = modelShapeFromConfig(config);
  } catch (err) {
    if (err instanceof ModelConfigError) throw new ModelFolderError(`${configFile}: ${err.message}`);
    throw err;
  }
  const tokenizerFile = join(dir, 'tokenizer.json');
  if (!existsSync(tokenizerFile)) {
    const hasSpm = existsSync(join(dir, 'tokenizer.model'));
    throw new ModelFolderError(`${tokenizerFile} is missing: the fast-tokenizer file is needed${hasSpm ? ' (tokenizer.model alone is not read; save the tokenizer with transformers to get tokenizer.json)' : ''}`);
  }
  const files = weightFiles(dir);
  const weightBytes = files.reduce((n, f) => n + statSync(join(dir, f)).size, 0);
  try {
    await checkWithEngine(dir);
  } catch (err) {
    throw new ModelFolderError((err as Error).message);
  }
  const opened = openModelForData(db, dir);
  const stop = templateStopToken(opened.tokenizer, opened.template);
  const warnings: string[] = [];
  if (stop.id !== null && !stop.inModelStopList) {
    warnings.push(`the chat template ends answers with ${stop.token}, which is not among the model's stop tokens; exports add it so generation stops`);
  }
  if (opened.tokenizer.vocabSize > shape.vocabSize) {
    warnings.push(`the tokenizer has ${opened.tokenizer.vocabSize} tokens but config.json's vocab_size is ${shape.vocabSize}`);
  }
  const counts = parameterCount(shape);
  return {
    id: opened.modelId,
    path: dir,
    name: dir.split(/[\\/]/).pop() ?? dir,
    shape,
    parameters: { total: counts.total, embedding: counts.embedding, perLayer: counts.perLayer, head: counts.head },
    dtype: dtypeFromConfig(config),
    weightFiles: files,
    weightBytes,
    chatTemplate: { own: opened.tokenizer.chatTemplate !== null, used: opened.template.name, stopToken: stop.token },
    warnings,
  };
}

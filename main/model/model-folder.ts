// A model folder as the data layer needs it: recorded in the models table (so a dataset can say
// which tokenizer its counts came from), with its tokenizer and the chat template to train with.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Db } from '../../db/database.js';
import { upsertModel } from '../../db/models.js';
import { resolveChatTemplate, type BuiltinTemplateName, type ChatTemplate } from './chat-template.js';
import { loadTokenizer, type ModelTokenizer } from './tokenizer.js';

export interface ModelForData {
  modelId: number;
  path: string;
  tokenizer: ModelTokenizer;
  template: ChatTemplate;
}

/** Hash of the files that decide tokenization, so a changed folder at the same path is noticed. */
function tokenizerFilesHash(dir: string): string {
  const h = createHash('sha256');
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
    const p = join(dir, f);
    h.update(f).update('\0');
    if (existsSync(p)) h.update(readFileSync(p));
  }
  return h.digest('hex');
}

/** The folder cannot be used; the message says which file and what was expected. */
export class ModelFolderError extends Error {}

/** The path is an existing folder (not a file picked by mistake); returns it resolved. */
export function requireModelFolder(path: string): string {
  const dir = resolve(path);
  if (!existsSync(dir)) throw new ModelFolderError(`${dir} does not exist: expected a Hugging Face model folder`);
  if (!statSync(dir).isDirectory()) throw new ModelFolderError(`${dir} is a file: choose the folder that holds config.json`);
  return dir;
}

export function openModelForData(db: Db, modelDir: string, template?: BuiltinTemplateName | 'model'): ModelForData {
  const path = requireModelFolder(modelDir);
  const tokenizer = loadTokenizer(path);
  const configFile = join(path, 'config.json');
  const config: unknown = existsSync(configFile) ? JSON.parse(readFileSync(configFile, 'utf8')) : {};
  const row = upsertModel(db, { path, name: basename(path), config, hash: tokenizerFilesHash(path) });
  return { modelId: row.id, path, tokenizer, template: resolveChatTemplate(tokenizer, template) };
}

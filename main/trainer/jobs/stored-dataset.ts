// A stored dataset as a trainer-process job reads it: the app's database opened read-only (the main
// process is the only writer), the dataset row, and the model's tokenizer with the chat template
// the job asked for or else the one the dataset was imported with.
import Database from 'better-sqlite3';
import { getDataset, type DatasetRow } from '../../../db/datasets.js';
import type { Db } from '../../../db/database.js';
import { resolveChatTemplate, type BuiltinTemplateName, type ChatTemplate } from '../../model/chat-template.js';
import { loadTokenizer, type ModelTokenizer } from '../../model/tokenizer.js';

export interface StoredDataset {
  db: Db;
  dataset: DatasetRow;
  tokenizer: ModelTokenizer;
  template: ChatTemplate;
}

/** Runs `use` with the dataset open, and closes the database however it ends. */
export async function withStoredDataset<T>(
  databasePath: string | null,
  spec: { datasetId: number; model: string; template?: BuiltinTemplateName | 'model' },
  use: (data: StoredDataset) => T | Promise<T>,
): Promise<T> {
  if (!databasePath) throw new Error('the trainer process was started without a database to read the dataset from');
  const db = new Database(databasePath, { readonly: true, fileMustExist: true });
  try {
    const dataset = getDataset(db, spec.datasetId);
    if (!dataset) throw new Error(`no dataset with id ${spec.datasetId}`);
    const tokenizer = loadTokenizer(spec.model);
    const template = resolveChatTemplate(tokenizer, spec.template ?? ((dataset.template ?? undefined) as BuiltinTemplateName | 'model' | undefined));
    return await use({ db, dataset, tokenizer, template });
  } finally {
    db.close();
  }
}

// Worker-thread entry of a dataset import. importDataset is synchronous (it reads, parses and
// writes in one go), so the app runs it here, on its own connection to the same database and at
// background priority, and the app's thread stays free for the UI and the API. Its writes are
// short transactions, so the app's own writes get the lock in between. Progress and the outcome go
// back as messages.
import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from '../../db/database.js';
import { openModelForData } from '../model/model-folder.js';
import { runInBackground } from '../system/background-priority.js';
import type { BuiltinTemplateName } from '../model/chat-template.js';
import { importDataset, ImportRejectedError, type ImportOptions } from './import-dataset.js';
import { contextLengthCheck } from './templated-example.js';
import type { ImportWorkerMessage, ImportWorkerRequest } from './import-in-worker.js';

const request = workerData as ImportWorkerRequest;
const post = (m: ImportWorkerMessage): void => parentPort!.postMessage(m);
runInBackground();

try {
  const db = openDatabase(request.databasePath);
  try {
    const options: ImportOptions = {
      ...request.options,
      onProgress: (p) => post({ type: 'progress', progress: p }),
    };
    if (request.model) {
      // Rows longer than the model's context are reported as bad rows, counted with its tokenizer
      // and the template training will use.
      const model = openModelForData(db, request.model, request.template as BuiltinTemplateName | 'model' | undefined);
      const context = model.tokenizer.contextLength;
      if (context) options.lengthCheck = contextLengthCheck(model.tokenizer, model.template, { modelId: model.modelId, maxTokens: context });
    }
    const result = importDataset(db, request.file, options);
    post({ type: 'imported', dataset: result.dataset, report: result.report });
  } finally {
    db.close();
  }
} catch (err) {
  if (err instanceof ImportRejectedError) post({ type: 'rejected', message: err.message, report: err.report });
  else post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
}

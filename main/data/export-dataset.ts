// Writes a stored dataset back out as JSONL in OpenAI chat format ({"messages": [...]}) or
// {"text": ...} rows, so what Tunesmith cleaned can be reused by other tools. Streams row by row.
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Db } from '../../db/database.js';
import { iterateExamples } from '../../db/examples.js';
import type { Split } from './example.js';

/** Writes the JSONL to an open file descriptor (1 for stdout); returns the number of rows written. */
export function writeDatasetJsonl(db: Db, datasetId: number, fd: number, options: { split?: Split } = {}): number {
  let n = 0;
  let buffer = '';
  for (const row of iterateExamples(db, datasetId, options.split)) {
    const value = row.example.kind === 'chat' ? { messages: row.example.messages } : { text: row.example.text };
    buffer += JSON.stringify(value) + '\n';
    n++;
    if (buffer.length > 1 << 20) {
      writeSync(fd, buffer);
      buffer = '';
    }
  }
  if (buffer) writeSync(fd, buffer);
  return n;
}

export function exportDatasetJsonl(db: Db, datasetId: number, file: string, options: { split?: Split } = {}): number {
  const fd = openSync(file, 'w');
  try {
    return writeDatasetJsonl(db, datasetId, fd, options);
  } finally {
    closeSync(fd);
  }
}

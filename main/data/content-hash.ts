// Content hashes. Exact-duplicate detection: two rows are duplicates when their normalised examples
// are identical (same roles, same text), whatever the source formatting or key order was. A
// dataset's training data hashes as the list of its training examples' hashes. Same file: two
// imports read the same bytes, whatever the file is called or where it lies.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import type { Db } from '../../db/database.js';
import type { NormalizedExample } from './example.js';

export function exampleHash(example: NormalizedExample): string {
  const canonical = example.kind === 'chat' ? JSON.stringify(example.messages.map((m) => [m.role, m.content])) : JSON.stringify(example.text);
  return createHash('sha256').update(example.kind).update('\0').update(canonical).digest('hex');
}

/**
 * One hash for what a training run reads of a stored dataset: its training examples' content, in
 * order. Dataset ids are reused after a removal, so a checkpoint records this to know that the
 * dataset it resumes on is the one it was trained on.
 */
export function trainingDataHash(db: Db, datasetId: number): string {
  const hash = createHash('sha256');
  const rows = db.prepare(`SELECT content_hash FROM examples WHERE dataset_id = ? AND split = 'train' ORDER BY position`).pluck().iterate(datasetId) as IterableIterator<string>;
  for (const contentHash of rows) hash.update(contentHash).update('\n');
  return hash.digest('hex');
}

/** sha256 of a file's bytes, read in chunks (synchronously, so an import transaction can call it). */
export function fileSha256(file: string): string {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 20);
  const fd = openSync(file, 'r');
  try {
    for (let n = readSync(fd, buf, 0, buf.length, null); n > 0; n = readSync(fd, buf, 0, buf.length, null)) hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

// Content hashes. Exact-duplicate detection: two rows are duplicates when their normalised examples
// are identical (same roles, same text), whatever the source formatting or key order was. Same
// file: two imports read the same bytes, whatever the file is called or where it lies.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import type { NormalizedExample } from './example.js';

export function exampleHash(example: NormalizedExample): string {
  const canonical = example.kind === 'chat' ? JSON.stringify(example.messages.map((m) => [m.role, m.content])) : JSON.stringify(example.text);
  return createHash('sha256').update(example.kind).update('\0').update(canonical).digest('hex');
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

// Exact-duplicate detection: two rows are duplicates when their normalised examples are identical
// (same roles, same text), whatever the source formatting or key order was.
import { createHash } from 'node:crypto';
import type { NormalizedExample } from './example.js';

export function exampleHash(example: NormalizedExample): string {
  const canonical = example.kind === 'chat' ? JSON.stringify(example.messages.map((m) => [m.role, m.content])) : JSON.stringify(example.text);
  return createHash('sha256').update(example.kind).update('\0').update(canonical).digest('hex');
}

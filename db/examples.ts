// Repository for the examples of a dataset. Inserts go through a prepared statement the importer
// reuses for each of its short staging transactions (db/dataset-imports.ts); reads page by position
// so a 200k-row dataset is never loaded whole.
import type { Db } from './database.js';
import type { ChatMessage, NormalizedExample, Split } from '../main/data/example.js';

export interface ExampleRow {
  id: number;
  datasetId: number;
  position: number;
  sourceLine: number;
  example: NormalizedExample;
  contentHash: string;
  split: Split;
  totalTokens: number | null;
}

export interface NewExample {
  position: number;
  sourceLine: number;
  example: NormalizedExample;
  contentHash: string;
  split: Split;
  totalTokens?: number | null;
}

interface RawExample {
  id: number;
  dataset_id: number;
  position: number;
  source_line: number;
  messages_json: string | null;
  text: string | null;
  content_hash: string;
  split: Split;
  total_tokens: number | null;
}

function fromRaw(r: RawExample): ExampleRow {
  const example: NormalizedExample =
    r.messages_json !== null ? { kind: 'chat', messages: JSON.parse(r.messages_json) as ChatMessage[] } : { kind: 'text', text: r.text ?? '' };
  return {
    id: r.id,
    datasetId: r.dataset_id,
    position: r.position,
    sourceLine: r.source_line,
    example,
    contentHash: r.content_hash,
    split: r.split,
    totalTokens: r.total_tokens,
  };
}

/** Returns an insert function bound to one prepared statement; call it inside a transaction. */
export function exampleInserter(db: Db, datasetId: number): (e: NewExample) => void {
  const stmt = db.prepare(
    `INSERT INTO examples (dataset_id, position, source_line, messages_json, text, content_hash, split, total_tokens)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  return (e) => {
    stmt.run(
      datasetId,
      e.position,
      e.sourceLine,
      e.example.kind === 'chat' ? JSON.stringify(e.example.messages) : null,
      e.example.kind === 'text' ? e.example.text : null,
      e.contentHash,
      e.split,
      e.totalTokens ?? null,
    );
  };
}

export function getExample(db: Db, datasetId: number, position: number): ExampleRow | undefined {
  const raw = db.prepare('SELECT * FROM examples WHERE dataset_id = ? AND position = ?').get(datasetId, position) as RawExample | undefined;
  return raw && fromRaw(raw);
}

export function listExamples(
  db: Db,
  datasetId: number,
  page: { offset?: number; limit?: number; split?: Split } = {},
): ExampleRow[] {
  const limit = page.limit ?? 50;
  const offset = page.offset ?? 0;
  const rows =
    page.split === undefined
      ? db.prepare('SELECT * FROM examples WHERE dataset_id = ? ORDER BY position LIMIT ? OFFSET ?').all(datasetId, limit, offset)
      : db
          .prepare('SELECT * FROM examples WHERE dataset_id = ? AND split = ? ORDER BY position LIMIT ? OFFSET ?')
          .all(datasetId, page.split, limit, offset);
  return (rows as RawExample[]).map(fromRaw);
}

/** Streams every example of a dataset (optionally one split) in file order, one row at a time. */
export function* iterateExamples(db: Db, datasetId: number, split?: Split): Generator<ExampleRow> {
  const stmt =
    split === undefined
      ? db.prepare('SELECT * FROM examples WHERE dataset_id = ? ORDER BY position')
      : db.prepare('SELECT * FROM examples WHERE dataset_id = ? AND split = ? ORDER BY position');
  const args = split === undefined ? [datasetId] : [datasetId, split];
  for (const raw of stmt.iterate(...args)) yield fromRaw(raw as RawExample);
}

export function countExamples(db: Db, datasetId: number, split?: Split): number {
  const row =
    split === undefined
      ? db.prepare('SELECT COUNT(*) AS n FROM examples WHERE dataset_id = ?').get(datasetId)
      : db.prepare('SELECT COUNT(*) AS n FROM examples WHERE dataset_id = ? AND split = ?').get(datasetId, split);
  return (row as { n: number }).n;
}

/** Example ids in file order: the seeded split shuffles these. */
export function exampleIds(db: Db, datasetId: number): number[] {
  return (db.prepare('SELECT id FROM examples WHERE dataset_id = ? ORDER BY position').pluck().all(datasetId) as number[]);
}

/** Rewrites the split column: every id in valIds becomes 'val', the rest 'train'. */
export function assignSplits(db: Db, datasetId: number, valIds: Iterable<number>): void {
  db.transaction(() => {
    db.prepare(`UPDATE examples SET split = 'train' WHERE dataset_id = ?`).run(datasetId);
    const toVal = db.prepare(`UPDATE examples SET split = 'val' WHERE id = ? AND dataset_id = ?`);
    for (const id of valIds) toVal.run(id, datasetId);
  })();
}

export function setExampleTokenCount(db: Db, exampleId: number, totalTokens: number): void {
  db.prepare('UPDATE examples SET total_tokens = ? WHERE id = ?').run(totalTokens, exampleId);
}

// A stored dataset seen through a model's tokenizer and template: the sequences training consumes,
// and the token statistics the data step shows.
import type { Db } from '../../db/database.js';
import { countExamples, iterateExamples, type ExampleRow } from '../../db/examples.js';
import type { ChatTemplate } from '../model/chat-template.js';
import type { ModelTokenizer } from '../model/tokenizer.js';
import type { Split } from './example.js';
import { seededRandom } from './seeded-split.js';
import { templateExample, type TemplatedExample, type TemplateOptions } from './templated-example.js';
import { tokenLengthStats, type TokenLengthStats } from './token-stats.js';

export interface TemplatedRow extends TemplatedExample {
  exampleId: number;
  position: number;
}

/** Streams the templated token view of every example of a dataset (or one split), in file order. */
export function* iterateTemplatedExamples(
  db: Db,
  datasetId: number,
  tokenizer: ModelTokenizer,
  template: ChatTemplate,
  options: TemplateOptions & { split?: Split } = {},
): Generator<TemplatedRow> {
  for (const row of iterateExamples(db, datasetId, options.split)) {
    yield { exampleId: row.id, position: row.position, ...templateExample(row.example, tokenizer, template, options) };
  }
}

/**
 * Token statistics over the dataset, or over a seeded sample of it: tokenizing in JavaScript runs
 * at roughly 0.5 to 2 MB/s, so a 200k-row dataset is sampled (default 2000 rows) to answer in a
 * second or two. The sample is reported so the UI can say "estimated from N examples".
 */
export function datasetTokenStats(
  db: Db,
  datasetId: number,
  tokenizer: ModelTokenizer,
  template: ChatTemplate,
  options: TemplateOptions & { sample?: number; seed?: number; bins?: number } = {},
): TokenLengthStats & { sampled: number; of: number } {
  const total = countExamples(db, datasetId);
  const sample = Math.min(total, options.sample ?? 2000);
  const keep = sample / Math.max(1, total);
  const random = seededRandom(options.seed ?? 7);
  const lengths: number[] = [];
  let seen = 0;
  for (const row of iterateExamples(db, datasetId)) {
    // Selection sampling (Knuth's algorithm S): exactly `sample` rows, uniformly, in one pass.
    const needed = sample - lengths.length;
    const left = total - seen++;
    if (needed <= 0) break;
    if (keep >= 1 || random() * left < needed) lengths.push(lengthOf(row, tokenizer, template, options));
  }
  const stats = tokenLengthStats(lengths, { bins: options.bins, contextLength: tokenizer.contextLength ?? undefined });
  return { ...stats, sampled: lengths.length, of: total };
}

function lengthOf(row: ExampleRow, tokenizer: ModelTokenizer, template: ChatTemplate, options: TemplateOptions): number {
  return templateExample(row.example, tokenizer, template, { ...options, maxTokens: undefined }).ids.length;
}

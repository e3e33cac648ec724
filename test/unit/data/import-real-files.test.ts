// Imports the real files in the shared assets and checks row counts against what the files hold
// (counted independently: JSON.parse of the whole small file, lines of the TSV).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../../db/database.js';
import { countExamples, listExamples } from '../../../db/examples.js';
import { previewDataFile } from '../../../main/data/detect-format.js';
import { importDataset } from '../../../main/data/import-dataset.js';
import { tempHome } from '../../helpers/temp-home.js';
import { asset, assetsSkipReason, haveAssets } from './assets.js';

const home = tempHome();
let db: Db;
beforeAll(() => {
  db = openDatabase(join(home.dir, 'test.db'));
});
afterAll(() => {
  db.close();
  home.cleanup();
});

describe.skipIf(!haveAssets)(`real data files${haveAssets ? '' : ` (${assetsSkipReason})`}`, () => {
  it('Alpaca JSON: 2000 rows, detected as alpaca, instruction and input joined into the user turn', () => {
    const file = asset('data/alpaca/alpaca_small_2000.json');
    const preview = previewDataFile(file);
    expect(preview).toMatchObject({ container: 'json', format: 'alpaca', needsMapping: false });
    const { dataset, report } = importDataset(db, file);
    const source = JSON.parse(readFileSync(file, 'utf8')) as { instruction: string; input: string; output: string }[];
    expect(source.length).toBe(2000);
    expect(dataset).toMatchObject({ rowCount: 2000, trainCount: 1800, valCount: 200, format: 'alpaca', kind: 'chat' });
    expect(report).toMatchObject({ rowsRead: 2000, invalidRows: 0, duplicateRows: 0 });
    const first = listExamples(db, dataset.id, { limit: 1 })[0]!;
    expect(first.sourceLine).toBe(2);
    expect(first.example).toEqual({
      kind: 'chat',
      messages: [
        { role: 'user', content: `${source[0]!.instruction}\n\n${source[0]!.input}` },
        { role: 'assistant', content: source[0]!.output },
      ],
    });
  });

  it('Alpaca-GPT4 demo JSON: 999 rows, 14 exact duplicates skipped (or kept on request)', () => {
    const file = asset('data/alpaca/alpaca_en_demo_999.json');
    const source = JSON.parse(readFileSync(file, 'utf8')) as { instruction: string; input: string; output: string }[];
    const unique = new Set(source.map((r) => JSON.stringify([r.instruction, r.input, r.output]))).size;
    expect(unique).toBe(985);
    const skipped = importDataset(db, file);
    expect(skipped.dataset.rowCount).toBe(985);
    expect(skipped.report.duplicateRows).toBe(14);
    expect(skipped.report.issues[0]).toMatchObject({ kind: 'duplicate', message: expect.stringMatching(/duplicate of the row at line \d+/) });
    const kept = importDataset(db, file, { keepDuplicates: true });
    expect(kept.dataset.rowCount).toBe(999);
  });

  it('SST-2 train TSV (label first, CR LF): 67,349 rows, 366 duplicates, mapped from column names', () => {
    const file = asset('data/sst2/glue_sst2_train_67349_label-first_crlf.tsv');
    const lines = readFileSync(file, 'utf8').split('\r\n').slice(1).filter((l) => l !== '');
    expect(lines.length).toBe(67349);
    const preview = previewDataFile(file);
    expect(preview).toMatchObject({ container: 'tsv', format: 'fields', fields: ['label', 'sentence'], suggestedMapping: { prompt: '{sentence}', response: '{label}' } });
    const { dataset, report } = importDataset(db, file, { keepDuplicates: true, valFraction: 0.05, seed: 9 });
    expect(dataset.rowCount).toBe(67349);
    expect(dataset.valCount).toBe(Math.round(67349 * 0.05));
    expect(report.invalidRows).toBe(0);
    const first = listExamples(db, dataset.id, { limit: 1 })[0]!;
    // No stray CR from the CR LF line ends in the last column.
    expect(first.example).toEqual({ kind: 'chat', messages: [{ role: 'user', content: 'hide new secretions from the parental units' }, { role: 'assistant', content: '0' }] });
    expect(importDataset(db, file).dataset.rowCount).toBe(new Set(lines).size);
  });

  it('SST-2 dev TSV with an explicit prompt template: 872 rows', () => {
    const { dataset } = importDataset(db, asset('data/sst2/glue_sst2_dev.tsv'), {
      mapping: { prompt: 'Review: {sentence}\nSentiment (0 or 1):', response: '{label}' },
    });
    expect(dataset.rowCount).toBe(872);
    const ex = listExamples(db, dataset.id, { limit: 1 })[0]!.example;
    expect(ex.kind === 'chat' && ex.messages[0]!.content).toBe("Review: it 's a charming and often affecting journey . \nSentiment (0 or 1):");
  });

  it('COPA JSONL needs a mapping, then imports 400 / 100 rows with the fields filled in', () => {
    const file = asset('data/superglue/COPA/train.jsonl');
    expect(previewDataFile(file)).toMatchObject({ container: 'jsonl', format: 'fields', needsMapping: true });
    expect(() => importDataset(db, file)).toThrow(/no known format \(fields: premise, choice1, choice2, question, label, idx\)/);
    const mapping = { prompt: '{premise} What was the {question}?\n1) {choice1}\n2) {choice2}', response: '{label}' };
    const train = importDataset(db, file, { mapping });
    expect(train.dataset.rowCount).toBe(400);
    expect(importDataset(db, asset('data/superglue/COPA/val.jsonl'), { mapping }).dataset.rowCount).toBe(100);
    const first = listExamples(db, train.dataset.id, { limit: 1 })[0]!.example;
    expect(first).toEqual({
      kind: 'chat',
      messages: [
        { role: 'user', content: 'My body cast a shadow over the grass. What was the cause?\n1) The sun was rising.\n2) The grass was cut.' },
        { role: 'assistant', content: '0' },
      ],
    });
  });

  it('COPA test JSONL has no labels: every row is reported missing "label" and nothing is imported', () => {
    const before = countExamples(db, 1);
    expect(() =>
      importDataset(db, asset('data/superglue/COPA/test.jsonl'), { mapping: { prompt: '{premise}', response: '{label}' } }),
    ).toThrow(/no valid rows.*\n.*line 1: missing field "label" used by the response mapping/);
    expect(countExamples(db, 1)).toBe(before);
  });

  it('Stanford Alpaca seed tasks: nested fields through dotted paths, 175 rows', () => {
    const { dataset } = importDataset(db, asset('data/alpaca/stanford_alpaca_seed_tasks.jsonl'), {
      mapping: { prompt: '{instruction}\n\n{instances.0.input}', response: '{instances.0.output}' },
    });
    expect(dataset.rowCount).toBe(175);
  });
});

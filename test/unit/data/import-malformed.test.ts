// Generated malformed files: each gives a clear error naming the file, the line and what is wrong,
// and leaves the database exactly as it was (checked by a dump of every data table).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../../db/database.js';
import { importDataset, ImportRejectedError, validateDataFile, type ImportOptions } from '../../../main/data/import-dataset.js';
import { DataFileError } from '../../../main/data/row-issue.js';
import { tempHome } from '../../helpers/temp-home.js';

const home = tempHome();
let db: Db;
let n = 0;
function file(name: string, content: string | Buffer): string {
  const p = join(home.dir, `${n++}-${name}`);
  writeFileSync(p, content);
  return p;
}

function snapshot(): string {
  const tables = ['models', 'datasets', 'examples', 'runs', 'metrics', 'checkpoints', 'adapters', 'adapter_tensors', 'exports'];
  return JSON.stringify(tables.map((t) => db.prepare(`SELECT * FROM ${t} ORDER BY rowid`).all()));
}

/** Runs the import, expects it to throw, and checks the database did not change. */
function rejects(path: string, options: ImportOptions = {}): Error {
  const before = snapshot();
  let error: unknown;
  try {
    importDataset(db, path, options);
  } catch (err) {
    error = err;
  }
  expect(error, 'the import should have been refused').toBeInstanceOf(Error);
  expect(snapshot()).toBe(before);
  expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
  return error as Error;
}

beforeAll(() => {
  db = openDatabase(join(home.dir, 'test.db'));
  // Something already in the database, which a failed import must leave alone.
  importDataset(db, file('good.jsonl', '{"prompt": "a", "completion": "b"}\n{"prompt": "c", "completion": "d"}\n'));
});
afterAll(() => {
  db.close();
  home.cleanup();
});

const alpacaRow = (i: number) => ({ instruction: `question ${i}`, input: '', output: `answer ${i}` });

describe('malformed files', () => {
  it('truncated JSON array: file error with the line of the cut-off element', () => {
    const text = JSON.stringify([alpacaRow(1), alpacaRow(2), alpacaRow(3)], null, 2);
    const path = file('truncated.json', text.slice(0, text.length - 30));
    const err = rejects(path);
    expect(err).toBeInstanceOf(DataFileError);
    expect(err.message).toContain(path);
    expect(err.message).toMatch(/ends inside the JSON array opened at line 1: the element starting at line 12 is incomplete\. Is the file truncated\?/);
  });

  it('truncated JSONL: the cut-off last line is reported as bad JSON by line number', () => {
    const lines = [1, 2, 3].map((i) => JSON.stringify(alpacaRow(i)));
    const path = file('truncated.jsonl', lines.join('\n').slice(0, -10));
    const err = rejects(path) as ImportRejectedError;
    expect(err).toBeInstanceOf(ImportRejectedError);
    expect(err.report.issues).toEqual([expect.objectContaining({ line: 3, kind: 'bad-json', message: expect.stringContaining('looks cut off') })]);
    expect(err.message).toContain(`${path} line 3: not valid JSON`);
  });

  it('mixed formats: rows not in the detected format name the missing field and what they have', () => {
    const rows = [
      alpacaRow(1),
      { messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] },
      alpacaRow(2),
      { instruction: 'q', output: 42 },
    ];
    const path = file('mixed.jsonl', rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const err = rejects(path) as ImportRejectedError;
    expect(err.report.issues).toEqual([
      { line: 2, kind: 'missing-field', field: 'instruction', message: 'missing field "instruction" (a alpaca row needs it; this row has fields messages)' },
      { line: 4, kind: 'wrong-type', field: 'output', message: 'field "output": expected a string, got a number' },
    ]);
    // Keeping the valid rows is the user's explicit choice.
    const kept = importDataset(db, path, { keepValidRows: true });
    expect(kept.dataset.rowCount).toBe(2);
    expect(kept.dataset.skippedInvalid).toBe(2);
    db.prepare('DELETE FROM datasets WHERE id = ?').run(kept.dataset.id);
  });

  it('invalid UTF-8 (a Latin-1 file) is reported with its line, in JSONL, JSON and CSV alike', () => {
    const latin1 = Buffer.from('caf\xe9', 'latin1');
    const jsonl = Buffer.concat([Buffer.from('{"text": "fine"}\n{"text": "'), latin1, Buffer.from('"}\n')]);
    const e1 = rejects(file('latin1.jsonl', jsonl)) as ImportRejectedError;
    expect(e1.report.issues[0]).toMatchObject({ line: 2, kind: 'invalid-utf8', message: expect.stringContaining('save the file as UTF-8') });
    const json = Buffer.concat([Buffer.from('[\n{"text": "fine"},\n{"text":\n "'), latin1, Buffer.from('"}\n]')]);
    const e2 = rejects(file('latin1.json', json)) as ImportRejectedError;
    expect(e2.report.issues[0]).toMatchObject({ line: 4, kind: 'invalid-utf8' });
    const csv = Buffer.concat([Buffer.from('prompt,completion\nhi,there\nhow,'), latin1, Buffer.from('\n')]);
    const e3 = rejects(file('latin1.csv', csv)) as ImportRejectedError;
    expect(e3.report.issues[0]).toMatchObject({ line: 3, kind: 'invalid-utf8', field: 'column 2' });
  });

  it('a 50 MB line is reported as too long without being held in memory, and the rest still checked', () => {
    const big = JSON.stringify({ text: 'x'.repeat(50 * 1024 * 1024) });
    const path = file('huge-line.jsonl', `{"text": "short"}\n${big}\n{"text": "after"}\n`);
    const err = rejects(path) as ImportRejectedError;
    expect(err.report.issues).toEqual([{ line: 2, kind: 'row-too-long', message: 'line is 50.0 MB, over the 16.0 MB limit for one row' }]);
    expect(err.report.validRows).toBe(2);
  });

  it('an empty file, and a file of blank lines, say so', () => {
    expect(rejects(file('empty.jsonl', '')).message).toMatch(/empty\.jsonl: the file is empty/);
    expect(rejects(file('blank.jsonl', '\n\n  \n')).message).toMatch(/blank\.jsonl: the file has no rows/);
    expect(rejects(file('empty.json', '[]')).message).toMatch(/has no rows/);
  });

  it('wrong columns: rows with too many or too few columns are listed by line', () => {
    const path = file('columns.csv', 'prompt,completion\na,b\nc,d,e\nf\ng,h\n');
    const err = rejects(path) as ImportRejectedError;
    expect(err.report.issues).toEqual([
      { line: 3, kind: 'wrong-columns', message: 'expected 2 columns (prompt, completion), found 3' },
      { line: 4, kind: 'wrong-columns', message: 'expected 2 columns (prompt, completion), found 1' },
    ]);
  });

  it('a CSV whose columns fit no format asks for a mapping, naming the columns', () => {
    const err = rejects(file('unknown.csv', 'foo,bar,baz\n1,2,3\n'));
    expect(err.message).toMatch(/no known format \(fields: foo, bar, baz\); map them to a prompt and a response/);
  });

  it('empty responses and conversations ending on the user are rejected with the message index', () => {
    const rows = [
      { messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: '  ' }] },
      { messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'yo' }, { role: 'user', content: 'and?' }] },
      { messages: [{ role: 'user', content: 'hi' }, { role: 'tool', content: 'x' }] },
    ];
    const err = rejects(file('chat.jsonl', rows.map((r) => JSON.stringify(r)).join('\n'))) as ImportRejectedError;
    expect(err.report.issues.map((i) => [i.line, i.kind, i.field])).toEqual([
      [1, 'empty-response', 'messages[1]'],
      [2, 'empty-response', 'messages'],
      [3, 'bad-role', 'messages[1].role'],
    ]);
  });

  it('over the model context: rows longer than the limit are rejected with their token count', () => {
    const rows = [{ text: 'short' }, { text: 'long '.repeat(50) }];
    const path = file('long.jsonl', rows.map((r) => JSON.stringify(r)).join('\n'));
    const lengthCheck = { modelId: null, templateName: null, maxTokens: 20, countTokens: (e: { kind: string; text?: string }) => (e.text ?? '').split(' ').length };
    const err = rejects(path, { lengthCheck }) as ImportRejectedError;
    expect(err.report.issues).toEqual([{ line: 2, kind: 'over-context', message: "the templated example is 51 tokens, over the model's context of 20" }]);
  });

  it('a bad first row is reported with its own error and line, not as rows in no known format', () => {
    const cases: [string, string, RegExp][] = [
      ['first.jsonl', 'nope\n', /first\.jsonl line 1: not valid JSON: Unexpected token 'o'/],
      ['cut.jsonl', '{"prompt": "a", "completion": "b\n', /cut\.jsonl line 1: not valid JSON \(the line looks cut off\): Unterminated string/],
      ['object.json', '{"prompt": "a", "completion": \n', /object\.json line 1: not valid JSON \(the line looks cut off\)/],
      ['element.json', '[\n{"prompt": "a", "completion": x}\n]', /element\.json line 2: not valid JSON: Unexpected token 'x'/],
      ['cut-array.json', '[\n  {"prompt": "a",\n   "completion": ', /cut-array\.json line 3: the file ends inside the JSON array opened at line 1: the element starting at line 2 is incomplete/],
      ['columns.tsv', 'prompt\tcompletion\na\tb\tc\n', /columns\.tsv line 2: expected 2 columns \(prompt, completion\), found 3/],
      ['quote.csv', 'prompt,completion\n"a,b\n', /quote\.csv line 2: a quoted field opened here never closes/],
    ];
    for (const [name, content, expected] of cases) {
      const err = rejects(file(name, content));
      expect(err, name).toBeInstanceOf(DataFileError);
      expect(err.message, name).toMatch(expected);
      expect(err.message, name).not.toMatch(/no known format/);
    }
    // An unreadable header is the file's problem: the next row must not silently become the header.
    const header = Buffer.concat([Buffer.from('pro'), Buffer.from([0xe9]), Buffer.from('mpt,completion\na,b\n')]);
    expect(rejects(file('header.csv', header)).message).toMatch(/header\.csv line 1: the header row cannot be read: column 1: invalid UTF-8/);
  });

  it('a bad first row does not decide the format: the good rows after it are detected and the bad one listed', () => {
    const path = file('bad-first.jsonl', `nope\n${JSON.stringify(alpacaRow(1))}\n${JSON.stringify(alpacaRow(2))}\n`);
    const err = rejects(path) as ImportRejectedError;
    expect(err).toBeInstanceOf(ImportRejectedError);
    expect(err.report.format).toBe('alpaca');
    expect(err.report.issues).toEqual([expect.objectContaining({ line: 1, kind: 'bad-json' })]);
    // Not "cut off": the line is whole, just not JSON.
    expect(err.message).toContain(`${path} line 1: not valid JSON: Unexpected token`);
  });

  it('validateDataFile reports the same problems without writing anything', () => {
    const before = snapshot();
    const report = validateDataFile(file('v.jsonl', '{"text": "a"}\nnot json\n{"text": "a"}\n'));
    expect(report).toMatchObject({ rowsRead: 3, validRows: 1, invalidRows: 1, duplicateRows: 1, issueCounts: { 'bad-json': 1, duplicate: 1 } });
    expect(snapshot()).toBe(before);
  });
});

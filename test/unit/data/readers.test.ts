// The streaming readers on small generated files, with tiny chunk sizes so every state crosses a
// chunk boundary somewhere.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readDelimitedRecords } from '../../../main/data/delimited-parser.js';
import { splitJsonArray } from '../../../main/data/json-array-splitter.js';
import { readLines } from '../../../main/data/line-reader.js';
import { DataFileError } from '../../../main/data/row-issue.js';
import { firstInvalidUtf8 } from '../../../main/data/utf8.js';
import { tempHome } from '../../helpers/temp-home.js';

const dir = tempHome();
afterAll(() => dir.cleanup());
let n = 0;
function file(content: string | Buffer): string {
  const p = join(dir.dir, `f${n++}`);
  writeFileSync(p, content);
  return p;
}

describe('readLines', () => {
  it('numbers LF and CR LF lines, keeps a last line without a newline, drops the BOM', () => {
    for (const chunkBytes of [1, 3, 7, 1 << 20]) {
      const lines = [...readLines(file('\uFEFFone\r\ntwo\n\nthree'), { chunkBytes })];
      expect(lines.map((l) => ('text' in l ? l.text : null))).toEqual(['one', 'two', '', 'three']);
      expect(lines.map((l) => l.line)).toEqual([1, 2, 3, 4]);
    }
  });

  it('reports invalid UTF-8 with its line and a too-long line without buffering it', () => {
    const bad = Buffer.concat([Buffer.from('ok\nab'), Buffer.from([0xff, 0xfe]), Buffer.from('cd\n'), Buffer.from('x'.repeat(100) + '\nend\n')]);
    const items = [...readLines(file(bad), { chunkBytes: 8, maxLineBytes: 50 })];
    expect(items[0]).toMatchObject({ line: 1, text: 'ok' });
    expect(items[1]).toMatchObject({ line: 2, issue: { kind: 'invalid-utf8', line: 2 } });
    expect('issue' in items[1]! && items[1].issue.message).toContain('bytes ff fe');
    expect(items[2]).toMatchObject({ line: 3, issue: { kind: 'row-too-long' } });
    expect(items[3]).toMatchObject({ line: 4, text: 'end' });
  });
});

describe('firstInvalidUtf8', () => {
  it('accepts valid multi-byte text and finds overlong, surrogate and cut-off sequences', () => {
    expect(firstInvalidUtf8(Buffer.from('héllo ½ 日本 🎉'))).toBe(-1);
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xc0, 0x80]))).toBe(1); // overlong NUL
    expect(firstInvalidUtf8(Buffer.from([0xed, 0xa0, 0x80]))).toBe(0); // UTF-16 surrogate
    expect(firstInvalidUtf8(Buffer.from([0x61, 0x62, 0xe6, 0x97]))).toBe(2); // truncated
  });
});

describe('splitJsonArray', () => {
  const values = (p: string, chunkBytes?: number) => [...splitJsonArray(p, { chunkBytes })].map((i) => ('value' in i ? i.value : i.issue));

  it('splits pretty-printed and single-line arrays, with brackets, commas and escapes inside strings', () => {
    const rows = [{ a: 'x, ]}[{', b: [1, { c: '\\"' }] }, { a: 'line\nbreak "quoted"' }, 7, 'str,]'];
    for (const text of [JSON.stringify(rows), JSON.stringify(rows, null, 2)]) {
      for (const chunkBytes of [1, 5, 1 << 20]) expect(values(file(text), chunkBytes)).toEqual(rows);
    }
  });

  it('gives the line each element starts on', () => {
    const items = [...splitJsonArray(file('[\n  {"a": 1},\n  {\n    "b": 2\n  }\n]\n'))];
    expect(items.map((i) => i.line)).toEqual([2, 3]);
    expect([...splitJsonArray(file('[]'))]).toEqual([]);
  });

  it('reports a bad element by line and carries on', () => {
    const items = [...splitJsonArray(file('[\n{"a": 1},\n{"a": tru},\n{"a": 3}\n]'))];
    expect(items.map((i) => ('value' in i ? i.value : i.issue.kind))).toEqual([{ a: 1 }, 'bad-json', { a: 3 }]);
    expect(items[1]).toMatchObject({ line: 3 });
  });

  it('throws a clear file error for a truncated array, junk after it, or no array at all', () => {
    expect(() => [...splitJsonArray(file('[\n{"a": 1},\n{"a": "cut off'))]).toThrow(/line 3.*element starting at line 3 is incomplete.*truncated/s);
    expect(() => [...splitJsonArray(file('[{"a": 1}] x'))]).toThrow(/after the closing "\]"/);
    expect(() => [...splitJsonArray(file('{"a": 1}\n{"a": 2}\n'))]).toThrow(/import it as JSONL/);
    expect(() => [...splitJsonArray(file('   '))]).toThrow(DataFileError);
  });
});

describe('readDelimitedRecords', () => {
  const records = (content: string | Buffer, delimiter: ',' | '\t', chunkBytes?: number, quoting = true) =>
    [...readDelimitedRecords(file(content), { delimiter, chunkBytes, quoting })].map((r) => ('fields' in r ? [r.line, ...r.fields] : [r.line, r.issue.kind]));

  it('handles quoted delimiters, doubled quotes, line breaks in quotes, CR LF, BOM and blank lines', () => {
    const csv = '\uFEFFa,b\r\n"x, y","say ""hi"""\r\n\r\n"multi\r\nline",plain\r\nlast,\r\n';
    for (const chunkBytes of [1, 4, 1 << 20]) {
      expect(records(csv, ',', chunkBytes)).toEqual([
        [1, 'a', 'b'],
        [2, 'x, y', 'say "hi"'],
        [4, 'multi\r\nline', 'plain'],
        [6, 'last', ''],
      ]);
    }
  });

  it('reads TSV without quotes and a final line without a newline', () => {
    expect(records('label\tsentence\n0\tit \'s "fine\n1\tgood', '\t', 3, false)).toEqual([
      [1, 'label', 'sentence'],
      [2, '0', 'it \'s "fine'],
      [3, '1', 'good'],
    ]);
  });

  it('names the line where a quoted field never closes', () => {
    expect(() => records('a,b\n1,"never\n2,3\n', ',')).toThrow(/line 2: a quoted field opened here never closes/);
  });

  it('reports invalid UTF-8 with the column', () => {
    const out = records(Buffer.concat([Buffer.from('a,b\nok,'), Buffer.from([0xc3, 0x28]), Buffer.from('\n')]), ',');
    expect(out[1]).toEqual([2, 'invalid-utf8']);
  });
});

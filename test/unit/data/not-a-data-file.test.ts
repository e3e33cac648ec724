// Paths that are no text dataset at all are named for what they are, from the first bytes: the
// preview (what the app shows) and the import (what the CLI runs) say the same.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detectBinaryFile } from '../../../main/data/binary-signature.js';
import { previewDataFile } from '../../../main/data/detect-format.js';
import { validateDataFile } from '../../../main/data/import-dataset.js';
import { NotADataFileError } from '../../../main/data/row-issue.js';
import { tempHome } from '../../helpers/temp-home.js';

const home = tempHome();
afterAll(() => home.cleanup());

const bytes = (...parts: (string | number[])[]): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

/** A safetensors head: the 8-byte little-endian length of the JSON header that follows. */
function safetensors(): Buffer {
  const header = Buffer.from('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([length, header, Buffer.alloc(4)]);
}

const cases: [string, Buffer, string][] = [
  ['data.png', bytes([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], [0, 0, 0, 13], 'IHDR'), 'is a PNG image, not a text dataset'],
  ['photo.jpg', bytes([0xff, 0xd8, 0xff, 0xe0], 'JFIF'), 'is a JPEG image, not a text dataset'],
  ['anim.gif', bytes('GIF89a', [1, 0, 1, 0]), 'is a GIF image, not a text dataset'],
  ['paper.pdf', bytes('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n'), 'is a PDF document, not a text dataset: extract its text to a .txt file'],
  ['sheet.xlsx', bytes([0x50, 0x4b, 0x03, 0x04], '\x14\x00\x06\x00[Content_Types].xml'), 'is a ZIP archive (an .xlsx workbook?), not a text dataset: save the sheet as CSV'],
  // Named .csv, but the entries Office writes give the workbook away.
  ['renamed.csv', bytes([0x50, 0x4b, 0x03, 0x04], '\x14\x00\x06\x00xl/workbook.xml'), 'is a ZIP archive (an .xlsx workbook?), not a text dataset: save the sheet as CSV'],
  ['notes.docx', bytes([0x50, 0x4b, 0x03, 0x04], '\x14\x00\x06\x00word/document.xml'), 'is a ZIP archive (a .docx document?), not a text dataset: save the text as .txt'],
  ['data.zip', bytes([0x50, 0x4b, 0x03, 0x04], '\x14\x00\x00\x00train.jsonl'), 'is a ZIP archive, not a text dataset: extract the data file from it first'],
  ['data.jsonl.gz', bytes([0x1f, 0x8b, 0x08, 0x00], [0, 0, 0, 0]), 'is a gzip-compressed file, not a text dataset: decompress it first'],
  ['train.parquet', bytes('PAR1', [0x15, 0x04, 0x15]), 'is a Parquet file, not a text dataset: export it as JSONL or CSV'],
  ['app.db', bytes('SQLite format 3\0', [0x10, 0x00]), 'is an SQLite database, not a text dataset: export the table as CSV or JSONL'],
  ['model.safetensors', safetensors(), 'is a safetensors weights file, not a text dataset'],
  ['tool', bytes([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), 'is an ELF executable, not a text dataset'],
  ['export.json', bytes('\xff\xfe[\0{\0'), 'is a UTF-16 text file, not a text dataset: save it as UTF-8'],
  ['blob.jsonl', bytes('{"text": "a"}\n', [0, 1, 2, 3]), 'is a binary file (it contains NUL bytes), not a text dataset'],
];

describe('files that are not text', () => {
  it.each(cases)('%s: the preview and the import name what it is', (name, content, expected) => {
    const path = join(home.dir, name);
    writeFileSync(path, content);
    for (const read of [() => previewDataFile(path), () => validateDataFile(path)]) {
      let error: unknown;
      try {
        read();
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(NotADataFileError);
      expect((error as Error).message).toBe(`${path} ${expected}`);
    }
  });

  it('text that merely starts like a signature is not taken for one', () => {
    expect(detectBinaryFile(Buffer.from('PK,name\n1,2\n'), 'x.csv', 12)).toBeNull();
    // "{" at byte 8 with a length prefix larger than the file is text, not a safetensors header.
    expect(detectBinaryFile(Buffer.from('{"text":{"a":1}}\n'), 'x.jsonl', 17)).toBeNull();
    expect(detectBinaryFile(Buffer.from('prompt\tcompletion\ncaf\u00e9\tb\n'), 'x.tsv', 20)).toBeNull();
  });

  it('a folder is named as one, for the preview and the import', () => {
    const dir = join(home.dir, 'a-folder');
    mkdirSync(dir);
    expect(() => previewDataFile(dir)).toThrow(`${dir} is a folder: choose a file`);
    expect(() => validateDataFile(dir)).toThrow(`${dir} is a folder: choose a file`);
  });

  it('a missing file, or a path through a file, says so with the path', () => {
    const missing = join(home.dir, 'missing.jsonl');
    expect(() => validateDataFile(missing)).toThrow(`${missing}: no such file`);
    const through = join(home.dir, 'data.png', 'rows.jsonl');
    expect(() => validateDataFile(through)).toThrow(`${through}: no such file (a part of the path is a file, not a folder)`);
  });
});

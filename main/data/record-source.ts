// Turns a file of any supported container (JSON array, JSONL, CSV, TSV, plain text) into a stream
// of raw records (plain objects) with the line each starts on. Parsing problems with one row are
// yielded as issues; problems with the whole file throw DataFileError.
import type { Container } from '../../db/datasets.js';
import { readDelimitedRecords } from './delimited-parser.js';
import { splitJsonArray } from './json-array-splitter.js';
import { readLines } from './line-reader.js';
import { DataFileError, type RowIssue } from './row-issue.js';

export type RawRecordItem =
  | { line: number; bytesRead: number; value: unknown }
  | { line: number; bytesRead: number; issue: RowIssue };

/** .txt: characters per pretraining chunk when not given (about 1000 tokens). */
export const DEFAULT_TXT_CHUNK_CHARS = 4000;

export interface SourceOptions {
  container: Container;
  /** CSV / TSV: whether the first record names the columns (default true). */
  hasHeader?: boolean;
  /** CSV / TSV: honour "quoted" fields (default true). */
  quoting?: boolean;
  /** Largest single row accepted, in bytes (default 16 MB). */
  maxRowBytes?: number;
  /** .txt: target characters per pretraining chunk (default 4000, about 1000 tokens). */
  txtChunkChars?: number;
}

function* jsonlRecords(file: string, options: SourceOptions): Generator<RawRecordItem> {
  for (const item of readLines(file, { maxLineBytes: options.maxRowBytes })) {
    if ('issue' in item) {
      yield item;
      continue;
    }
    if (item.text.trim() === '') continue;
    try {
      yield { line: item.line, bytesRead: item.bytesRead, value: JSON.parse(item.text) };
    } catch (err) {
      // JSON.parse ran out of input: the line ends mid-value, as a truncated copy does.
      const message = (err as Error).message;
      const position = /position (\d+)/.exec(message);
      const atEnd = /end of JSON input|Unterminated string/.test(message) || (position !== null && Number(position[1]) >= item.text.trimEnd().length);
      const truncated = atEnd ? ' (the line looks cut off)' : '';
      yield { line: item.line, bytesRead: item.bytesRead, issue: { line: item.line, kind: 'bad-json', message: `not valid JSON${truncated}: ${message}` } };
    }
  }
}

function* delimitedRecords(file: string, options: SourceOptions): Generator<RawRecordItem> {
  const delimiter = options.container === 'tsv' ? '\t' : ',';
  let header: string[] | null = null;
  const hasHeader = options.hasHeader ?? true;
  for (const rec of readDelimitedRecords(file, { delimiter, quoting: options.quoting, maxRecordBytes: options.maxRowBytes })) {
    if ('issue' in rec) {
      // Without its header no row can be mapped to columns: the next record must not stand in for it.
      if (header === null && hasHeader) throw new DataFileError(file, rec.line, `the header row cannot be read: ${rec.issue.message}`);
      yield rec;
      continue;
    }
    if (header === null) {
      header = hasHeader ? rec.fields.map((f) => f.trim()) : rec.fields.map((_, i) => String(i + 1));
      const seen = new Set<string>();
      for (const name of header) {
        if (seen.has(name)) {
          yield { line: rec.line, bytesRead: rec.bytesRead, issue: { line: rec.line, kind: 'wrong-columns', message: `the header names column "${name}" twice` } };
        }
        seen.add(name);
      }
      if (hasHeader) continue;
    }
    if (rec.fields.length !== header.length) {
      yield {
        line: rec.line,
        bytesRead: rec.bytesRead,
        issue: {
          line: rec.line,
          kind: 'wrong-columns',
          message: `expected ${header.length} columns (${header.join(', ')}), found ${rec.fields.length}`,
        },
      };
      continue;
    }
    const value: Record<string, string> = {};
    header.forEach((name, i) => (value[name] = rec.fields[i]!));
    yield { line: rec.line, bytesRead: rec.bytesRead, value };
  }
}

/**
 * Plain text for continued pretraining: paragraphs (split at blank lines) are gathered into chunks
 * of about txtChunkChars, so each example is a coherent stretch of text; a paragraph longer than
 * twice the target is cut at line or word boundaries.
 */
function* textChunks(file: string, options: SourceOptions): Generator<RawRecordItem> {
  const target = options.txtChunkChars ?? DEFAULT_TXT_CHUNK_CHARS;
  let chunk = '';
  let chunkLine = 1;
  let bytesRead = 0;
  const emit = function* (text: string, line: number): Generator<RawRecordItem> {
    let rest = text;
    while (rest.length > 2 * target) {
      let cut = rest.lastIndexOf('\n', target * 2);
      if (cut < target / 2) cut = rest.lastIndexOf(' ', target * 2);
      if (cut < target / 2) cut = target * 2;
      yield { line, bytesRead, value: { text: rest.slice(0, cut) } };
      rest = rest.slice(cut).replace(/^\s+/, '');
    }
    if (rest.trim() !== '') yield { line, bytesRead, value: { text: rest } };
  };
  let paragraphBreak = false;
  for (const item of readLines(file, { maxLineBytes: options.maxRowBytes })) {
    bytesRead = item.bytesRead;
    if ('issue' in item) {
      yield item;
      continue;
    }
    if (item.text.trim() === '') {
      paragraphBreak = chunk !== '';
      continue;
    }
    if (paragraphBreak && chunk.length >= target) {
      yield* emit(chunk, chunkLine);
      chunk = '';
    }
    if (chunk === '') {
      chunkLine = item.line;
      chunk = item.text;
    } else chunk += (paragraphBreak ? '\n\n' : '\n') + item.text;
    paragraphBreak = false;
  }
  if (chunk !== '') yield* emit(chunk, chunkLine);
}

export function* readRawRecords(file: string, options: SourceOptions): Generator<RawRecordItem> {
  switch (options.container) {
    case 'jsonl':
      yield* jsonlRecords(file, options);
      return;
    case 'json':
      yield* splitJsonArray(file, { maxElementBytes: options.maxRowBytes });
      return;
    case 'csv':
    case 'tsv':
      yield* delimitedRecords(file, options);
      return;
    case 'txt':
      yield* textChunks(file, options);
      return;
  }
}

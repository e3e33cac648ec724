// CSV / TSV records with a proper quoted-field state machine: quoted fields may hold delimiters,
// doubled quotes and line breaks; CR LF and LF both end a record; a BOM is dropped. Works on bytes
// (delimiter, quote, CR and LF are ASCII, so no UTF-8 sequence is ever split) and streams.
import { ByteCollector, readFileChunks } from './file-chunks.js';
import { DEFAULT_MAX_ROW_BYTES, formatBytes } from './line-reader.js';
import { DataFileError, type RowIssue } from './row-issue.js';
import { decodeUtf8Strict, describeInvalidUtf8 } from './utf8.js';

export type DelimitedRecord =
  | { line: number; bytesRead: number; fields: string[] }
  | { line: number; bytesRead: number; issue: RowIssue };

export interface DelimitedOptions {
  delimiter: ',' | '\t' | ';' | '|';
  /** Treat a field that starts with " as quoted (RFC 4180). Turn off for TSVs whose text has stray quotes. */
  quoting?: boolean;
  maxRecordBytes?: number;
  chunkBytes?: number;
}

const QUOTE = 0x22;
const CR = 0x0d;
const LF = 0x0a;

/** Yields every non-blank record with the line it starts on. Header handling is the caller's. */
export function* readDelimitedRecords(file: string, options: DelimitedOptions): Generator<DelimitedRecord> {
  const delimiter = options.delimiter.charCodeAt(0);
  const quoting = options.quoting ?? true;
  const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_ROW_BYTES;
  // Field bytes of the current record, and where each field ends within them.
  const recordBytes = new ByteCollector(maxRecordBytes);
  let fieldEnds: number[] = [];
  let quotedField: boolean[] = [];
  type State = 'field-start' | 'unquoted' | 'quoted' | 'quote-in-quoted';
  let state = 'field-start' as State;
  let line = 1;
  let recordLine = 1;
  let quoteOpenedLine = 1;
  let bytesRead = 0;
  let fieldIsQuoted = false;

  const endField = (): void => {
    fieldEnds.push(recordBytes.length);
    quotedField.push(fieldIsQuoted);
    fieldIsQuoted = false;
  };

  const finishRecord = (consumed: number): DelimitedRecord | null => {
    const ends = fieldEnds;
    const quoted = quotedField;
    fieldEnds = [];
    quotedField = [];
    if (recordBytes.overflowed) {
      const size = recordBytes.length;
      recordBytes.reset();
      return {
        line: recordLine,
        bytesRead: consumed,
        issue: { line: recordLine, kind: 'row-too-long', message: `record is ${formatBytes(size)}, over the ${formatBytes(maxRecordBytes)} limit for one row` },
      };
    }
    const bytes = recordBytes.length === 0 ? Buffer.alloc(0) : recordBytes.take();
    const blank = ends.length === 1 && !quoted[0] && (ends[0] === 0 || (ends[0] === 1 && bytes[0] === CR));
    if (blank) return null;
    const fields: string[] = [];
    let start = 0;
    for (let f = 0; f < ends.length; f++) {
      let end = ends[f]!;
      // A CR before the LF belongs to the line ending, not to the last unquoted field.
      if (f === ends.length - 1 && !quoted[f] && end > start && bytes[end - 1] === CR) end--;
      const decoded = decodeUtf8Strict(bytes.subarray(start, end));
      if (!decoded.ok) {
        return {
          line: recordLine,
          bytesRead: consumed,
          issue: { line: recordLine, kind: 'invalid-utf8', field: `column ${f + 1}`, message: `column ${f + 1}: ${describeInvalidUtf8(bytes.subarray(start, end), decoded.byteOffset)}` },
        };
      }
      fields.push(decoded.text);
      start = ends[f]!;
    }
    return { line: recordLine, bytesRead: consumed, fields };
  };

  for (const chunk of readFileChunks(file, options.chunkBytes)) {
    // Start of a run of ordinary bytes not yet copied into recordBytes.
    let runStart = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      switch (state) {
        case 'field-start':
          if (b === QUOTE && quoting) {
            recordBytes.append(chunk, runStart, i);
            runStart = i + 1;
            state = 'quoted';
            fieldIsQuoted = true;
            quoteOpenedLine = line;
            continue;
          }
          state = 'unquoted';
        // falls through: the byte starts an unquoted field
        case 'unquoted':
          if (b === delimiter) {
            recordBytes.append(chunk, runStart, i);
            runStart = i + 1;
            endField();
            state = 'field-start';
          } else if (b === LF) {
            recordBytes.append(chunk, runStart, i);
            runStart = i + 1;
            endField();
            const rec = finishRecord(bytesRead + i + 1);
            if (rec) yield rec;
            line++;
            recordLine = line;
            state = 'field-start';
          }
          continue;
        case 'quoted':
          if (b === QUOTE) {
            recordBytes.append(chunk, runStart, i);
            runStart = i + 1;
            state = 'quote-in-quoted';
          } else if (b === LF) line++;
          continue;
        case 'quote-in-quoted':
          if (b === QUOTE) {
            // "" inside a quoted field is one literal quote: keep this one, continue the field.
            runStart = i;
            state = 'quoted';
          } else if (b === delimiter) {
            runStart = i + 1;
            endField();
            state = 'field-start';
          } else if (b === LF) {
            runStart = i + 1;
            endField();
            const rec = finishRecord(bytesRead + i + 1);
            if (rec) yield rec;
            line++;
            recordLine = line;
            state = 'field-start';
          } else if (b === CR) {
            runStart = i + 1; // CR of a CR LF after a closing quote
          } else {
            // Text after a closing quote ("ab"cd): keep it, as spreadsheet programs do.
            runStart = i;
            state = 'unquoted';
          }
          continue;
      }
    }
    if (state !== 'quote-in-quoted') recordBytes.append(chunk, runStart, chunk.length);
    bytesRead += chunk.length;
  }
  if (state === 'quoted') {
    throw new DataFileError(
      file,
      quoteOpenedLine,
      'a quoted field opened here never closes (a stray " character?); if the file does not use quotes, import it with quoting off',
    );
  }
  if (state !== 'field-start' || fieldEnds.length > 0) {
    endField();
    const rec = finishRecord(bytesRead);
    if (rec) yield rec;
  }
}

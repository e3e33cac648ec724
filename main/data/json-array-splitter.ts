// Streams the elements of a top-level JSON array ("[ {...}, {...} ]") without parsing the file
// whole: a 200k-row Alpaca export is hundreds of megabytes and often a single line. The scanner
// works on bytes (every structural character of JSON is ASCII, so it never splits a UTF-8
// sequence), tracks strings, escapes and nesting, and hands each element's bytes to JSON.parse.
import { ByteCollector, readFileChunks } from './file-chunks.js';
import { formatBytes, DEFAULT_MAX_ROW_BYTES } from './line-reader.js';
import { DataFileError, type RowIssue } from './row-issue.js';
import { decodeUtf8Strict, describeInvalidUtf8, lineAndColumnAt } from './utf8.js';

export type ArrayElementItem =
  | { line: number; bytesRead: number; value: unknown }
  | { line: number; bytesRead: number; issue: RowIssue };

const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const COMMA = 0x2c;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

/** Line of a JSON.parse error inside an element, from the "position N" V8 puts in its message. */
function parseErrorLine(text: string, message: string, startLine: number): number {
  const m = /position (\d+)/.exec(message);
  if (!m) return startLine;
  const pos = Number(m[1]);
  let line = startLine;
  for (let i = 0; i < pos && i < text.length; i++) if (text.charCodeAt(i) === NEWLINE) line++;
  return line;
}

function parseElement(bytes: Buffer, startLine: number, bytesRead: number): ArrayElementItem {
  const decoded = decodeUtf8Strict(bytes);
  if (!decoded.ok) {
    const where = lineAndColumnAt(bytes, decoded.byteOffset);
    const line = startLine + where.lineDelta;
    return { line: startLine, bytesRead, issue: { line, kind: 'invalid-utf8', message: `${describeInvalidUtf8(bytes, decoded.byteOffset)} at column ${where.column}` } };
  }
  try {
    return { line: startLine, bytesRead, value: JSON.parse(decoded.text) };
  } catch (err) {
    const message = (err as Error).message;
    const line = parseErrorLine(decoded.text, message, startLine);
    return { line: startLine, bytesRead, issue: { line, kind: 'bad-json', message: `not valid JSON: ${message}` } };
  }
}

/**
 * Yields each element of the file's top-level array with the line it starts on. Problems with one
 * element (bad JSON inside it, invalid UTF-8, over the size limit) are yielded as issues and the
 * scan goes on; problems with the file's shape (no "[", truncated, junk after "]") throw
 * DataFileError because no row after them can be trusted.
 */
export function* splitJsonArray(file: string, options: { maxElementBytes?: number; chunkBytes?: number } = {}): Generator<ArrayElementItem> {
  const maxElementBytes = options.maxElementBytes ?? DEFAULT_MAX_ROW_BYTES;
  const element = new ByteCollector(maxElementBytes);
  type State = 'before-array' | 'between' | 'after-element' | 'in-element' | 'after-array';
  let state = 'before-array' as State;
  let depth = 0; // nesting inside the current element
  let inString = false;
  let escaped = false;
  let line = 1;
  let elementLine = 1;
  let bytesRead = 0;
  let arrayLine = 1;

  const finishElement = (consumed: number): ArrayElementItem => {
    if (element.overflowed) {
      const size = element.length;
      element.reset();
      return {
        line: elementLine,
        bytesRead: consumed,
        issue: { line: elementLine, kind: 'row-too-long', message: `element is ${formatBytes(size)}, over the ${formatBytes(maxElementBytes)} limit for one row` },
      };
    }
    return parseElement(element.take(), elementLine, consumed);
  };

  for (const chunk of readFileChunks(file, options.chunkBytes)) {
    let elementStart = state === 'in-element' ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (state === 'in-element') {
        if (inString) {
          if (escaped) escaped = false;
          else if (b === BACKSLASH) escaped = true;
          else if (b === QUOTE) inString = false;
          else if (b === NEWLINE) line++;
          continue;
        }
        if (b === QUOTE) inString = true;
        else if (b === OPEN_BRACE || b === OPEN_BRACKET) depth++;
        else if ((b === CLOSE_BRACE || b === CLOSE_BRACKET) && depth > 0) depth--;
        else if (depth === 0 && (b === COMMA || b === CLOSE_BRACKET)) {
          element.append(chunk, elementStart, i);
          yield finishElement(bytesRead + i + 1);
          elementStart = -1;
          state = b === COMMA ? 'between' : 'after-array';
          continue;
        } else if (b === NEWLINE) line++;
        continue;
      }
      if (b === NEWLINE) line++;
      if (isSpace(b)) continue;
      switch (state) {
        case 'before-array':
          if (b !== OPEN_BRACKET) {
            throw new DataFileError(
              file,
              line,
              b === OPEN_BRACE
                ? 'expected a JSON array of rows ("[ {...}, {...} ]"), found an object; if the file holds one object per line, import it as JSONL'
                : `expected a JSON array of rows starting with "[", found "${String.fromCharCode(b)}"`,
            );
          }
          arrayLine = line;
          state = 'between';
          break;
        case 'between':
          if (b === CLOSE_BRACKET) {
            state = 'after-array';
            break;
          }
          if (b === COMMA) throw new DataFileError(file, line, 'two commas in a row, or a comma before the first element');
          state = 'in-element';
          elementLine = line;
          elementStart = i;
          depth = b === OPEN_BRACE || b === OPEN_BRACKET ? 1 : 0;
          inString = b === QUOTE;
          escaped = false;
          break;
        case 'after-array':
          throw new DataFileError(file, line, `unexpected "${String.fromCharCode(b)}" after the closing "]" of the array`);
      }
    }
    if (state === 'in-element' && elementStart >= 0) element.append(chunk, elementStart, chunk.length);
    bytesRead += chunk.length;
  }
  if (state === 'before-array') throw new DataFileError(file, null, 'the file is empty: expected a JSON array of rows');
  if (state !== 'after-array') {
    const where = state === 'in-element' ? `the element starting at line ${elementLine} is incomplete` : 'the array is never closed';
    throw new DataFileError(file, line, `the file ends inside the JSON array opened at line ${arrayLine}: ${where}. Is the file truncated?`);
  }
}

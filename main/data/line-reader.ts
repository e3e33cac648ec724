// Splits a file into lines without loading it whole: the reader behind JSONL and .txt imports.
// Each line is decoded strictly, so invalid UTF-8 is reported with its line, and a line over the
// per-row limit is reported (and skipped) rather than buffered into memory.
import { ByteCollector, readFileChunks } from './file-chunks.js';
import type { RowIssue } from './row-issue.js';
import { decodeUtf8Strict, describeInvalidUtf8 } from './utf8.js';

export const DEFAULT_MAX_ROW_BYTES = 16 * 1024 * 1024;

export type LineItem =
  | { line: number; bytesRead: number; text: string }
  | { line: number; bytesRead: number; issue: RowIssue };

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${n} bytes`;
}

/** Yields every line (CR LF or LF ends, a final line without one included), numbered from 1. */
export function* readLines(file: string, options: { maxLineBytes?: number; chunkBytes?: number } = {}): Generator<LineItem> {
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_ROW_BYTES;
  const pending = new ByteCollector(maxLineBytes);
  let line = 1;
  let bytesRead = 0;
  let sawAny = false;

  const finish = (): LineItem => {
    if (pending.overflowed) {
      const size = pending.length;
      pending.reset();
      return {
        line,
        bytesRead,
        issue: {
          line,
          kind: 'row-too-long',
          message: `line is ${formatBytes(size)}, over the ${formatBytes(maxLineBytes)} limit for one row`,
        },
      };
    }
    let bytes = pending.length === 0 ? Buffer.alloc(0) : pending.take();
    if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
    const decoded = decodeUtf8Strict(bytes);
    if (!decoded.ok) {
      return {
        line,
        bytesRead,
        issue: { line, kind: 'invalid-utf8', message: `${describeInvalidUtf8(bytes, decoded.byteOffset)} at byte ${decoded.byteOffset + 1} of the line` },
      };
    }
    return { line, bytesRead, text: decoded.text };
  };

  for (const chunk of readFileChunks(file, options.chunkBytes)) {
    sawAny = true;
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) {
        pending.append(chunk, start, chunk.length);
        bytesRead += chunk.length - start;
        break;
      }
      pending.append(chunk, start, nl);
      bytesRead += nl + 1 - start;
      yield finish();
      line++;
      start = nl + 1;
    }
  }
  if (sawAny && (pending.length > 0 || pending.overflowed)) yield finish();
}

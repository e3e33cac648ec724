// Recognises files that are not text from their first bytes (magic numbers), so a wrong pick in a
// file dialog is named for what it is ("a PNG image") rather than reported as invalid UTF-8 on
// line 1. Pure: the caller reads the head of the file.
import { extname } from 'node:path';

export interface BinaryKind {
  /** What the file is, with its article: "a PNG image". */
  what: string;
  /** What to do instead, when there is something better to say than "choose a text file". */
  hint?: string;
}

function startsWith(head: Buffer, bytes: readonly number[] | string, at = 0): boolean {
  const sig = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : Buffer.from(bytes);
  return head.length >= at + sig.length && head.subarray(at, at + sig.length).equals(sig);
}

/** A ZIP archive, told apart by its extension or the folder names Office writes inside it. */
function zipKind(head: Buffer, file: string): BinaryKind {
  const ext = extname(file).toLowerCase();
  const names = head.toString('latin1');
  if (ext === '.xlsx' || ext === '.xlsm' || names.includes('xl/')) return { what: 'a ZIP archive (an .xlsx workbook?)', hint: 'save the sheet as CSV' };
  if (ext === '.docx' || names.includes('word/')) return { what: 'a ZIP archive (a .docx document?)', hint: 'save the text as .txt' };
  if (ext === '.pptx' || names.includes('ppt/')) return { what: 'a ZIP archive (a .pptx presentation?)' };
  return { what: 'a ZIP archive', hint: 'extract the data file from it first' };
}

/**
 * safetensors: an 8-byte little-endian header length, then that many bytes of JSON starting "{".
 * The length must fit in the file, which keeps text that happens to have "{" at byte 8 out.
 */
function isSafetensors(head: Buffer, fileBytes: number): boolean {
  if (head.length < 10 || head[8] !== 0x7b) return false;
  const headerBytes = head.readBigUInt64LE(0);
  return headerBytes >= 2n && headerBytes <= BigInt(Math.max(0, fileBytes - 8));
}

/**
 * What a file is, from its first bytes (a few KB are plenty), or null when it looks like text.
 * `fileBytes` is the whole file's size, for formats whose header states a length.
 */
export function detectBinaryFile(head: Buffer, file: string, fileBytes: number): BinaryKind | null {
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return { what: 'a PNG image' };
  if (startsWith(head, [0xff, 0xd8, 0xff])) return { what: 'a JPEG image' };
  if (startsWith(head, 'GIF87a') || startsWith(head, 'GIF89a')) return { what: 'a GIF image' };
  if (startsWith(head, 'RIFF') && startsWith(head, 'WEBP', 8)) return { what: 'a WebP image' };
  if (startsWith(head, '%PDF-')) return { what: 'a PDF document', hint: 'extract its text to a .txt file' };
  if (startsWith(head, [0x50, 0x4b, 0x03, 0x04]) || startsWith(head, [0x50, 0x4b, 0x05, 0x06])) return zipKind(head, file);
  if (startsWith(head, [0x1f, 0x8b])) return { what: 'a gzip-compressed file', hint: 'decompress it first' };
  if (startsWith(head, 'BZh') && head.length > 3 && head[3]! >= 0x31 && head[3]! <= 0x39) return { what: 'a bzip2-compressed file', hint: 'decompress it first' };
  if (startsWith(head, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return { what: 'an xz-compressed file', hint: 'decompress it first' };
  if (startsWith(head, [0x28, 0xb5, 0x2f, 0xfd])) return { what: 'a zstd-compressed file', hint: 'decompress it first' };
  if (startsWith(head, 'PAR1')) return { what: 'a Parquet file', hint: 'export it as JSONL or CSV' };
  if (startsWith(head, 'ARROW1')) return { what: 'an Arrow file', hint: 'export it as JSONL or CSV' };
  if (startsWith(head, 'SQLite format 3\0')) return { what: 'an SQLite database', hint: 'export the table as CSV or JSONL' };
  if (startsWith(head, [0x7f, 0x45, 0x4c, 0x46])) return { what: 'an ELF executable' };
  if (startsWith(head, [0xff, 0xfe]) || startsWith(head, [0xfe, 0xff])) return { what: 'a UTF-16 text file', hint: 'save it as UTF-8' };
  if (isSafetensors(head, fileBytes)) return { what: 'a safetensors weights file' };
  if (head.includes(0)) return { what: 'a binary file (it contains NUL bytes)' };
  return null;
}

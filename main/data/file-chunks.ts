// Reads a file in fixed-size chunks with synchronous I/O, so an import can run inside one
// better-sqlite3 transaction (which cannot span an await) while never holding the whole file.
import { closeSync, openSync, readSync } from 'node:fs';

export const DEFAULT_CHUNK_BYTES = 1 << 20;

/**
 * Yields successive chunks. The yielded buffer is reused for the next chunk: copy what you keep.
 * The file is closed when the loop ends, breaks or throws.
 */
export function* readFileChunks(file: string, chunkBytes = DEFAULT_CHUNK_BYTES): Generator<Buffer> {
  const fd = openSync(file, 'r');
  try {
    // A UTF-8 byte order mark (Excel and Notepad write one) is not part of the first field or key.
    const head = Buffer.alloc(3);
    const headBytes = readSync(fd, head, 0, 3, null);
    const hasBom = headBytes === 3 && head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf;
    if (!hasBom && headBytes > 0) yield head.subarray(0, headBytes);
    const buf = Buffer.allocUnsafe(chunkBytes);
    for (;;) {
      const n = readSync(fd, buf, 0, chunkBytes, null);
      if (n === 0) return;
      yield buf.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}

/** Collects byte ranges from reused chunk buffers into one owned buffer, up to a limit. */
export class ByteCollector {
  private parts: Buffer[] = [];
  private size = 0;
  overflowed = false;

  constructor(private readonly limit: number) {}

  get length(): number {
    return this.size;
  }

  append(chunk: Buffer, start: number, end: number): void {
    if (end <= start) return;
    this.size += end - start;
    if (this.overflowed) return;
    if (this.size > this.limit) {
      this.overflowed = true;
      this.parts = [];
      return;
    }
    this.parts.push(Buffer.from(chunk.subarray(start, end)));
  }

  take(): Buffer {
    const out = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    this.reset();
    return out;
  }

  reset(): void {
    this.parts = [];
    this.size = 0;
    this.overflowed = false;
  }
}

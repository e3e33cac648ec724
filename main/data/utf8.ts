// Strict UTF-8 decoding. A file with invalid bytes is usually the wrong encoding (Latin-1, UTF-16);
// silently replacing them with U+FFFD would train the model on garbage, so we report where they are.

const strictDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Byte offset of the first invalid UTF-8 sequence in bytes, or -1 when all of it is valid. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      min = 0x10000;
    } else {
      return i;
    }
    if (i + need >= n) return i; // sequence cut off by the end of the bytes
    let cp = b & (0xff >> (need + 2));
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

export type DecodeResult = { ok: true; text: string } | { ok: false; byteOffset: number };

/** Decodes with the fast native decoder and only scans byte by byte to locate a failure. */
export function decodeUtf8Strict(bytes: Uint8Array): DecodeResult {
  try {
    return { ok: true, text: strictDecoder.decode(bytes) };
  } catch {
    return { ok: false, byteOffset: Math.max(0, firstInvalidUtf8(bytes)) };
  }
}

/** Where a byte offset falls: the 1-based line relative to the start of bytes, and the 1-based byte column. */
export function lineAndColumnAt(bytes: Uint8Array, byteOffset: number): { lineDelta: number; column: number } {
  let lineDelta = 0;
  let lineStart = 0;
  for (let i = 0; i < byteOffset && i < bytes.length; i++) {
    if (bytes[i] === 0x0a) {
      lineDelta++;
      lineStart = i + 1;
    }
  }
  return { lineDelta, column: byteOffset - lineStart + 1 };
}

export function describeInvalidUtf8(bytes: Uint8Array, byteOffset: number): string {
  const shown = Array.from(bytes.subarray(byteOffset, byteOffset + 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return `invalid UTF-8 (bytes ${shown}); save the file as UTF-8`;
}

// Reads the small F32 / I32 fixture files tests compare against, and edits them to make broken ones
// (safetensors: an 8-byte little-endian header length, a JSON header, then the raw tensors).
import { readFileSync, writeFileSync } from 'node:fs';

export function readSafetensors(file: string): Record<string, { shape: number[]; data: Float32Array | Int32Array }> {
  const buf = readFileSync(file);
  const headerLength = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const base = 8 + headerLength;
  const out: Record<string, { shape: number[]; data: Float32Array | Int32Array }> = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const bytes = buf.subarray(base + t.data_offsets[0], base + t.data_offsets[1]);
    const copy = new Uint8Array(bytes).buffer; // aligned copy
    if (t.dtype === 'F32') out[name] = { shape: t.shape, data: new Float32Array(copy) };
    else if (t.dtype === 'I32') out[name] = { shape: t.shape, data: new Int32Array(copy) };
    else throw new Error(`${file}: tensor ${name} has dtype ${t.dtype}; only F32 and I32 are read here`);
  }
  return out;
}

/** ‖a − b‖ / ‖b‖ in float64. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

type HeaderEntry = { dtype: string; shape: number[]; data_offsets: [number, number] };

/** Rewrites a safetensors file's JSON header through `edit`, keeping the data block as it is: how tests make files whose header lies about the data. */
export function editSafetensorsHeader(file: string, edit: (header: Record<string, HeaderEntry>) => void): void {
  const buf = readFileSync(file);
  const headerLength = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, HeaderEntry>;
  edit(header);
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - ((8 + text.length) % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(text.length));
  writeFileSync(file, Buffer.concat([length, Buffer.from(text, 'utf8'), buf.subarray(8 + headerLength)]));
}

/** Overwrites element `index` of an F32 tensor in place. */
export function pokeF32(file: string, tensor: string, index: number, value: number): void {
  const buf = readFileSync(file);
  const headerLength = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, HeaderEntry>;
  const entry = header[tensor];
  if (!entry || entry.dtype !== 'F32') throw new Error(`${file}: no F32 tensor ${tensor}`);
  buf.writeFloatLE(value, 8 + headerLength + entry.data_offsets[0] + 4 * index);
  writeFileSync(file, buf);
}

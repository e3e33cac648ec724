// Reads the small F32 / I32 fixture files tests compare against (safetensors: an 8-byte
// little-endian header length, a JSON header, then the raw tensors).
import { readFileSync } from 'node:fs';

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

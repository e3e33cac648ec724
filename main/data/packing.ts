// Optional packing: several short examples concatenated into one training sequence, so a batch is
// not mostly padding. Each example keeps its own BOS/EOS and loss mask; segmentStarts lets an
// engine that supports it keep attention inside each example.

export interface TokenSequence {
  ids: number[];
  mask: number[];
}

export interface PackedSequence extends TokenSequence {
  /** Offset in ids where each packed example begins. */
  segmentStarts: number[];
}

/**
 * Packs in order ("next fit"): an example goes into the current sequence if it fits, else starts a
 * new one. Order is kept so a seeded shuffle upstream stays meaningful; an example longer than
 * maxTokens is cut to maxTokens and sits alone.
 */
export function packSequences(sequences: Iterable<TokenSequence>, maxTokens: number): PackedSequence[] {
  if (!(maxTokens > 0)) throw new Error(`packing length must be positive, got ${maxTokens}`);
  const packed: PackedSequence[] = [];
  let current: PackedSequence | null = null;
  for (const s of sequences) {
    const ids = s.ids.length > maxTokens ? s.ids.slice(0, maxTokens) : s.ids;
    const mask = s.mask.length > maxTokens ? s.mask.slice(0, maxTokens) : s.mask;
    if (current === null || current.ids.length + ids.length > maxTokens) {
      current = { ids: [], mask: [], segmentStarts: [] };
      packed.push(current);
    }
    current.segmentStarts.push(current.ids.length);
    for (let i = 0; i < ids.length; i++) {
      current.ids.push(ids[i]!);
      current.mask.push(mask[i]!);
    }
  }
  return packed;
}

// Seeded train/validation split. The same seed, fraction and row count always pick the same rows,
// so a run can be reproduced and two runs compared on the same held-out examples.

/** The split an import draws when not told otherwise. */
export const DEFAULT_VAL_FRACTION = 0.1;
export const DEFAULT_SPLIT_SEED = 1234;

/** mulberry32: a small, fast 32-bit PRNG; plenty for shuffling, and identical on every platform. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** How many rows go to validation: at least one when asked for any and there are two or more rows. */
export function validationCount(rows: number, valFraction: number): number {
  if (!(valFraction > 0) || rows < 2) return 0;
  if (valFraction >= 1) throw new Error(`validation fraction must be below 1, got ${valFraction}`);
  return Math.min(rows - 1, Math.max(1, Math.round(rows * valFraction)));
}

/** Indices in [0, rows) chosen for validation, in ascending order: a partial Fisher-Yates shuffle. */
export function chooseValidationIndices(rows: number, valFraction: number, seed: number): number[] {
  const k = validationCount(rows, valFraction);
  const order = new Int32Array(rows);
  for (let i = 0; i < rows; i++) order[i] = i;
  const random = seededRandom(seed);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(random() * (rows - i));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return Array.from(order.subarray(0, k)).sort((a, b) => a - b);
}

// Turning tokenized examples into the engine's micro-batches: a seeded shuffle per epoch (so a run
// repeats exactly and a resumed run can find its place), and rows padded to the longest row of
// their micro-batch with a loss mask of 0 on the padding (causal attention means padding at the end
// never changes what real tokens see).
import { seededRandom } from '../data/seeded-split.js';
import type { MicroBatch } from '../engine/native.js';

export interface TrainSequence {
  ids: number[];
  mask: number[];
}

/**
 * A micro-batch larger than the training split holds some examples twice (the order runs into the
 * next epoch): worth a warning naming the split's size, not a refusal.
 */
export function batchSizeWarning(batchSize: number, trainExamples: number): string | null {
  if (batchSize <= trainExamples) return null;
  return `the batch size ${batchSize} is larger than the training split, which has ${trainExamples} example${trainExamples === 1 ? '' : 's'}: every micro-batch repeats examples (a batch size of at most ${trainExamples} avoids that)`;
}

/** Example order: epoch e is a Fisher-Yates shuffle seeded by (seed, e); epochs follow each other. */
export class EpochOrder {
  private epoch = -1;
  private order: number[] = [];
  private next = 0;

  constructor(
    private readonly count: number,
    private readonly seed: number,
  ) {
    if (count < 1) throw new Error('there are no examples to train on');
  }

  take(): number {
    if (this.next >= this.order.length) this.shuffle();
    return this.order[this.next++]!;
  }

  /** Position as (epoch, index within epoch): what a checkpoint records to resume the data stream. */
  get position(): { epoch: number; index: number } {
    return { epoch: Math.max(0, this.epoch), index: this.next };
  }

  private shuffle(): void {
    this.epoch++;
    const random = seededRandom((this.seed * 1_000_003 + this.epoch) >>> 0);
    this.order = Array.from({ length: this.count }, (_, i) => i);
    for (let i = this.count - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [this.order[i], this.order[j]] = [this.order[j]!, this.order[i]!];
    }
    this.next = 0;
  }
}

/** Rows of one micro-batch, padded with `padId` (mask 0) to the longest row. */
export function makeMicroBatch(rows: TrainSequence[], padId: number): MicroBatch & { realTokens: number } {
  const seq = Math.max(...rows.map((r) => r.ids.length));
  const tokens = new Int32Array(rows.length * seq).fill(padId);
  const lossMask = new Uint8Array(rows.length * seq);
  let realTokens = 0;
  rows.forEach((r, b) => {
    tokens.set(r.ids, b * seq);
    lossMask.set(r.mask, b * seq);
    realTokens += r.ids.length;
  });
  return { tokens, lossMask, batch: rows.length, seq, realTokens };
}

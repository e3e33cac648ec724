// Estimated time left from progress so far: the mean time per step since the job's first progress
// report, times the steps left. Null until two reports exist (one point says nothing about pace).
export class EtaEstimator {
  private first: { step: number; at: number } | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  update(step: number, total: number): number | null {
    const at = this.now();
    if (!this.first) {
      this.first = { step, at };
      return null;
    }
    const steps = step - this.first.step;
    if (steps <= 0 || total <= step) return total <= step ? 0 : null;
    const perStep = (at - this.first.at) / 1000 / steps;
    return perStep * (total - step);
  }
}

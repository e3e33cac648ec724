import { describe, expect, it } from 'vitest';
import { EtaEstimator } from '../../../main/jobs/eta.js';

describe('EtaEstimator', () => {
  it('projects the mean pace since the first report onto the steps left', () => {
    let now = 0;
    const eta = new EtaEstimator(() => now);
    expect(eta.update(1, 11)).toBeNull(); // one point gives no pace
    now = 2000;
    expect(eta.update(2, 11)).toBeCloseTo(18); // 2 s per step, 9 left
    now = 5000;
    expect(eta.update(4, 11)).toBeCloseTo(11.6667, 3); // 5 s for 3 steps, 7 left
    now = 9000;
    expect(eta.update(11, 11)).toBe(0);
  });
});

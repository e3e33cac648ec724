// Seeded split, token statistics and packing: small pure functions with exact expectations.
import { describe, expect, it } from 'vitest';
import { exampleHash } from '../../../main/data/content-hash.js';
import { packSequences } from '../../../main/data/packing.js';
import { chooseValidationIndices, validationCount } from '../../../main/data/seeded-split.js';
import { tokenLengthStats } from '../../../main/data/token-stats.js';

describe('seeded split', () => {
  it('is reproducible for a seed, differs across seeds, and has the exact size', () => {
    const a = chooseValidationIndices(1000, 0.1, 42);
    expect(a).toEqual(chooseValidationIndices(1000, 0.1, 42));
    expect(a).not.toEqual(chooseValidationIndices(1000, 0.1, 43));
    expect(a.length).toBe(100);
    expect(new Set(a).size).toBe(100);
    expect(a.every((i) => i >= 0 && i < 1000)).toBe(true);
    expect([...a].sort((x, y) => x - y)).toEqual(a);
  });

  it('keeps at least one row on each side when it can', () => {
    expect(validationCount(1, 0.5)).toBe(0);
    expect(validationCount(2, 0.01)).toBe(1);
    expect(validationCount(10, 0.99)).toBe(9);
    expect(validationCount(10, 0)).toBe(0);
    expect(() => validationCount(10, 1)).toThrow(/below 1/);
  });
});

describe('tokenLengthStats', () => {
  it('gives percentiles, over-context count and a histogram with round bin widths', () => {
    const lengths = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
    const s = tokenLengthStats(lengths, { bins: 10, contextLength: 90 });
    expect(s).toMatchObject({ count: 100, min: 1, max: 100, mean: 50.5, p50: 50, p90: 90, p99: 99, totalTokens: 5050, overContext: 10 });
    expect(s.histogram[0]).toEqual({ from: 0, to: 10, count: 9 });
    expect(s.histogram.reduce((a, b) => a + b.count, 0)).toBe(100);
    expect(s.histogram.every((b) => b.to - b.from === 10)).toBe(true);
    expect(tokenLengthStats([])).toMatchObject({ count: 0, histogram: [] });
  });
});

describe('packSequences', () => {
  it('packs in order up to the length, keeps masks, marks segment starts, cuts over-long ones', () => {
    const seq = (n: number, tag: number) => ({ ids: Array(n).fill(tag) as number[], mask: Array(n).fill(tag % 2) as number[] });
    const packed = packSequences([seq(3, 1), seq(4, 2), seq(5, 3), seq(12, 4)], 8);
    expect(packed.map((p) => p.ids)).toEqual([[1, 1, 1, 2, 2, 2, 2], [3, 3, 3, 3, 3], [4, 4, 4, 4, 4, 4, 4, 4]]);
    expect(packed.map((p) => p.segmentStarts)).toEqual([[0, 3], [0], [0]]);
    expect(packed[0]!.mask).toEqual([1, 1, 1, 0, 0, 0, 0]);
  });
});

describe('exampleHash', () => {
  it('is equal for the same content and differs by role, text or kind', () => {
    const a = exampleHash({ kind: 'chat', messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: 'y' }] });
    expect(a).toBe(exampleHash({ kind: 'chat', messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: 'y' }] }));
    expect(a).not.toBe(exampleHash({ kind: 'chat', messages: [{ role: 'system', content: 'x' }, { role: 'assistant', content: 'y' }] }));
    expect(exampleHash({ kind: 'text', text: 'x' })).not.toBe(exampleHash({ kind: 'text', text: 'x ' }));
  });
});

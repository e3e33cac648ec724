// Token length statistics and a histogram: shown at import so the user can pick a sequence length
// (and see how many examples a given one would cut) before spending GPU time.

export interface HistogramBin {
  /** Inclusive lower and exclusive upper bound, in tokens. */
  from: number;
  to: number;
  count: number;
}

export interface TokenLengthStats {
  count: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  totalTokens: number;
  /** Examples longer than the context given, when one was. */
  overContext: number;
  histogram: HistogramBin[];
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Bin width is a "round" number (1, 2, 5 x 10^k) so the axis labels read well. */
function niceWidth(span: number, bins: number): number {
  const raw = Math.max(1, span / bins);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  for (const step of [1, 2, 5, 10]) if (step * magnitude >= raw) return step * magnitude;
  return 10 * magnitude;
}

export function tokenLengthStats(lengths: number[], options: { bins?: number; contextLength?: number } = {}): TokenLengthStats {
  const sorted = [...lengths].sort((a, b) => a - b);
  const count = sorted.length;
  const total = sorted.reduce((a, b) => a + b, 0);
  const min = sorted[0] ?? 0;
  const max = sorted[count - 1] ?? 0;
  const histogram: HistogramBin[] = [];
  if (count > 0) {
    const width = niceWidth(max - min + 1, options.bins ?? 20);
    const start = Math.floor(min / width) * width;
    const nBins = Math.floor((max - start) / width) + 1;
    for (let b = 0; b < nBins; b++) histogram.push({ from: start + b * width, to: start + (b + 1) * width, count: 0 });
    for (const n of sorted) histogram[Math.floor((n - start) / width)]!.count++;
  }
  const context = options.contextLength;
  return {
    count,
    min,
    max,
    mean: count === 0 ? 0 : total / count,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    totalTokens: total,
    overContext: context === undefined ? 0 : sorted.filter((n) => n > context).length,
    histogram,
  };
}

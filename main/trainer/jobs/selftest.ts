// The `selftest` job: the engine's fp32 matrix-product check against float64, round by round.
import type { z } from 'zod';
import type { SelfTestSpecSchema } from '../../api/contract.js';
import { loadEngine, type SelfTestSummary } from '../../engine/native.js';
import type { JobContext } from './job-context.js';

export async function runSelfTest(spec: z.output<typeof SelfTestSpecSchema>, ctx: JobContext): Promise<SelfTestSummary> {
  const engine = loadEngine();
  ctx.log('info', `self-test: ${spec.rounds} rounds of ${spec.size}x${spec.size} fp32 products against float64`);
  const handle = engine.selfTest({ rounds: spec.rounds, size: spec.size }, (r) => {
    ctx.progress(r.round, r.rounds, `round ${r.round}/${r.rounds}: max rel. error ${r.maxRelError.toExponential(2)}, ${r.gflops.toFixed(2)} GFLOP/s`);
  });
  ctx.onCancel(() => handle.cancel());
  const summary = await handle.promise;
  if (!summary.cancelled && !summary.passed) {
    throw new Error(`self-test failed: max relative error ${summary.maxRelError.toExponential(3)} exceeds ${summary.tolerance}`);
  }
  return summary;
}

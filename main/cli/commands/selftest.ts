// tunesmith selftest: run the engine self-test through a trainer process, with progress.
import { followRun, parseIntOption, parseOptions, withContext, type CliCommand } from '../command.js';

export const selftestCommand: CliCommand = {
  name: 'selftest',
  summary: 'Check the engine: fp32 matrix products against a float64 reference',
  help: `Usage: tunesmith selftest [--rounds N] [--size N] [--json]

  --rounds N   rounds, each with fresh random inputs (default 8)
  --size N     matrix size N x N (default 256, 8 to 2048)
  --json       print the result as JSON`,
  async run(argv, io) {
    const { values } = parseOptions(argv, { rounds: { type: 'string' }, size: { type: 'string' }, json: { type: 'boolean' } });
    const rounds = parseIntOption('rounds', values.rounds, 8, 1, 100_000);
    const size = parseIntOption('size', values.size, 256, 8, 2048);
    return withContext(io, async (ctx) => {
      const run = ctx.jobs.start({ kind: 'selftest', rounds, size });
      const ended = await followRun(ctx, io, run.id, { quiet: values.json, prefix: (step, total) => `[${step}/${total}] ` });
      if (values.json) io.out(JSON.stringify(ended, null, 2));
      else if (ended.state === 'succeeded') {
        const r = ended.result as { maxRelError: number; tolerance: number; meanGflops: number; seconds: number };
        io.out(`passed: max relative error ${r.maxRelError.toExponential(2)} (tolerance ${r.tolerance}), ${r.meanGflops.toFixed(2)} GFLOP/s, ${r.seconds.toFixed(2)} s (run ${run.id})`);
      } else io.err(`self-test ${ended.state}${ended.error ? `: ${ended.error}` : ''} (run ${run.id})`);
      return ended.state === 'succeeded' ? 0 : 1;
    });
  },
};

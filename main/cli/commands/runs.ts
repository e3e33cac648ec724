// tunesmith runs: run history from the database.
import type { Run } from '../../api/contract.js';
import { parseIntOption, parseOptions, UsageError, withContext, type CliCommand } from '../command.js';

function row(run: Run): string {
  return [String(run.id).padStart(4), run.state.padEnd(9), run.kind.padEnd(9), run.createdAt.padEnd(24), run.name].join('  ');
}

export const runsCommand: CliCommand = {
  name: 'runs',
  summary: 'List runs, or show one run with its error or result',
  help: `Usage: tunesmith runs list [--limit N] [--json]
       tunesmith runs show ID [--json]`,
  async run(argv, io) {
    const [sub, ...rest] = argv;
    if (sub === 'list') {
      const { values } = parseOptions(rest, { limit: { type: 'string' }, json: { type: 'boolean' } });
      const limit = parseIntOption('limit', values.limit, 50, 1, 1000);
      const { runs } = await withContext(io, (ctx) => ctx.handlers['runs.list']({ limit }));
      if (values.json) io.out(JSON.stringify(runs, null, 2));
      else if (runs.length === 0) io.out('no runs yet');
      else {
        io.out(['  id', 'state    ', 'kind     ', 'created                 ', 'name'].join('  '));
        for (const run of runs) io.out(row(run));
      }
      return 0;
    }
    if (sub === 'show') {
      const { values, positionals } = parseOptions(rest, { json: { type: 'boolean' } }, true);
      const id = Number(positionals[0]);
      if (!Number.isInteger(id)) throw new UsageError(`runs show needs a run id, got "${positionals[0] ?? ''}"`);
      const detail = await withContext(io, (ctx) => ctx.handlers['runs.get']({ id }));
      if (values.json) io.out(JSON.stringify(detail, null, 2));
      else {
        io.out(row(detail.run));
        if (detail.run.error) io.out(`error: ${detail.run.error}`);
        if (detail.run.result !== null) io.out(`result: ${JSON.stringify(detail.run.result)}`);
        io.out(`metrics: ${detail.metrics.length} steps recorded`);
      }
      return 0;
    }
    throw new UsageError(`runs needs a subcommand: list or show (got "${sub ?? ''}")`);
  },
};

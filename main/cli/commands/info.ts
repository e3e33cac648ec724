// tunesmith info: what this machine and this build of the engine can do.
import type { SystemInfo } from '../../api/contract.js';
import { formatBytes, parseOptions, withContext, type CliCommand } from '../command.js';

export function describeGpu(info: SystemInfo): string[] {
  const cuda = info.engine.cuda;
  if (cuda.devices.length === 0) return [`no CUDA device: ${cuda.error ?? 'none found'}`];
  return cuda.devices.map((d) => `${d.name} (${formatBytes(d.totalMemory)}, compute capability ${d.computeCapability})`);
}

export const infoCommand: CliCommand = {
  name: 'info',
  summary: 'Show the engine build, GPUs (or why none), memory and where data is kept',
  help: `Usage: tunesmith info [--json]

  --json   print the full system info as JSON`,
  async run(argv, io) {
    const { values } = parseOptions(argv, { json: { type: 'boolean' } });
    const info = await withContext(io, (ctx) => ctx.handlers['system.info']({ refresh: true }));
    if (values.json) {
      io.out(JSON.stringify(info, null, 2));
      return 0;
    }
    io.out(`Tunesmith ${info.app.version} (engine ${info.engine.version}, ${info.engine.compiler})`);
    io.out(`backends:  ${info.engine.backends.join(', ')}`);
    for (const line of describeGpu(info)) io.out(`gpu:       ${line}`);
    io.out(`cpu:       ${info.host.cpuModel} (${info.host.cpuCount} threads; engine uses ${info.engine.cpuThreads})`);
    io.out(`memory:    ${formatBytes(info.host.totalMemory)} total, ${formatBytes(info.host.freeMemory)} free`);
    io.out(`home:      ${info.app.home}`);
    io.out(`database:  ${info.app.databasePath}`);
    return 0;
  },
};

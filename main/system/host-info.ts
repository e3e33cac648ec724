// Facts about the machine the app runs on, read fresh on every call (free memory changes).
import { arch, cpus, freemem, platform, totalmem } from 'node:os';
import type { SystemInfo } from '../api/contract.js';

export function hostInfo(): SystemInfo['host'] {
  const cpuList = cpus();
  return {
    platform: platform(),
    arch: arch(),
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
    cpuCount: cpuList.length,
    totalMemory: totalmem(),
    freeMemory: freemem(),
    nodeVersion: process.versions.node,
    electronVersion: process.versions.electron ?? null,
  };
}

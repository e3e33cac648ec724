// Trainer processes under Electron: utilityProcess runs the same entry as child_process.fork does
// under Node, with Electron's Node (so the N-API addon loads unchanged).
import { utilityProcess } from 'electron';
import type { LaunchTrainer } from '../trainer/launcher.js';
import type { FromTrainer } from '../trainer/protocol.js';

export function utilityLauncher(entry: string): LaunchTrainer {
  return () => {
    const child = utilityProcess.fork(entry, [], { serviceName: 'Tunesmith trainer', stdio: 'inherit' });
    return {
      get pid() {
        return child.pid;
      },
      send: (m) => child.postMessage(m),
      kill: () => {
        child.kill();
      },
      onMessage: (listener) => child.on('message', (m: unknown) => listener(m as FromTrainer)),
      onExit: (listener) => child.once('exit', (code: number) => listener(code, null)),
    };
  };
}

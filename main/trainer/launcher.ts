// Starting a trainer process, hidden behind one small interface so the supervisor works the same
// with child_process.fork (plain Node: serve mode, CLI, tests) and Electron's utilityProcess.
import { fork } from 'node:child_process';
import type { FromTrainer, ToTrainer } from './protocol.js';

export interface TrainerChild {
  readonly pid: number | undefined;
  send(message: ToTrainer): void;
  /** Hard stop (the cancel grace period ran out, or the app is closing). */
  kill(): void;
  onMessage(listener: (message: FromTrainer) => void): void;
  /** Fires once; `signal` is null where the platform reports only a code (Electron). */
  onExit(listener: (code: number | null, signal: string | null) => void): void;
}

export type LaunchTrainer = () => TrainerChild;

export function forkLauncher(entry: string): LaunchTrainer {
  return () => {
    const child = fork(entry, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
    return {
      get pid() {
        return child.pid;
      },
      send: (m) => {
        if (child.connected) child.send(m);
      },
      kill: () => {
        child.kill('SIGKILL');
      },
      onMessage: (listener) => child.on('message', (m) => listener(m as FromTrainer)),
      onExit: (listener) => {
        // 'error' covers a fork that could not start at all: report it as an exit.
        let fired = false;
        const once = (code: number | null, signal: string | null) => {
          if (!fired) {
            fired = true;
            listener(code, signal);
          }
        };
        child.on('exit', (code, signal) => once(code, signal));
        child.on('error', () => once(child.exitCode ?? 1, null));
      },
    };
  };
}

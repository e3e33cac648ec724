// The trainer process's side of the message channel. Under Electron it is a utilityProcess and talks
// through process.parentPort; under plain Node it was forked and talks through process.send.
import type { FromTrainer, ToTrainer } from './protocol.js';

interface ParentPort {
  on(event: 'message', listener: (e: { data: unknown }) => void): void;
  postMessage(message: unknown): void;
}

export interface ChildChannel {
  send(message: FromTrainer): void;
  onMessage(listener: (message: ToTrainer) => void): void;
}

export function connectToParent(): ChildChannel {
  const parentPort = (process as unknown as { parentPort?: ParentPort }).parentPort;
  if (parentPort) {
    return {
      send: (m) => parentPort.postMessage(m),
      onMessage: (listener) => parentPort.on('message', (e) => listener(e.data as ToTrainer)),
    };
  }
  if (!process.send) throw new Error('the trainer process must be started by the supervisor (no IPC channel)');
  // If the app dies (even by SIGKILL) the channel closes: stop too, rather than train on unseen.
  process.on('disconnect', () => process.exit(3));
  return {
    send: (m) => process.send!(m),
    onMessage: (listener) => process.on('message', (m) => listener(m as ToTrainer)),
  };
}

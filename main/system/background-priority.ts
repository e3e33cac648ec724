// Bulk work that nobody is waiting on second by second (a dataset import) runs at a lower CPU
// priority, so on a machine with few cores it leaves the CPU to what a person is waiting on: the
// app's own thread answering the UI, and a training run.
import { constants, platform, setPriority } from 'node:os';
import { isMainThread } from 'node:worker_threads';

/**
 * Lowers the calling thread's priority. In a worker thread only Linux can do that for one thread
 * (its nice value is per thread); elsewhere it would slow the whole app down, so it is left alone.
 * Never fails: a priority is a preference, not a requirement.
 */
export function runInBackground(): void {
  if (!isMainThread && platform() !== 'linux') return;
  try {
    setPriority(constants.priority.PRIORITY_BELOW_NORMAL);
  } catch {
    // Not allowed here (a sandbox, a policy): run at the usual priority.
  }
}

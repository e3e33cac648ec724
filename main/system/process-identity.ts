// Who owns a run, and whether that owner still exists.
//
// A run is owned by the process that supervises it: the app, `tunesmith serve` or the CLI command
// that started it. Its trainer process exits when that supervisor goes away (the IPC channel
// closes), so a run can only still be going while its owner lives. The owner is recorded in the
// database with the run (not as a lock file in the run folder) because every kind of run needs one,
// and most kinds (self-tests, evaluations, exports) have no folder; a lock file would also outlive
// a crash just the same and need this very check to be declared stale.
//
// A process id alone is not an identity: after the owner dies the id can be handed to an unrelated
// process. On Linux the owner is therefore its id plus its start time (field 22 of /proc/PID/stat,
// in clock ticks since boot) and the boot it started in, which together never repeat. Elsewhere the
// start time is unknown and liveness falls back to "a process with this id exists".
import { readFileSync } from 'node:fs';
import type { RunOwner } from '../../db/runs.js';

/** The start of process `pid` as an opaque token that differs for any other process, or null where it cannot be read. */
export function processStartToken(pid: number): string | null {
  if (process.platform !== 'linux') return null;
  let stat: string;
  let bootId: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return null;
  }
  // Field 2 (the command name) is in parentheses and may itself hold spaces or ')': split after the last ')'.
  const afterName = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (afterName[0] === 'Z') return null; // a zombie has exited; only its parent has not collected it yet
  const startTicks = afterName[22 - 3]; // fields are numbered from 1; afterName[0] is field 3
  return startTicks === undefined ? null : `${bootId}:${startTicks}`;
}

let self: RunOwner | undefined;

/** This process, as a run's owner. */
export function thisProcessOwner(): RunOwner {
  self ??= { pid: process.pid, started: processStartToken(process.pid) };
  return self;
}

/** Whether the process that owns a run still exists (and is the same process, where that can be told). */
export function ownerIsAlive(owner: RunOwner): boolean {
  if (owner.pid === process.pid) return owner.started === null || owner.started === thisProcessOwner().started;
  if (owner.started !== null && process.platform === 'linux') {
    // A start token recorded here compares exactly; no /proc entry means the process has exited.
    return processStartToken(owner.pid) === owner.started;
  }
  try {
    process.kill(owner.pid, 0); // signal 0: checks existence and permission, sends nothing
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by another user
  }
}

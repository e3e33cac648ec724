// Starts `tunesmith serve` exactly as a user would (the bin script, a child process) and reads the
// URL it prints.
import { spawn, type ChildProcess } from 'node:child_process';
import { packagePath } from '../../main/paths.js';

export interface ServeProcess {
  url: string;
  origin: string;
  token: string;
  output(): string;
  stop(): Promise<void>;
}

export async function startServe(home: string, extraArgs: string[] = []): Promise<ServeProcess> {
  const child: ChildProcess = spawn(process.execPath, [packagePath('bin', 'tunesmith.js'), 'serve', '--port', '0', '--home', home, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve printed no URL within 30 s:\n${output}`)), 30_000);
    child.stdout!.on('data', () => {
      const m = /Tunesmith is serving: (http:\/\/\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on('exit', (code) => reject(new Error(`serve exited with code ${code}:\n${output}`)));
  });
  const parsed = new URL(url);
  return {
    url,
    origin: parsed.origin,
    token: parsed.searchParams.get('token')!,
    output: () => output,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

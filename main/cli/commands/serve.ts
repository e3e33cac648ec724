// tunesmith serve: the app's UI and API in a browser (headless GPU boxes, end-to-end tests).
import { createAppContext } from '../../app-context.js';
import { rendererDir, trainerEntry } from '../../paths.js';
import { isLoopbackBind, networkNames, originOf } from '../../serve/origins.js';
import { startServer } from '../../serve/server.js';
import { forkLauncher } from '../../trainer/launcher.js';
import { parseIntOption, parseOptions, type CliCommand } from '../command.js';

export const DEFAULT_PORT = 7878;

export const serveCommand: CliCommand = {
  name: 'serve',
  summary: 'Serve the app to a browser on 127.0.0.1, behind a per-launch token',
  help: `Usage: tunesmith serve [--port N] [--host ADDR]

  --port N      port to listen on (default ${DEFAULT_PORT}; 0 picks a free one)
  --host ADDR   address to bind (default 127.0.0.1). Another address (0.0.0.0 for
                all) exposes the app to the network under this machine's names and
                addresses, with the token as the only guard: prefer an SSH tunnel

Prints the URL to open; it carries the token, and requests without it are refused.`,
  async run(argv, io) {
    const { values } = parseOptions(argv, { port: { type: 'string' }, host: { type: 'string' } });
    const port = parseIntOption('port', values.port, DEFAULT_PORT, 0, 65535);
    const host = values.host ?? '127.0.0.1';
    const ctx = createAppContext({ home: io.home, mode: 'serve', launchTrainer: forkLauncher(trainerEntry()) });
    let server;
    try {
      server = await startServer({ ctx, staticDir: rendererDir(), host, port, log: (message) => io.err(message) });
    } catch (err) {
      ctx.close();
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') io.err(`port ${port} on ${host} is in use: pick another with --port N (0 for any free port)`);
      else io.err(`cannot serve on ${host}:${port}: ${(err as Error).message}`);
      return 1;
    }
    if (!isLoopbackBind(host)) {
      const names = networkNames(server.hostNames).map((name) => originOf(name, server.port));
      io.err(`warning: bound to ${host}: reachable from other machines as ${names.join(', ') || host}`);
      io.err('  the token is then the only guard, and it travels unencrypted over plain HTTP. Prefer binding');
      io.err(`  127.0.0.1 and forwarding the port over SSH: ssh -L ${server.port}:127.0.0.1:${server.port} <this machine>`);
    }
    io.out(`Tunesmith is serving: ${server.url}`);
    io.out(`home: ${ctx.layout.home}   (Ctrl+C to stop)`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await server.close();
    ctx.close();
    return 0;
  },
};

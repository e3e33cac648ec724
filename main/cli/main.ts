// The `tunesmith` command line: global options, then one command.
import { packageVersion, resolveHome } from '../paths.js';
import { UsageError, type CliIo } from './command.js';
import { commands } from './commands/index.js';

function globalHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    `Tunesmith ${packageVersion()}: fine-tune open LLMs on one GPU`,
    '',
    'Usage: tunesmith [--home DIR] <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Global options:',
    '  --home DIR   where the database, runs and exports live (default: $TUNESMITH_HOME,',
    '               else the platform app-data folder)',
    '  --help, -h   this help; "tunesmith <command> --help" for a command',
    '  --version    print the version',
  ].join('\n');
}

/** Pulls --home out of argv wherever it stands, so commands never see it. */
function extractHome(argv: string[]): { home: string | undefined; rest: string[] } {
  const rest: string[] = [];
  let home: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--home') {
      home = argv[++i];
      if (!home) throw new UsageError('--home needs a folder');
    } else if (a.startsWith('--home=')) home = a.slice('--home='.length);
    else rest.push(a);
  }
  return { home, rest };
}

export async function runCli(argv: string[], io: Omit<CliIo, 'home'> = { out: (l) => console.log(l), err: (l) => console.error(l) }): Promise<number> {
  try {
    const { home, rest } = extractHome(argv);
    const [name, ...args] = rest;
    if (!name || name === '--help' || name === '-h' || name === 'help') {
      io.out(globalHelp());
      return name ? 0 : 2;
    }
    if (name === '--version') {
      io.out(packageVersion());
      return 0;
    }
    const command = commands.find((c) => c.name === name);
    if (!command) throw new UsageError(`unknown command "${name}"`);
    if (args.includes('--help') || args.includes('-h')) {
      io.out(command.help);
      return 0;
    }
    return await command.run(args, { ...io, home: resolveHome({ flag: home }) });
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`tunesmith: ${err.message}\nRun "tunesmith --help" for usage.`);
      return 2;
    }
    io.err(`tunesmith: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

// Every CLI command, in the order `tunesmith --help` lists them. Add a command by writing a module
// in this folder and listing it here.
import type { CliCommand } from '../command.js';
import { dataCommand } from './data.js';
import { estimateCommand } from './estimate.js';
import { evalCommand } from './eval.js';
import { exportCommand } from './export.js';
import { generateCommand } from './generate.js';
import { infoCommand } from './info.js';
import { runsCommand } from './runs.js';
import { scoreCommand } from './score.js';
import { selftestCommand } from './selftest.js';
import { serveCommand } from './serve.js';
import { trainCommand } from './train.js';

export const commands: CliCommand[] = [
  infoCommand,
  dataCommand,
  trainCommand,
  exportCommand,
  evalCommand,
  estimateCommand,
  scoreCommand,
  generateCommand,
  runsCommand,
  serveCommand,
  selftestCommand,
];

// `npm run bench:methods`: the LISA / LoRA / ZO papers' comparison at a small scale. Fine-tunes
// stories260K-hf on a fixed SST-2 sample ("{sentence} It was" -> " great" / " terrible", responses
// only) with every method for a fixed budget, and prints method, trainable parameters, peak memory
// (the engine's own accounting), final train loss, held-out loss and accuracy, and time. Writes
// bench/results/methods.md. Everything goes through the CLI, as a user would run it.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const assets = resolve(process.env.TUNESMITH_ASSETS || join(root, '..', 'shared', 'assets'));
const model = join(assets, 'models', 'stories260K-hf');
const work = mkdtempSync(join(tmpdir(), 'tunesmith-methods-'));
const home = join(work, 'home');

const TRAIN_ROWS = 512;
const DEV_ROWS = 200;
// Budget: first-order methods take 80 steps; zeroth-order steps cost two forward passes and no
// backward (about a third of a first-order step) and need many more of them, so they get 400.
const FIRST_ORDER_STEPS = 80;
const ZO_STEPS = 400;
const common = ['--batch-size', '8', '--seq-len', '96', '--seed', '1', '--checkpoint-every', '0', '--schedule', 'constant'];
const METHODS = [
  { name: 'full', args: ['--method', 'full', '--lr', '1e-3', '--steps', FIRST_ORDER_STEPS] },
  { name: 'lora', args: ['--method', 'lora', '--lr', '1e-2', '--lora-r', '8', '--lora-alpha', '16', '--lora-dropout', '0', '--steps', FIRST_ORDER_STEPS] },
  { name: 'qlora', args: ['--method', 'qlora', '--lr', '1e-2', '--lora-r', '8', '--lora-alpha', '16', '--lora-dropout', '0', '--steps', FIRST_ORDER_STEPS] },
  { name: 'lisa (γ=1, K=10)', args: ['--method', 'lisa', '--lr', '1e-3', '--lisa-gamma', '1', '--lisa-period', '10', '--steps', FIRST_ORDER_STEPS] },
  // Learning rates from a short sweep (150 steps) on this task; ZO needs far smaller ones than
  // first-order methods, as MeZO's recommended grids show.
  { name: 'zo-sgd', args: ['--method', 'zo-sgd', '--lr', '1e-5', '--steps', ZO_STEPS] },
  { name: 'zo-sgd-sign', args: ['--method', 'zo-sgd-sign', '--lr', '1e-4', '--steps', ZO_STEPS] },
  { name: 'zo-sgd-mmt', args: ['--method', 'zo-sgd-mmt', '--lr', '2e-6', '--momentum', '0.9', '--steps', ZO_STEPS] },
  { name: 'zo-sgd-cons', args: ['--method', 'zo-sgd-cons', '--lr', '1e-5', '--steps', ZO_STEPS] },
  { name: 'zo-adam', args: ['--method', 'zo-adam', '--lr', '1e-3', '--steps', ZO_STEPS] },
  { name: 'forward-grad', args: ['--method', 'forward-grad', '--lr', '2e-5', '--steps', ZO_STEPS] },
  { name: 'zo-sgd over lora', args: ['--method', 'zo-sgd', '--zo-target', 'lora', '--zo-eps', '1e-2', '--lora-r', '8', '--lora-alpha', '16', '--lora-dropout', '0', '--lr', '1e-4', '--steps', ZO_STEPS] },
];

function tunesmith(...args) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'tunesmith.js'), '--home', home, ...args.map(String)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tunesmith ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function sst2Rows(file, count) {
  const [header, ...lines] = readFileSync(file, 'utf8').split(/\r?\n/).filter((l) => l.trim());
  const cols = header.split('\t');
  return lines.slice(0, count).map((l) => {
    const c = l.split('\t');
    return { sentence: c[cols.indexOf('sentence')].trim(), label: Number(c[cols.indexOf('label')]) };
  });
}

const asJsonl = (rows) => rows.map((r) => JSON.stringify({ prompt: `${r.sentence} It was`, completion: r.label ? ' great' : ' terrible' })).join('\n') + '\n';
const train = sst2Rows(join(assets, 'data', 'sst2', 'alps_split', 'train.tsv'), TRAIN_ROWS);
const dev = sst2Rows(join(assets, 'data', 'sst2', 'glue_sst2_dev.tsv'), DEV_ROWS);
writeFileSync(join(work, 'train.jsonl'), asJsonl(train));
writeFileSync(join(work, 'dev.jsonl'), asJsonl(dev));
writeFileSync(join(work, 'dev.tsv'), 'sentence\tlabel\n' + dev.map((r) => `${r.sentence}\t${r.label}`).join('\n') + '\n');
tunesmith('data', 'import', join(work, 'train.jsonl'), '--val-fraction', '0', '--keep-duplicates', '--template', 'alpaca');
// The held-out set: every dev row in the validation split (0.995 of 200 rounds to 199).
tunesmith('data', 'import', join(work, 'dev.jsonl'), '--val-fraction', '0.995', '--keep-duplicates', '--template', 'alpaca');

function heldOut(modelDir, adapterArgs) {
  const loss = adapterArgs.length ? null : JSON.parse(tunesmith('eval', '--task', 'loss', '--dataset', 2, '--model', modelDir, '--json'));
  const acc = JSON.parse(tunesmith('eval', '--task', 'sst2', '--data', join(work, 'dev.tsv'), '--model', modelDir, ...adapterArgs, '--json'));
  return { loss: loss?.meanNll ?? null, accuracy: acc.accuracy };
}

const results = [];
const base = heldOut(model, []);
results.push({ method: 'un-tuned', trainable: 0, peak: null, trainLoss: null, ...base, seconds: null });
for (const m of METHODS) {
  const run = join(work, 'runs', m.name.replace(/[^a-z0-9]+/gi, '-'));
  const t0 = Date.now();
  const out = JSON.parse(tunesmith('train', '--model', model, '--dataset', 1, ...common, ...m.args, '--out', run, '--json'));
  const seconds = (Date.now() - t0) / 1000;
  const r = out.result;
  const detail = JSON.parse(tunesmith('runs', 'show', out.id, '--json'));
  const peak = Math.max(...detail.metrics.map((x) => x.memBytes ?? 0));
  const tail = detail.metrics.slice(-10).map((x) => x.loss);
  const trainLoss = tail.reduce((a, b) => a + b, 0) / tail.length;
  let modelDir = r.model;
  if (r.adapter) {
    modelDir = join(run, 'merged');
    tunesmith('export', '--run', run, '--format', 'merged', '--dtype', 'f32', '--out', modelDir);
  }
  results.push({ method: m.name, steps: Number(m.args[m.args.indexOf('--steps') + 1]), trainable: r.trainableParameters, peak, trainLoss, ...heldOut(modelDir, []), seconds });
  console.error(`${m.name}: done in ${seconds.toFixed(1)} s`);
}

const fmtMB = (b) => (b === null ? '' : `${(b / 2 ** 20).toFixed(2)} MiB`);
const lines = [
  '# Every method at a small scale',
  '',
  `stories260K-hf (260,032 parameters) on SST-2: ${TRAIN_ROWS} training rows of alps_split/train.tsv as "{sentence} It was" -> " great"/" terrible" (responses only), batch 8, constant lr, seed 1; held out: the first ${DEV_ROWS} rows of glue_sst2_dev.tsv (loss on the label token; accuracy by mean option log-likelihood, as MeZO scores it). First-order methods ${FIRST_ORDER_STEPS} steps, zeroth-order ${ZO_STEPS}. Peak memory is the engine's own accounting (weights + gradients + optimizer state + activations). CPU, ${new Date().toISOString().slice(0, 10)}.`,
  '',
  '| method | steps | trainable params | peak memory | train loss (last 10) | held-out loss | held-out accuracy | time |',
  '|---|---|---|---|---|---|---|---|',
  ...results.map((r) => `| ${r.method} | ${r.steps ?? ''} | ${r.trainable.toLocaleString('en-US')} | ${fmtMB(r.peak)} | ${r.trainLoss === null ? '' : r.trainLoss.toFixed(3)} | ${r.loss.toFixed(3)} | ${(100 * r.accuracy).toFixed(1)}% | ${r.seconds === null ? '' : `${r.seconds.toFixed(1)} s`} |`),
  '',
];
const beaten = results.slice(1).filter((r) => r.loss < base.loss).length;
lines.push(`${beaten} of ${results.length - 1} methods beat the un-tuned model's held-out loss (${base.loss.toFixed(3)}).`, '');
const table = lines.join('\n');
console.log(table);
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', 'methods.md'), table);
rmSync(work, { recursive: true, force: true });
if (beaten !== results.length - 1) process.exitCode = 1;

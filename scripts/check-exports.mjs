// `npm run check:exports` (needs a Python with torch, transformers, peft, safetensors: set
// CHECK_PYTHON): trains a LoRA and a QLoRA run on stories260K-hf through the CLI, exports each as a
// PEFT adapter and a merged f32 folder, and has PEFT / transformers load them and compare logits
// with the engine's on the same tokens. Writes the numbers to test/fixtures/peft/export-check.json,
// the committed evidence that Tunesmith's exports load in the tools people use.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const engine = require(join(root, 'native', 'build', 'Release', 'tunesmith_native.node'));
const python = process.env.CHECK_PYTHON || 'python3';
const assets = resolve(process.env.TUNESMITH_ASSETS || join(root, '..', 'shared', 'assets'));
const base = join(assets, 'models', 'stories260K-hf');
const work = mkdtempSync(join(tmpdir(), 'tunesmith-exports-'));
const TOKENS = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426];

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}
const tunesmith = (...args) => run(process.execPath, [join(root, 'bin', 'tunesmith.js'), '--home', join(work, 'home'), ...args]);

writeFileSync(join(work, 'data.jsonl'), ['Lily had a red ball.', 'Tom saw a big tree.', 'The sun was hot.', 'Max ran in the park.'].map((o, i) => JSON.stringify({ instruction: `Story ${i}`, input: '', output: o })).join('\n') + '\n');
tunesmith('data', 'import', join(work, 'data.jsonl'), '--val-fraction', '0');

const results = {};
for (const method of ['lora', 'qlora']) {
  const runDir = join(work, method);
  tunesmith('train', '--model', base, '--dataset', '1', '--method', method, '--steps', '6', '--lr', '2e-2', '--lora-r', '4', '--lora-alpha', '8', '--out', runDir);
  tunesmith('export', '--run', runDir, '--format', 'peft', '--out', join(work, `${method}-peft`));
  tunesmith('export', '--run', runDir, '--format', 'merged', '--dtype', 'f32', '--out', join(work, `${method}-merged`));
  // The engine's own logits with the adapter (QLoRA: on its NF4 base, as it was trained).
  const model = await engine.loadModel(base);
  await model.loadAdapter(join(runDir, 'adapter'), { quantizeNf4: method === 'qlora' });
  const logits = await model.logits(Int32Array.from(TOKENS), 1, TOKENS.length);
  const logitsFile = join(work, `${method}-engine.json`);
  writeFileSync(logitsFile, JSON.stringify({ tokens: TOKENS, logits: Array.from(logits) }));
  const out = run(python, [join(root, 'tools', 'fixtures', 'make_peft_fixtures.py'), 'check', '--assets', assets, '--merged', join(work, `${method}-merged`), '--engine-logits', logitsFile, ...(method === 'lora' ? ['--adapter', join(work, `${method}-peft`)] : [])]);
  results[method] = JSON.parse(out.trim().split('\n').pop());
  console.log(method, results[method]);
}
const versions = JSON.parse(run(python, ['-c', 'import json, torch, transformers, peft; print(json.dumps({"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}))']));
writeFileSync(join(root, 'test', 'fixtures', 'peft', 'export-check.json'), JSON.stringify({ date: new Date().toISOString().slice(0, 10), base: 'stories260K-hf', tokens: TOKENS, versions, relativeErrors: results, note: 'QLoRA: the merged model (adapter folded into the NF4-dequantized base) loaded by transformers; PEFT is not asked to load a QLoRA adapter onto an unquantized base' }, null, 2) + '\n');
rmSync(work, { recursive: true, force: true });

// `npm run bench:gpu`: the GPU benchmark of issue 7 on this machine's card. Builds bench_gpu
// (native/bench/gpu/bench_gpu.cpp) into native/build-gpu, runs it (arguments are passed through,
// e.g. `npm run bench:gpu -- --methods lora --seqs 1024`), then the PyTorch + PEFT baseline
// (bench/gpu/pytorch_baseline.py) when python has torch with CUDA ($BENCH_PYTHON, default python3),
// then bench/gpu/make_table.py. Writes bench/results/gpu-<card>.json ({"tunesmith", "pytorch"}) and
// bench/results/gpu.md. Without nvcc or without a usable CUDA device it prints why and exits 0.
// On a card without Node.js, scripts/gpu-check.sh does the same in phases.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildDir, buildGpuTargets, findNvcc, root } from './gpu-build.mjs';

const NO_DEVICE = 3; // bench_gpu's exit code when open_gpu_device() fails
const args = process.argv.slice(2);
const python = process.env.BENCH_PYTHON || 'python3';
const results = join(root, 'bench', 'results');
const work = join(buildDir, 'results');

function skip(why) {
  console.log(`bench:gpu: skipped — ${why}`);
  process.exit(0);
}

function commit() {
  if (process.env.TUNESMITH_COMMIT) return process.env.TUNESMITH_COMMIT;
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8' }).trim();
    return dirty ? `${sha}-dirty` : sha;
  } catch {
    return 'unknown';
  }
}

function writeAtomically(path, text) {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

// The options pytorch_baseline.py shares with bench_gpu.
function baselineArgs() {
  const out = [];
  for (let i = 0; i < args.length; i++) {
    if (['--methods', '--seqs', '--steps', '--warmup'].includes(args[i]) && i + 1 < args.length) out.push(args[i], args[++i]);
    else if (args[i] === '--tiny') out.push('--tiny');
  }
  return out;
}

const nvcc = findNvcc();
if (!nvcc) skip('no CUDA compiler (nvcc) found');
try {
  buildGpuTargets(nvcc, ['bench_gpu'], 'bench:gpu');
} catch (e) {
  console.error(`bench:gpu: ${e.message}`);
  process.exit(1);
}
const exe = join(buildDir, 'tests', 'bench_gpu');
if (!existsSync(exe)) skip(`CMake did not enable CUDA with ${nvcc} (no bench_gpu was built)`);

mkdirSync(work, { recursive: true });
const sha = commit();
const tunesmithJson = join(work, 'tunesmith.json');
const pytorchJson = join(work, 'pytorch.json');
console.log(`\n=== bench_gpu ${args.join(' ')}`);
const bench = spawnSync(exe, ['--out', tunesmithJson, '--commit', sha, ...args], { cwd: root, stdio: 'inherit' });
if (bench.status === NO_DEVICE) skip('no usable CUDA device (bench_gpu says why above)');
if (bench.status !== 0) {
  console.error(`bench:gpu: bench_gpu failed (exit ${bench.status ?? bench.signal})`);
  process.exit(1);
}
const tunesmith = JSON.parse(readFileSync(tunesmithJson, 'utf8'));

let pytorch = null;
const probe = spawnSync(python, ['-c', 'import torch; assert torch.cuda.is_available()'], { encoding: 'utf8' });
const baseline = join(root, 'bench', 'gpu', 'pytorch_baseline.py');
if (!existsSync(baseline)) console.log('\nbench:gpu: PyTorch baseline skipped — bench/gpu/pytorch_baseline.py is not in this checkout');
else if (probe.status !== 0) console.log(`\nbench:gpu: PyTorch baseline skipped — ${python} has no torch with CUDA`);
else {
  console.log(`\n=== ${python} bench/gpu/pytorch_baseline.py ${baselineArgs().join(' ')}`);
  const r = spawnSync(python, [baseline, ...baselineArgs(), '--out', pytorchJson], { cwd: root, stdio: 'inherit' });
  if (r.status === 0 && existsSync(pytorchJson)) pytorch = JSON.parse(readFileSync(pytorchJson, 'utf8'));
  else console.error(`bench:gpu: the PyTorch baseline failed (exit ${r.status ?? r.signal}); the report has no PyTorch column`);
}
if (!pytorch) {
  pytorch = { generator: 'none', note: 'PyTorch baseline not run on this machine', rows: [] };
  writeAtomically(pytorchJson, JSON.stringify(pytorch, null, 2) + '\n');
}

mkdirSync(results, { recursive: true });
const slug = String(tunesmith.card || 'unknown').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'unknown';
const combined = join(results, `gpu-${slug}.json`);
writeAtomically(combined, JSON.stringify({ tunesmith, pytorch }, null, 2) + '\n');
console.log(`\nbench:gpu: wrote ${combined}`);

const makeTable = join(root, 'bench', 'gpu', 'make_table.py');
if (!existsSync(makeTable)) console.log('bench:gpu: report skipped — bench/gpu/make_table.py is not in this checkout');
else {
  const md = join(results, 'gpu.md');
  const r = spawnSync(python, [makeTable, '--tunesmith', tunesmithJson, '--pytorch', pytorchJson, '--commit', sha, '--out', md], {
    cwd: root,
    stdio: 'inherit',
  });
  if (r.status !== 0) {
    console.error(`bench:gpu: make_table.py failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
  console.log(`bench:gpu: wrote ${md}`);
}
const rows = tunesmith.rows ?? [];
const ok = rows.filter((r) => r.status === 'ok').length;
console.log(`bench:gpu: ${rows.length} rows on ${tunesmith.card}: ${ok} ok, ${rows.length - ok} not (oom/error/skipped)`);

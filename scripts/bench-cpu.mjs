// `npm run bench:cpu`: forward+backward tokens/s of the CPU engine on a ~20M-parameter random Llama
// config at seq 256 (native/tests/bench_cpu.cpp), and — when python3 (or $BENCH_PYTHON) has torch and transformers —
// PyTorch on the same config and thread count in the same run, with the ratio. Prints a table and
// writes bench/results/cpu.md. A benchmark, not a test: compare numbers only within one run.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const build = join(root, 'native', 'build-bench');
const threads = Number(process.env.BENCH_THREADS || cpus().length);
const steps = Number(process.env.BENCH_STEPS || 3);
const python = process.env.BENCH_PYTHON || 'python3';

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

run('cmake', ['-S', 'native', '-B', build, '-DTUNESMITH_CUDA=OFF', '-DCMAKE_BUILD_TYPE=Release']);
run('cmake', ['--build', build, '-j', String(cpus().length), '--target', 'bench_cpu']);
// Rounds alternate engine and PyTorch and keep each side's best: on a machine shared with other
// work, one busy moment otherwise decides the ratio (BENCH_ROUNDS, default 1).
const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS || 1));
const probe = spawnSync(python, ['-c', 'import torch, transformers'], { encoding: 'utf8' });
const haveTorch = probe.status === 0;
let engine = null;
let torch = null;
for (let r = 0; r < rounds; r++) {
  const engineOut = run(join(build, 'tests', 'bench_cpu'), [String(threads), String(steps)]);
  if (r === 0) process.stdout.write(engineOut);
  const stored = /\|\s*stored activations\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|/.exec(engineOut);
  if (!stored) throw new Error('could not read bench_cpu output');
  const e = { fwd: Number(stored[1]), fwdBwd: Number(stored[2]) };
  engine = engine ? { fwd: Math.max(engine.fwd, e.fwd), fwdBwd: Math.max(engine.fwdBwd, e.fwdBwd) } : e;
  let t = null;
  if (haveTorch) {
    t = JSON.parse(run(python, [join(root, 'tools', 'bench', 'torch_cpu_bench.py'), String(threads), String(steps)]).trim().split('\n').pop());
    torch = torch
      ? { ...t, fwd_tok_s: Math.max(torch.fwd_tok_s, t.fwd_tok_s), fwd_bwd_tok_s: Math.max(torch.fwd_bwd_tok_s, t.fwd_bwd_tok_s) }
      : t;
  }
  if (rounds > 1)
    console.log(`round ${r + 1}/${rounds}: Tunesmith ${e.fwd} / ${e.fwdBwd} tok/s` + (t ? `, PyTorch ${Math.round(t.fwd_tok_s)} / ${Math.round(t.fwd_bwd_tok_s)} tok/s` : ''));
}
if (!haveTorch) console.log(`\nPyTorch comparison skipped: ${python} has no torch + transformers here`);

const commit = (() => {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
})();
const lines = [
  `# CPU benchmark`,
  '',
  `${new Date().toISOString().slice(0, 10)}, commit ${commit}, ${cpus()[0]?.model.trim()} (${threads} threads), batch 1 × seq 256, ${steps} timed steps, fp32${rounds > 1 ? `, best of ${rounds} alternating rounds per engine` : ''}.`,
  '',
  '| engine | fwd tok/s | fwd+bwd tok/s | fwd+bwd vs PyTorch |',
  '|---|---|---|---|',
  `| Tunesmith CPU | ${engine.fwd} | ${engine.fwdBwd} | ${torch ? `${(engine.fwdBwd / torch.fwd_bwd_tok_s).toFixed(2)}×` : 'n/a'} |`,
  torch ? `| PyTorch ${torch.torch} | ${Math.round(torch.fwd_tok_s)} | ${Math.round(torch.fwd_bwd_tok_s)} | 1.00× |` : '| PyTorch | not installed on this machine | | |',
  '',
];
const table = lines.join('\n');
console.log('\n' + table);
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', 'cpu.md'), table);

// `npm test`: build, type-check, then every suite — native engine tests (ctest, when present: the
// CPU engine and the GPU engine on its CPU emulator), the CUDA build of the GPU engine with its
// card tests (`npm run test:gpu`: they skip without a CUDA device, but the nvcc build must
// succeed), unit and integration tests (vitest), end-to-end tests in Chromium — and one closing
// line with the totals. Exits non-zero if anything failed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureSqliteFor } from './sqlite-abi.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const artifacts = join(root, 'test-artifacts');
mkdirSync(artifacts, { recursive: true });
const totals = { passed: 0, failed: 0, skipped: 0 };
const failures = [];

function step(title, command, args, options = {}) {
  console.log(`\n=== ${title}`);
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32', ...options });
  if (r.status !== 0) failures.push(`${title} (exit ${r.status ?? r.signal})`);
  return r.status === 0;
}

function vitestSuite(title, config, resultFile) {
  const out = join(artifacts, resultFile);
  step(title, 'npx', ['vitest', 'run', '--config', config, '--reporter=default', '--reporter=json', `--outputFile.json=${out}`]);
  if (!existsSync(out)) {
    totals.failed += 1;
    failures.push(`${title}: no results written`);
    return;
  }
  const r = JSON.parse(readFileSync(out, 'utf8'));
  totals.passed += r.numPassedTests;
  totals.failed += r.numFailedTests;
  totals.skipped += r.numPendingTests + r.numTodoTests;
}

function nativeSuite() {
  if (!existsSync(join(root, 'native', 'tests', 'CMakeLists.txt'))) return;
  const build = join(root, 'native', 'build-tests');
  const ok =
    step('native: configure', 'cmake', ['-S', 'native', '-B', build, '-DTUNESMITH_CUDA=OFF', '-DCMAKE_BUILD_TYPE=Release']) &&
    step('native: build', 'cmake', ['--build', build, '-j', '2']);
  if (!ok) {
    totals.failed += 1;
    return;
  }
  console.log('\n=== native: ctest');
  const r = spawnSync('ctest', ['--output-on-failure'], { cwd: build, encoding: 'utf8' });
  process.stdout.write(r.stdout ?? '');
  process.stderr.write(r.stderr ?? '');
  const m = /(\d+)% tests passed, (\d+) tests failed out of (\d+)/.exec(r.stdout ?? '');
  if (!m) {
    totals.failed += 1;
    failures.push('native: ctest printed no summary');
    return;
  }
  const failed = Number(m[2]);
  totals.failed += failed;
  totals.passed += Number(m[3]) - failed;
  if (failed) failures.push(`native: ${failed} ctest failures`);
}

// The CUDA build and the card tests (scripts/gpu-tests.mjs): where nvcc exists the GPU engine must
// compile; test_gpu's cases count as skipped without a device and as results with one.
function gpuSuite() {
  console.log('\n=== CUDA engine: nvcc build and card tests (npm run test:gpu)');
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'gpu-tests.mjs')], { cwd: root, encoding: 'utf8' });
  process.stdout.write(r.stdout ?? '');
  process.stderr.write(r.stderr ?? '');
  if (r.status !== 0) failures.push(`test:gpu (exit ${r.status ?? r.signal})`);
  const m = /test_gpu: (\d+) passed, (\d+) failed, (\d+) skipped/.exec(r.stdout ?? '');
  if (!m) return;
  totals.passed += Number(m[1]);
  totals.failed += Number(m[2]);
  totals.skipped += Number(m[3]);
}

ensureSqliteFor('node');
if (!step('build', 'npm', ['run', 'build'])) process.exit(1);
step('type-check (tsc, svelte-check)', 'npm', ['run', 'check']);
nativeSuite();
gpuSuite();
vitestSuite('unit and integration (vitest)', 'vitest.config.ts', 'unit-results.json');
vitestSuite('end-to-end (Chromium, serve mode)', 'test/e2e/vitest.config.ts', 'e2e-results.json');

console.log('');
if (failures.length) console.log(`failed steps: ${failures.join('; ')}`);
console.log(`tests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(failures.length || totals.failed ? 1 : 0);

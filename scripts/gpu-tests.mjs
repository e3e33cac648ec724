// `npm run test:gpu`: builds test_gpu (the GPU engine's tests compiled by nvcc, native/tests/gpu)
// into native/build-gpu and runs it on the card. Without nvcc it prints a skip line and exits 0;
// without a usable CUDA device test_gpu itself prints SKIP lines and exits 0. Arguments are passed
// to test_gpu (a test-name substring).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildDir, buildGpuTargets, findNvcc } from './gpu-build.mjs';

const nvcc = findNvcc();
if (!nvcc) {
  console.log('test:gpu: skipped — no CUDA compiler (nvcc) found');
  process.exit(0);
}
try {
  buildGpuTargets(nvcc, ['test_gpu'], 'test:gpu');
} catch (e) {
  console.error(`test:gpu: ${e.message}`);
  process.exit(1);
}
const exe = join(buildDir, 'tests', 'test_gpu');
if (!existsSync(exe)) {
  // cmake found no usable CUDA toolchain even though nvcc exists (TUNESMITH_CUDA=OFF or a broken install).
  console.log(`test:gpu: skipped — CMake did not enable CUDA with ${nvcc} (no test_gpu target was built)`);
  process.exit(0);
}
console.log(`\n=== ${exe} ${process.argv.slice(2).join(' ')}`);
// Streamed (a card run takes a while) and kept for the summary line.
const { out, code, signal } = await new Promise((resolve) => {
  const child = spawn(exe, process.argv.slice(2), { stdio: ['inherit', 'pipe', 'inherit'] });
  let text = '';
  child.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    text += chunk;
  });
  child.on('error', (e) => resolve({ out: `${text}\n${e.message}`, code: 1, signal: null }));
  child.on('close', (c, sig) => resolve({ out: text, code: c ?? 1, signal: sig }));
});
const counts = /test_gpu: (\d+) passed, (\d+) failed, (\d+) skipped/.exec(out);
const skipAll = /^SKIP all GPU tests: (.*)$/m.exec(out);
if (skipAll) console.log(`test:gpu: skipped — ${skipAll[1]}`);
else if (counts) console.log(`test:gpu: ${counts[1]} passed, ${counts[2]} failed, ${counts[3]} skipped (exit ${code})`);
else console.log(`test:gpu: test_gpu ended without its summary line (exit ${signal ?? code})`);
process.exit(code);

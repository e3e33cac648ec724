// Shared by `npm run test:gpu` and `npm run bench:gpu`: finds nvcc (find-nvcc.mjs, the same search
// as the native addon build) and builds CUDA targets of native/ into native/build-gpu with cmake
// (Ninja when it is on PATH). CUDA_ARCHS overrides the architectures (default: CMakeLists' list).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findNvcc, onPath } from './find-nvcc.mjs';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const buildDir = join(root, 'native', 'build-gpu');
export { findNvcc };

function run(title, cmd, args) {
  console.log(`${title}: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.error) throw new Error(`${title}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${title} failed (exit ${r.status ?? r.signal})`);
}

// Configures and builds `targets`; throws with a readable message when that fails.
export function buildGpuTargets(nvcc, targets, label) {
  const configure = ['-S', 'native', '-B', buildDir, '-DCMAKE_BUILD_TYPE=Release', `-DCMAKE_CUDA_COMPILER=${nvcc}`];
  if (onPath('ninja')) configure.push('-G', 'Ninja');
  if (process.env.CUDA_ARCHS) configure.push(`-DCMAKE_CUDA_ARCHITECTURES=${process.env.CUDA_ARCHS}`);
  // A build folder configured with another generator cannot switch: keep whatever it has.
  const cache = join(buildDir, 'CMakeCache.txt');
  if (existsSync(cache) && /^CMAKE_GENERATOR:INTERNAL=/m.test(readFileSync(cache, 'utf8'))) {
    const i = configure.indexOf('-G');
    if (i >= 0) configure.splice(i, 2);
  }
  run(`${label}: configure`, 'cmake', configure);
  run(`${label}: build`, 'cmake', ['--build', buildDir, '-j', String(Math.max(1, cpus().length)), '--target', ...targets]);
}

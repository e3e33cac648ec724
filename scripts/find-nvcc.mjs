// Where the CUDA compiler is, shared by the native build (build-native.mjs) and the GPU test and
// bench scripts (gpu-tests.mjs, gpu-bench.mjs): $CUDACXX, $CUDA_PATH/bin, /usr/local/cuda/bin,
// then PATH. TUNESMITH_NO_CUDA=1 means "as if there were none".
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export function findNvcc() {
  if (process.env.TUNESMITH_NO_CUDA === '1') return null;
  const candidates = [
    process.env.CUDACXX,
    process.env.CUDA_PATH && join(process.env.CUDA_PATH, 'bin', process.platform === 'win32' ? 'nvcc.exe' : 'nvcc'),
    '/usr/local/cuda/bin/nvcc',
  ].filter(Boolean);
  for (const c of candidates) if (existsSync(c)) return c;
  const which = spawnSync(process.platform === 'win32' ? 'where' : 'which', ['nvcc'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.split(/\r?\n/)[0].trim() || null : null;
}

// True when `name` runs from PATH (ninja, python3, ...).
export function onPath(name) {
  const which = spawnSync(process.platform === 'win32' ? 'where' : 'which', [name], { encoding: 'utf8' });
  return which.status === 0 && which.stdout.trim() !== '';
}

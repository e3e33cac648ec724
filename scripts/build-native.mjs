// Builds the native engine addon (native/) with cmake-js on `npm install`.
// CUDA is compiled in when nvcc is found (PATH, CUDACXX, CUDA_PATH or /usr/local/cuda); set
// TUNESMITH_NO_CUDA=1 to build the CPU backend only.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findNvcc } from './find-nvcc.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

const nvcc = findNvcc();
const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
const args = [cmakeJs, 'compile', '--directory', join(root, 'native'), '--out', join(root, 'native', 'build')];
args.push(nvcc ? `--CDCMAKE_CUDA_COMPILER=${nvcc}` : '--CDTUNESMITH_CUDA=OFF');
console.log(`tunesmith: building native engine (${nvcc ? `CUDA via ${nvcc}` : 'CPU only: nvcc not found'})`);
const result = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
if (result.status !== 0) {
  console.error('tunesmith: native build failed (needs cmake and a C++17 compiler; see README "Developer notes")');
  process.exit(result.status ?? 1);
}

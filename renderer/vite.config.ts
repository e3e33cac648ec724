import { svelte } from '@sveltejs/vite-plugin-svelte';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

// The renderer is built once and loaded two ways: from file:// by Electron and over HTTP by serve
// mode. Relative asset URLs (base './') work for both.
export default defineConfig({
  root: here,
  base: './',
  plugins: [svelte()],
  build: {
    outDir: fileURLToPath(new URL('../dist/renderer', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // No inline assets: the CSP allows scripts and styles from 'self' only.
    assetsInlineLimit: 0,
  },
});

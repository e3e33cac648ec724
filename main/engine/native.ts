// Loads the native engine addon and types its exports. Only the trainer process loads it: engine
// work (and any crash in it) stays out of the UI and main processes.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { EngineInfo } from '../api/contract.js';
import { unpackedPath } from '../paths.js';

export interface SelfTestRound {
  round: number;
  rounds: number;
  maxRelError: number;
  gflops: number;
}

export interface SelfTestSummary {
  passed: boolean;
  cancelled: boolean;
  roundsDone: number;
  maxRelError: number;
  tolerance: number;
  meanGflops: number;
  seconds: number;
}

export interface NativeEngine {
  engineInfo(): EngineInfo;
  selfTest(
    options: { rounds?: number; size?: number; seed?: number; threads?: number },
    onRound: (round: SelfTestRound) => void,
  ): { promise: Promise<SelfTestSummary>; cancel(): void };
}

export function addonPath(): string {
  return unpackedPath('native', 'build', 'Release', 'tunesmith_native.node');
}

let engine: NativeEngine | undefined;

export function loadEngine(): NativeEngine {
  if (engine) return engine;
  const file = addonPath();
  if (!existsSync(file)) {
    throw new Error(`the native engine is not built (${file} is missing): run "npm run build:native"`);
  }
  const require = createRequire(import.meta.url);
  engine = require(file) as NativeEngine;
  return engine;
}

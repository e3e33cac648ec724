// Entry point of a trainer process: takes one job from the supervisor, runs it, streams its events
// and exits. A crash here (including in native code) ends only this process; the supervisor turns
// it into a failed job.
import { connectToParent } from './child-channel.js';
import type { JobContext } from './jobs/job-context.js';
import { runCheckModel } from './jobs/check-model.js';
import { runChoiceEval } from './jobs/choice-eval.js';
import { runEvaluate } from './jobs/evaluate.js';
import { runExport } from './jobs/export.js';
import { runGenerate } from './jobs/generate.js';
import { runScore } from './jobs/score.js';
import { runSelfTest } from './jobs/selftest.js';
import { runTrain } from './jobs/train.js';
import { runSystemProbe } from './jobs/system-probe.js';
import type { ToTrainer } from './protocol.js';

const channel = connectToParent();
let cancelHandler: (() => void) | undefined;
let cancelRequested = false;
let started = false;

const ctx: JobContext = {
  progress: (step, total, message) => channel.send({ type: 'progress', step, total, message }),
  log: (level, message) => channel.send({ type: 'log', level, message }),
  metric: (metric) => channel.send({ type: 'metric', metric }),
  text: (text) => channel.send({ type: 'text', text }),
  onCancel: (handler) => {
    cancelHandler = handler;
    if (cancelRequested) handler();
  },
};

async function run(message: Extract<ToTrainer, { type: 'run' }>): Promise<unknown> {
  const spec = message.spec;
  switch (spec.kind) {
    case 'system':
      return runSystemProbe();
    case 'check-model':
      return runCheckModel(spec);
    case 'selftest':
      return runSelfTest(spec, ctx);
    case 'score':
      return runScore(spec, ctx);
    case 'generate':
      return runGenerate(spec, ctx);
    case 'train':
      return runTrain(spec, ctx, message.databasePath);
    case 'export':
      return runExport(spec, ctx, message.databasePath);
    case 'choice-eval':
      return runChoiceEval(spec, ctx);
    case 'evaluate':
      return runEvaluate(spec, ctx, message.databasePath);
  }
}

function finish(code: number): void {
  // Let the last message flush through the channel before the process goes.
  setTimeout(() => process.exit(code), 20);
}

channel.onMessage((message) => {
  if (message.type === 'cancel') {
    cancelRequested = true;
    cancelHandler?.();
    return;
  }
  if (started) return; // one job per process
  started = true;
  run(message).then(
    (result) => {
      channel.send({ type: 'result', result });
      finish(0);
    },
    (err: unknown) => {
      channel.send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
      finish(1);
    },
  );
});

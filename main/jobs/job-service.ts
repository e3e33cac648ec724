// User-started jobs: each is recorded as a run in the database, executed by the supervisor in a
// trainer process, and reported to every UI as events. The database is the source of truth, so
// history survives a reload or a crash.
import { existsSync, readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { ApiError, methodFamily, usesAdapter, type ApiEvent, type ExportSpec, type Run, type TrainSpec, type UserJobSpec } from '../api/contract.js';
import type { EventHub } from '../api/event-hub.js';
import type { Db } from '../../db/database.js';
import { getDataset, type DatasetRow } from '../../db/datasets.js';
import { recordMetric } from '../../db/metrics.js';
import { upsertModel } from '../../db/models.js';
import { setRunTrainingInfo } from '../../db/run-training.js';
import { createRun, getRun, markRunEnded, markRunStarted } from '../../db/runs.js';
import { WriteQueue } from '../../db/write-queue.js';
import { trainingDataHash } from '../data/content-hash.js';
import { thisProcessOwner } from '../system/process-identity.js';
import { readCheckpointMark } from '../train/run-folder.js';
import type { RunningJob, Supervisor } from '../trainer/supervisor.js';
import { basename, join, resolve } from 'node:path';
import type { TrainingBudget } from '../estimate/training-budget.js';
import type { ExportResult } from '../trainer/jobs/export.js';
import { EtaEstimator } from './eta.js';
import { refuseIfRunFolderBusy } from './live-runs.js';
import { checkTrainMemory, refuseIfTooBig } from './memory-gate.js';
import { recordExportRun } from './record-export.js';
import { runView } from './run-view.js';
import { requireModelFolder } from '../model/model-folder.js';
import { loraRankProblem } from '../estimate/lora-rank-check.js';
import { modelShapeFromConfig } from '../estimate/model-shape.js';
import { checkWritableFolder, UnwritableOutputError } from '../system/writable-output.js';

export interface StartOptions {
  /** What a training run must fit in; default this machine's RAM (the CPU engine). */
  budget?: TrainingBudget;
  /** Start a training run even if the estimate says it will not fit (the CLI's --ignore-memory-check). */
  ignoreMemoryCheck?: boolean;
  /** How a user may insist, named in the refusal (e.g. the CLI flag); null: no way (the API). */
  overrideHint?: string | null;
}

/** Training runs write a checkpoint when cancelled: give them time to finish it before a kill. */
const TRAIN_CANCEL_GRACE_MS = 10 * 60_000;

export class JobService {
  private readonly running = new Map<number, RunningJob>();
  /** Per running job: resolves once its end state is in the database. */
  private readonly recorded = new Map<number, Promise<void>>();
  /**
   * Every write a running job makes (metrics, end state, export record) goes through this queue:
   * another process holding the write lock delays them, in order, instead of throwing out of a
   * trainer message handler and taking the server or the CLI run down with it.
   */
  private readonly writes: WriteQueue;

  constructor(
    private readonly db: Db,
    private readonly supervisor: Supervisor,
    private readonly hub: EventHub,
  ) {
    this.writes = new WriteQueue(db);
  }

  /** Queues a write on behalf of a run; one that fails for good is reported in that run's log. */
  private async record(runId: number, what: string, write: () => void): Promise<void> {
    const outcome = await this.writes.write(what, write);
    if (!outcome.written) this.hub.emit({ type: 'run.log', runId, level: 'error', message: `could not record ${what}: ${outcome.error.message}` });
  }

  start(spec: UserJobSpec, name?: string, options: StartOptions = {}): Run {
    // Checked and recorded in one immediate transaction: of two processes starting into one run
    // folder, or one starting on a dataset another removes, the second sees the first's outcome.
    if (spec.kind === 'export') checkOutputFolder(spec.out);
    const run = this.db
      .transaction(() => {
        const training = spec.kind === 'train' ? this.checkTrainingInputs(spec, options) : null;
        // This process supervises the job (its trainer process dies with it), so it owns the run.
        const created = createRun(this.db, { kind: spec.kind, name: name ?? defaultName(spec), spec, owner: thisProcessOwner() });
        if (training) setRunTrainingInfo(this.db, created.id, training);
        markRunStarted(this.db, created.id);
        return created;
      })
      .immediate();
    this.emitState(run.id);
    const eta = new EtaEstimator();
    const job = this.supervisor.start(spec, {
      progress: (step, total, message) =>
        this.hub.emit({ type: 'run.progress', runId: run.id, step, total, message, etaSeconds: eta.update(step, total) }),
      log: (level, message) => this.hub.emit({ type: 'run.log', runId: run.id, level, message }),
      metric: (m) => {
        const metric = { step: m.step, loss: m.loss, lr: m.lr, tokensPerS: m.tokensPerS, memBytes: m.memBytes };
        void this.record(run.id, `the metrics of step ${m.step}`, () => recordMetric(this.db, run.id, metric));
        this.hub.emit({ type: 'run.metric', runId: run.id, metric });
      },
    });
    this.running.set(run.id, job);
    const recorded = job.done.then(async (outcome) => {
      this.running.delete(run.id);
      // A cancelled training run still reports its result: the checkpoint it wrote, the steps done.
      const result = outcome.state === 'failed' ? undefined : outcome.result;
      await this.record(run.id, 'how the run ended', () =>
        markRunEnded(this.db, run.id, { state: outcome.state, error: outcome.state === 'failed' ? outcome.error : null, result }),
      );
      if (spec.kind === 'export' && outcome.state === 'succeeded') {
        await this.record(run.id, 'the exported model (it was written to disk)', () => recordExportRun(this.db, run.id, spec as ExportSpec, outcome.result as ExportResult));
      }
      this.recorded.delete(run.id);
      // Nothing may escape this chain (an unhandled rejection ends the process): telling the UIs
      // is best effort, the state is in the database either way.
      try {
        if (this.db.open) this.emitState(run.id);
      } catch (err) {
        this.hub.emit({ type: 'run.log', runId: run.id, level: 'warn', message: `the run ended but its state could not be read back: ${(err as Error).message}` });
      }
    });
    this.recorded.set(run.id, recorded);
    return this.view(run.id);
  }

  private view(runId: number): Run {
    return runView(this.db, getRun(this.db, runId)!);
  }

  /** What can be checked before a trainer process starts: a bad path fails now, not minutes later. */
  private checkTrainingInputs(spec: TrainSpec, options: StartOptions): { method: ReturnType<typeof methodFamily>; modelId: number; datasetId: number } {
    const dataset = getDataset(this.db, spec.datasetId);
    if (!dataset) throw new ApiError('not_found', `no dataset with id ${spec.datasetId}`);
    checkOutputFolder(spec.out);
    try {
      requireModelFolder(spec.model);
    } catch (err) {
      throw new ApiError('bad_request', (err as Error).message);
    }
    refuseIfRunFolderBusy(this.db, spec.out);
    if (spec.resumeFrom) this.checkResumeData(spec.resumeFrom, dataset);
    const configFile = join(spec.model, 'config.json');
    let config: unknown;
    try {
      config = JSON.parse(readFileSync(configFile, 'utf8'));
    } catch (err) {
      throw new ApiError('bad_request', `${configFile}: ${existsSync(configFile) ? `not valid JSON (${(err as Error).message})` : 'not found: is this a Hugging Face model folder?'}`);
    }
    let rankProblem: string | null = null;
    try {
      if (usesAdapter(spec)) rankProblem = loraRankProblem(spec, modelShapeFromConfig(config));
    } catch (err) {
      throw new ApiError('bad_request', `${configFile}: ${(err as Error).message}`);
    }
    if (rankProblem) throw new ApiError('bad_request', `params.spec.loraR: ${rankProblem}`);
    const model = upsertModel(this.db, { path: resolve(spec.model), name: basename(spec.model), config });
    if (!options.ignoreMemoryCheck) {
      const budget = options.budget ?? { bytes: totalmem(), label: 'RAM' };
      let fit;
      try {
        fit = checkTrainMemory(this.db, spec, config, model.id, budget);
      } catch (err) {
        throw new ApiError('bad_request', `${configFile}: ${(err as Error).message}`);
      }
      refuseIfTooBig(fit, budget, spec, options.overrideHint ?? null);
    }
    return { method: methodFamily(spec.method), modelId: model.id, datasetId: spec.datasetId };
  }

  /** A resumed run promises the losses of an uninterrupted one: only on the data its checkpoint was trained on. */
  private checkResumeData(checkpoint: string, dataset: DatasetRow): void {
    let mark;
    try {
      mark = readCheckpointMark(checkpoint);
    } catch (err) {
      throw new ApiError('bad_request', (err as Error).message);
    }
    if (mark.datasetHash === undefined) return; // written before checkpoints recorded it
    const now = trainingDataHash(this.db, dataset.id);
    if (now !== mark.datasetHash) {
      throw new ApiError(
        'conflict',
        `the training data of dataset ${dataset.id} ("${dataset.name}") changed since checkpoint ${checkpoint} was written (content hash ${mark.datasetHash.slice(0, 12)}, now ${now.slice(0, 12)}): resuming needs exactly the data the run was trained on; start a new run to train on this data`,
      );
    }
  }

  cancel(runId: number): boolean {
    const job = this.running.get(runId);
    if (!job) {
      if (!getRun(this.db, runId)) throw new ApiError('not_found', `no run with id ${runId}`);
      return false; // already ended
    }
    job.cancel(getRun(this.db, runId)?.kind === 'train' ? TRAIN_CANCEL_GRACE_MS : undefined);
    return true;
  }

  /** The trainer process of a running job (tests use it to crash a job on purpose). */
  pidOf(runId: number): number | undefined {
    return this.running.get(runId)?.pid;
  }

  /** Resolves when the run has ended (immediately if it already has). */
  async settled(runId: number): Promise<Run> {
    await this.recorded.get(runId);
    return getRun(this.db, runId)!;
  }

  get activeCount(): number {
    return this.running.size;
  }

  /** Stops retrying queued writes (the database is about to close). */
  close(): void {
    this.writes.close();
  }

  private emitState(runId: number): void {
    if (getRun(this.db, runId)) this.hub.emit({ type: 'run.state', run: this.view(runId) } satisfies ApiEvent);
  }
}

/** A run or export folder that cannot be written fails now, not after the model has loaded. */
function checkOutputFolder(out: string): void {
  try {
    checkWritableFolder(out);
  } catch (err) {
    if (err instanceof UnwritableOutputError) throw new ApiError('bad_request', err.message);
    throw err;
  }
}

const METHOD_LABELS: Record<TrainSpec['method'], string> = {
  full: 'Full fine-tuning',
  lora: 'LoRA',
  qlora: 'QLoRA',
  lisa: 'LISA',
  'zo-sgd': 'ZO-SGD',
  'zo-sgd-sign': 'ZO-SGD-Sign',
  'zo-sgd-mmt': 'ZO-SGD-MMT',
  'zo-sgd-cons': 'ZO-SGD-Cons',
  'zo-adam': 'ZO-Adam',
  'forward-grad': 'Forward-gradient training',
};

function defaultName(spec: UserJobSpec): string {
  switch (spec.kind) {
    case 'selftest':
      return `Engine self-test (${spec.rounds} × ${spec.size}²)`;
    case 'train':
      return `${METHOD_LABELS[spec.method]} of ${basename(spec.model)} on dataset ${spec.datasetId}${spec.resumeFrom ? ' (resumed)' : ''}`;
    case 'evaluate':
      return `Held-out loss of ${basename(spec.model)}${spec.adapter ? ` + adapter ${basename(resolve(spec.adapter, '..'))}` : ''} on dataset ${spec.datasetId} (${spec.split})`;
    case 'export':
      return `Export of ${basename(spec.run)} as ${spec.format === 'peft' ? 'a PEFT adapter' : spec.format === 'recipe' ? `a recipe for ${spec.nodes} × ${spec.gpus} GPUs` : `a merged ${spec.dtype} model`}`;
  }
}

// The `generate` job: continue a prompt with the model, streaming text as it is produced. Stops at
// the model's stop ids (EOS, end-of-turn), after maxTokens, or at the first stop string.
import type { GenerateSpec } from '../../api/contract.js';
import { loadTokenizer } from '../../model/tokenizer.js';
import type { JobContext } from './job-context.js';
import { openModel } from './open-model.js';

export interface GenerateResult {
  prompt: string;
  text: string;
  tokenIds: number[];
  stopReason: 'stop-token' | 'stop-string' | 'max-tokens' | 'cancelled';
}

export async function runGenerate(spec: GenerateSpec, ctx: JobContext): Promise<GenerateResult> {
  const tokenizer = loadTokenizer(spec.model);
  const promptIds = tokenizer.encode(spec.prompt, { addSpecialTokens: true });
  if (promptIds.length === 0) throw new Error('the prompt has no tokens');
  const model = await openModel(spec);
  const context = model.config().maxPositionEmbeddings;
  const maxNewTokens = Math.min(spec.maxTokens, context - promptIds.length);
  if (maxNewTokens <= 0) throw new Error(`the prompt is ${promptIds.length} tokens long and fills the model's context of ${context}`);

  const generated: number[] = [];
  let emitted = ''; // text already streamed
  let stopReason: GenerateResult['stopReason'] | null = null;
  let cancelled = false;
  const stopIds = tokenizer.stopTokenIds.length ? tokenizer.stopTokenIds : model.config().eosTokenIds;
  const handle = model.generate(
    Int32Array.from(promptIds),
    { maxNewTokens, temperature: spec.temperature, topK: spec.topK, topP: spec.topP, seed: spec.seed, stopIds },
    (id) => {
      if (stopReason) return;
      generated.push(id);
      // Decode the whole continuation each time: a token may be half of a multi-byte character,
      // which only decodes correctly once its other half arrives.
      let text = tokenizer.decode(generated, { skipSpecialTokens: true });
      const stopAt = firstStop(text, spec.stop);
      if (stopAt !== null) {
        text = text.slice(0, stopAt);
        stopReason = 'stop-string';
        handle.cancel();
      }
      if (text.length > emitted.length && !text.endsWith('\uFFFD')) {
        ctx.text(text.slice(emitted.length));
        emitted = text;
      }
    },
  );
  ctx.onCancel(() => {
    cancelled = true;
    handle.cancel();
  });
  const ids = Array.from(await handle.promise);
  const text = emitted;
  if (!stopReason) {
    stopReason = cancelled ? 'cancelled' : ids.length >= maxNewTokens ? 'max-tokens' : 'stop-token';
  }
  return { prompt: spec.prompt, text, tokenIds: ids, stopReason };
}

function firstStop(text: string, stops: string[]): number | null {
  let best: number | null = null;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (best === null || i < best)) best = i;
  }
  return best;
}

// The `score` job: per-token log-probabilities of a text under a model, its total NLL and
// perplexity. The text is tokenized as the model sees it (BOS rules from its tokenizer files).
import type { ScoreSpec } from '../../api/contract.js';
import { loadTokenizer } from '../../model/tokenizer.js';
import type { JobContext } from './job-context.js';
import { openModel } from './open-model.js';

export interface ScoredToken {
  id: number;
  token: string;
  logprob: number;
}

export interface ScoreResult {
  model: string;
  tokens: ScoredToken[];
  /** Tokens scored: all but the first, which has no context to be predicted from. */
  count: number;
  totalNll: number;
  meanNll: number;
  perplexity: number;
}

export async function runScore(spec: ScoreSpec, ctx: JobContext): Promise<ScoreResult> {
  const tokenizer = loadTokenizer(spec.model);
  const ids = tokenizer.encode(spec.text, { addSpecialTokens: true });
  if (ids.length < 2) throw new Error(`the text is ${ids.length} token(s) long: at least 2 are needed to score one`);
  ctx.log('info', `loading ${spec.model}`);
  const model = await openModel(spec);
  const context = model.config().maxPositionEmbeddings;
  if (ids.length > context) {
    throw new Error(`the text is ${ids.length} tokens long, more than the model's context of ${context}: score a shorter text`);
  }
  const logprobs = await model.score(Int32Array.from(ids), 1, ids.length);
  const tokens = ids.slice(1).map((id, i) => ({ id, token: tokenizer.idToToken(id) ?? `<${id}>`, logprob: logprobs[i]! }));
  const totalNll = -tokens.reduce((sum, t) => sum + t.logprob, 0);
  const meanNll = totalNll / tokens.length;
  return { model: spec.model, tokens, count: tokens.length, totalNll, meanNll, perplexity: Math.exp(meanNll) };
}

// A stored dataset as the Data step shows it through a model: a few examples token by token (which
// tokens the loss counts, which are the prompt, the EOS), and token-length statistics.
import type { Db } from '../../db/database.js';
import { getDataset, type DatasetRow } from '../../db/datasets.js';
import { listExamples } from '../../db/examples.js';
import type { TemplatedView, TokenStats } from '../api/contract.js';
import type { BuiltinTemplateName } from '../model/chat-template.js';
import { openModelForData } from '../model/model-folder.js';
import type { ModelTokenizer } from '../model/tokenizer.js';
import { templateExample } from './templated-example.js';
import { datasetTokenStats } from './tokenized-dataset.js';

/** Tokens shown per example: enough to see the prompt, the response and the EOS of most rows. */
const MAX_SHOWN_TOKENS = 768;

/**
 * Each token's text as it appears in the decoded sequence: the difference between decoding the
 * first i+1 and the first i ids, so SentencePiece word-start markers and byte tokens read as the
 * spaces and characters they are. Special tokens show as themselves.
 */
function tokenTexts(ids: number[], tokenizer: ModelTokenizer): { text: string; special: boolean }[] {
  const special = new Set([tokenizer.bosTokenId, tokenizer.eosTokenId, ...tokenizer.stopTokenIds].filter((x): x is number => x !== null));
  const out: { text: string; special: boolean }[] = [];
  let previous = '';
  let run: number[] = []; // ids since the last special token, decoded together
  for (const id of ids) {
    if (special.has(id)) {
      out.push({ text: tokenizer.idToToken(id) ?? `<${id}>`, special: true });
      run = [];
      previous = '';
      continue;
    }
    run.push(id);
    const decoded = tokenizer.decode(run, { skipSpecialTokens: false });
    // A half of a multi-byte character decodes to U+FFFD until its other half arrives.
    const text = decoded.startsWith(previous) ? decoded.slice(previous.length) : (tokenizer.idToToken(id) ?? '');
    out.push({ text, special: false });
    previous = decoded;
  }
  return out;
}

export function inspectDataset(
  db: Db,
  request: { id: number; model: string; template?: BuiltinTemplateName | 'model'; responsesOnly: boolean; offset: number; limit: number },
): { dataset: DatasetRow; template: string; examples: TemplatedView[]; stats: TokenStats } {
  const dataset = getDataset(db, request.id);
  if (!dataset) throw new Error(`no dataset with id ${request.id}`);
  const model = openModelForData(db, request.model, request.template ?? ((dataset.template ?? undefined) as BuiltinTemplateName | 'model' | undefined));
  const options = { trainOnResponsesOnly: request.responsesOnly };
  const examples = listExamples(db, request.id, { offset: request.offset, limit: request.limit }).map((row): TemplatedView => {
    const t = templateExample(row.example, model.tokenizer, model.template, options);
    const ids = t.ids.slice(0, MAX_SHOWN_TOKENS);
    const texts = tokenTexts(ids, model.tokenizer);
    return {
      position: row.position,
      sourceLine: row.sourceLine,
      split: row.split,
      tokens: ids.map((id, i) => ({ id, text: texts[i]!.text, target: t.mask[i] === 1, special: texts[i]!.special })),
      appendedEos: t.appendedEos,
      truncated: ids.length < t.ids.length,
    };
  });
  const stats = datasetTokenStats(db, request.id, model.tokenizer, model.template, { ...options, sample: 2000 });
  return { dataset, template: model.template.name, examples, stats };
}

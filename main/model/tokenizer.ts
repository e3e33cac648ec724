// The model's tokenizer (tokenizer.json through @huggingface/tokenizers) together with the rules a
// Llama-family model was trained with: whether a BOS token starts every sequence, which ids end a
// turn. Getting these exactly right is what lets a fine-tuned model stop generating.
import { Tokenizer } from '@huggingface/tokenizers';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ModelTokenizer {
  readonly vocabSize: number;
  readonly bosToken: string | null;
  readonly bosTokenId: number | null;
  readonly eosToken: string | null;
  readonly eosTokenId: number | null;
  /** Ids that end generation: the EOS plus generation_config.json's eos_token_id list (Llama 3's <|eot_id|>). */
  readonly stopTokenIds: number[];
  /** Whether a BOS id starts every sequence the model sees. */
  readonly addBosToken: boolean;
  readonly addEosToken: boolean;
  /** The context the model was trained for (config.json max_position_embeddings), when known. */
  readonly contextLength: number | null;
  /** chat_template from tokenizer_config.json, or null when the model has none (a base model). */
  readonly chatTemplate: string | null;
  /** Text to ids, special-token strings in the text becoming their ids, BOS/EOS added only on request. */
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  decode(ids: number[], options?: { skipSpecialTokens?: boolean }): string;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
}

type Json = Record<string, unknown>;

function readJsonIfExists(file: string): Json | null {
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Json;
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err as Error).message})`);
  }
}

/** Special tokens appear in tokenizer_config.json as a string or as {"content": "..."}. */
function tokenString(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json)['content'] === 'string') return (v as Json)['content'] as string;
  return null;
}

function idList(v: unknown): number[] {
  if (typeof v === 'number') return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number');
  return [];
}

/** Does tokenizer.json's post-processor put a BOS first? (Llama 2 and real Llama 3 files do.) */
function postProcessorAddsBos(tokenizerJson: Json, bos: string | null): boolean | null {
  const pp = tokenizerJson['post_processor'] as Json | null | undefined;
  if (!pp) return null;
  const steps = pp['type'] === 'Sequence' ? ((pp['processors'] as Json[] | undefined) ?? []) : [pp];
  for (const step of steps) {
    if (step['type'] !== 'TemplateProcessing') continue;
    const first = (step['single'] as Json[] | undefined)?.[0];
    const special = first?.['SpecialToken'] as Json | undefined;
    return special !== undefined && special['id'] === bos;
  }
  return null;
}

export interface TokenizerFiles {
  tokenizerJson: Json;
  tokenizerConfig: Json;
  specialTokensMap?: Json | null;
  generationConfig?: Json | null;
  modelConfig?: Json | null;
}

export function createModelTokenizer(files: TokenizerFiles): ModelTokenizer {
  const config = files.tokenizerConfig;
  const inner = new Tokenizer(files.tokenizerJson, config);
  const special = files.specialTokensMap ?? {};
  const bosToken = tokenString(config['bos_token']) ?? tokenString(special['bos_token']);
  const eosToken = tokenString(config['eos_token']) ?? tokenString(special['eos_token']);
  const gen = files.generationConfig ?? {};
  const model = files.modelConfig ?? {};
  const bosTokenId = (bosToken !== null ? inner.token_to_id(bosToken) : undefined) ?? idList(gen['bos_token_id'] ?? model['bos_token_id'])[0] ?? null;
  const eosTokenId = (eosToken !== null ? inner.token_to_id(eosToken) : undefined) ?? idList(gen['eos_token_id'] ?? model['eos_token_id'])[0] ?? null;
  const stop = new Set<number>();
  if (eosTokenId !== null) stop.add(eosTokenId);
  for (const id of idList(gen['eos_token_id'])) stop.add(id);
  for (const id of idList(model['eos_token_id'])) stop.add(id);

  // BOS rule, most explicit source first: tokenizer_config's add_bos_token; else what the
  // post-processor does; else, for a model that has a BOS token at all, add it, as llama.cpp does
  // for Llama vocabularies (some Llama 3 tokenizer.json copies lost the TemplateProcessing step,
  // yet the model was trained with <|begin_of_text|> first).
  const explicitBos = config['add_bos_token'];
  const addBosToken =
    bosTokenId === null ? false : typeof explicitBos === 'boolean' ? explicitBos : (postProcessorAddsBos(files.tokenizerJson, bosToken) ?? true);
  const addEosToken = config['add_eos_token'] === true && eosTokenId !== null;
  const vocab = inner.get_vocab(true);
  let maxId = -1;
  for (const id of vocab.values()) if (id > maxId) maxId = id;
  const vocabSize = Math.max(maxId + 1, typeof model['vocab_size'] === 'number' ? (model['vocab_size'] as number) : 0);
  const contextLength =
    typeof model['max_position_embeddings'] === 'number'
      ? (model['max_position_embeddings'] as number)
      : typeof config['model_max_length'] === 'number' && (config['model_max_length'] as number) < 1e7
        ? (config['model_max_length'] as number)
        : null;
  const template = config['chat_template'];
  // Some configs hold a list of named templates; the one named "default" is what apply_chat_template uses.
  const chatTemplate =
    typeof template === 'string'
      ? template
      : Array.isArray(template)
        ? ((template as Json[]).find((t) => t['name'] === 'default')?.['template'] as string | undefined) ?? null
        : null;

  return {
    vocabSize,
    bosToken,
    bosTokenId,
    eosToken,
    eosTokenId,
    stopTokenIds: [...stop],
    addBosToken,
    addEosToken,
    contextLength,
    chatTemplate,
    encode(text, options = {}) {
      // The library's own special-token insertion follows the post-processor, which may disagree
      // with add_bos_token; we always encode bare and add BOS/EOS by the rule above.
      const ids = inner.encode(text, { add_special_tokens: false }).ids;
      if (!options.addSpecialTokens) return ids;
      const out = addBosToken && bosTokenId !== null ? [bosTokenId, ...ids] : ids;
      if (addEosToken && eosTokenId !== null) out.push(eosTokenId);
      return out;
    },
    decode(ids, options = {}) {
      if (ids.length === 0) return ''; // the library refuses an empty list
      // No "clean-up" of spaces before punctuation (Llama 3's config asks for it): it is lossy,
      // and generated text should be shown exactly as the model produced it.
      return inner.decode(ids, { skip_special_tokens: options.skipSpecialTokens ?? false, clean_up_tokenization_spaces: false });
    },
    tokenToId: (token) => inner.token_to_id(token),
    idToToken: (id) => inner.id_to_token(id),
  };
}

/** Loads the tokenizer of a Hugging Face model folder (tokenizer.json is required). */
export function loadTokenizer(modelDir: string): ModelTokenizer {
  const tokenizerJson = readJsonIfExists(join(modelDir, 'tokenizer.json'));
  if (!tokenizerJson) {
    throw new Error(`${modelDir}: no tokenizer.json (Tunesmith needs the fast-tokenizer file; a folder with only tokenizer.model can be converted with transformers)`);
  }
  return createModelTokenizer({
    tokenizerJson,
    tokenizerConfig: readJsonIfExists(join(modelDir, 'tokenizer_config.json')) ?? {},
    specialTokensMap: readJsonIfExists(join(modelDir, 'special_tokens_map.json')),
    generationConfig: readJsonIfExists(join(modelDir, 'generation_config.json')),
    modelConfig: readJsonIfExists(join(modelDir, 'config.json')),
  });
}

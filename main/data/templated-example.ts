// The templated token view of an example: what the model is trained on. ids are the model's input;
// mask[i] = 1 marks ids[i] as a target the loss counts (predicted from ids[0..i-1]). With "train
// on responses only" (the default) only assistant responses, their end-of-turn marker and the
// appended EOS are targets, so the model learns to answer and to stop, not to echo prompts.
import type { ChatTemplate } from '../model/chat-template.js';
import type { ModelTokenizer } from '../model/tokenizer.js';
import type { NormalizedExample } from './example.js';
import type { LengthCheck } from './import-dataset.js';

export interface TemplatedExample {
  ids: number[];
  mask: number[];
  /** The rendered text that was tokenized (BOS and the appended EOS are ids only, not in it). */
  text: string;
  /** Id that ends the (last) response: a template turn-end token or the appended EOS. */
  stopTokenId: number | null;
  appendedEos: boolean;
  truncated: boolean;
}

export interface TemplateOptions {
  trainOnResponsesOnly?: boolean;
  appendEos?: boolean;
  /** Cut the sequence to this many tokens. */
  maxTokens?: number;
}

function commonPrefixLength(a: number[], b: number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/**
 * Character spans [start, end) of each assistant turn in the rendered text, end-of-turn marker
 * included. A response is looked for after the text the template renders for everything before
 * it plus the generation prompt (when the full text starts with that), else after the previous
 * message's content: a short answer such as "a" must not be found inside "assistant" or the prompt.
 */
function assistantSpans(
  text: string,
  example: Extract<NormalizedExample, { kind: 'chat' }>,
  markers: string[],
  template: ChatTemplate,
  stripBos: (s: string) => string,
): [number, number][] {
  const spans: [number, number][] = [];
  const find = (content: string, from: number): { at: number; length: number } | null => {
    let at = text.indexOf(content, from);
    if (at !== -1) return { at, length: content.length };
    const trimmed = content.trim();
    at = text.indexOf(trimmed, from);
    return at === -1 ? null : { at, length: trimmed.length };
  };
  let cursor = 0;
  example.messages.forEach((m, index) => {
    if (m.role !== 'assistant') {
      const found = find(m.content, cursor);
      if (found) cursor = found.at + found.length;
      return;
    }
    if (index > 0) {
      try {
        const prompt = stripBos(template.render(example.messages.slice(0, index), { addGenerationPrompt: true }));
        if (text.startsWith(prompt)) cursor = Math.max(cursor, prompt.length);
      } catch {
        // A template that cannot render a partial conversation: the content search alone decides.
      }
    }
    const found = find(m.content, cursor);
    if (!found) throw new Error(`chat template ${template.name} did not include an assistant message in its output; it cannot be used for training`);
    let end = found.at + found.length;
    const after = text.slice(end, end + 64);
    for (const marker of markers) {
      const k = after.indexOf(marker);
      if (k !== -1 && after.slice(0, k).trim() === '') {
        end += k + marker.length;
        break;
      }
    }
    spans.push([found.at, end]);
    cursor = end;
  });
  return spans;
}

/** Special tokens that end a turn in some template; used to recognise a response that already stops. */
const TURN_END_MARKERS = ['<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|end_of_text|>', '</s>'];

export function templateExample(
  example: NormalizedExample,
  tokenizer: ModelTokenizer,
  template: ChatTemplate,
  options: TemplateOptions = {},
): TemplatedExample {
  const responsesOnly = options.trainOnResponsesOnly ?? true;
  const appendEos = (options.appendEos ?? true) && tokenizer.eosTokenId !== null;
  const bos = tokenizer.addBosToken && tokenizer.bosTokenId !== null ? [tokenizer.bosTokenId] : [];
  let ids: number[];
  let mask: number[];
  let text: string;
  let stopTokenId: number | null = null;

  if (example.kind === 'text') {
    text = example.text;
    const body = tokenizer.encode(text);
    ids = [...bos, ...body];
    mask = [...bos.map(() => 0), ...body.map(() => 1)];
  } else {
    // BOS goes in as an id, never as text: tokenizers differ on how text right after a special
    // token is split, and the model saw a BOS id at position 0.
    const bosText = tokenizer.bosToken;
    const stripBos = (s: string): string => (bosText && s.startsWith(bosText) ? s.slice(bosText.length) : s);
    const rendered = stripBos(template.render(example.messages));
    const markers = [...new Set([tokenizer.eosToken, ...TURN_END_MARKERS].filter((m): m is string => !!m && tokenizer.tokenToId(m) !== undefined))];
    const spans = assistantSpans(rendered, example, markers, template, stripBos);
    // Anything after the last response (a dangling generation prompt some templates always add)
    // teaches nothing: the sequence ends with the response.
    text = rendered.slice(0, spans[spans.length - 1]![1]);
    const body = tokenizer.encode(text);
    const bodyMask = new Array<number>(body.length).fill(responsesOnly ? 0 : 1);
    if (responsesOnly) {
      // Token positions of each span boundary: where the tokens of the text before it stop
      // matching the whole text's tokens. Exact for the whole-text tokenization inference uses.
      const tokenIndexAt = (charIndex: number): number =>
        charIndex >= text.length ? body.length : commonPrefixLength(body, tokenizer.encode(text.slice(0, charIndex)));
      for (const [start, end] of spans) {
        const from = tokenIndexAt(start);
        const to = tokenIndexAt(end);
        for (let i = from; i < to; i++) bodyMask[i] = 1;
      }
    }
    ids = [...bos, ...body];
    mask = [...bos.map(() => 0), ...bodyMask];
    const last = body[body.length - 1];
    const markerIds = new Set(markers.map((m) => tokenizer.tokenToId(m)!));
    if (last !== undefined && (markerIds.has(last) || tokenizer.stopTokenIds.includes(last))) stopTokenId = last;
  }

  let appendedEos = false;
  if (appendEos && stopTokenId === null) {
    ids.push(tokenizer.eosTokenId!);
    mask.push(1);
    stopTokenId = tokenizer.eosTokenId;
    appendedEos = true;
  }
  let truncated = false;
  if (options.maxTokens !== undefined && ids.length > options.maxTokens) {
    ids = ids.slice(0, options.maxTokens);
    mask = mask.slice(0, options.maxTokens);
    truncated = true;
  }
  return { ids, mask, text, stopTokenId, appendedEos, truncated };
}

/**
 * The id a fine-tune on this template will emit to stop, and whether the model's own stop list has
 * it. When it does not (a Llama 3 config whose eos is <|end_of_text|> but whose template ends
 * turns with <|eot_id|>), exports must add it to the stop tokens or generation never ends.
 */
export function templateStopToken(tokenizer: ModelTokenizer, template: ChatTemplate): { id: number | null; token: string | null; inModelStopList: boolean } {
  const probe = templateExample(
    { kind: 'chat', messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }] },
    tokenizer,
    template,
  );
  const id = probe.stopTokenId;
  return { id, token: id === null ? null : (tokenizer.idToToken(id) ?? null), inModelStopList: id !== null && tokenizer.stopTokenIds.includes(id) };
}

/**
 * The import's "over the model's context" check. Every token covers at least one byte of the
 * rendered text (special tokens many), so rows whose UTF-8 size is well under the context are
 * accepted without tokenizing; only the long ones pay for an exact count.
 */
export function contextLengthCheck(
  tokenizer: ModelTokenizer,
  template: ChatTemplate,
  limits: { modelId: number | null; maxTokens: number },
  options: TemplateOptions = {},
): LengthCheck {
  return {
    modelId: limits.modelId,
    templateName: template.name,
    maxTokens: limits.maxTokens,
    countTokens(example) {
      const rendered = example.kind === 'text' ? example.text : template.render(example.messages);
      // +3: BOS, appended EOS, and the word-start marker an SPM tokenizer prepends.
      if (Buffer.byteLength(rendered, 'utf8') + 3 <= limits.maxTokens) return null;
      return templateExample(example, tokenizer, template, options).ids.length;
    },
  };
}

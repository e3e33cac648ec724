// Chat templates and the templated token view on real tokenizers: exact ids for Llama 3's own
// template, one BOS, the response-only loss mask, and the stop token a fine-tune will learn.
import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../../main/data/example.js';
import { templateExample, templateStopToken } from '../../../main/data/templated-example.js';
import { BUILTIN_TEMPLATE_NAMES, resolveChatTemplate } from '../../../main/model/chat-template.js';
import { loadTokenizer, type ModelTokenizer } from '../../../main/model/tokenizer.js';
import { asset, assetsSkipReason, haveAssets } from '../data/assets.js';

const chat = (...turns: [ChatMessage['role'], string][]) => ({ kind: 'chat' as const, messages: turns.map(([role, content]) => ({ role, content })) });

/** The text of the trained tokens, each maximal run of mask=1 decoded separately. */
function trainedRuns(tok: ModelTokenizer, ids: number[], mask: number[]): string[] {
  const runs: string[] = [];
  let run: number[] = [];
  ids.forEach((id, i) => {
    if (mask[i]) run.push(id);
    else if (run.length) {
      runs.push(tok.decode(run));
      run = [];
    }
  });
  if (run.length) runs.push(tok.decode(run));
  return runs;
}

describe.skipIf(!haveAssets)(`chat templates${haveAssets ? '' : ` (${assetsSkipReason})`}`, () => {
  it("Llama 3's own template: the exact ids transformers gives, one BOS, no dangling generation prompt", () => {
    const tok = loadTokenizer(asset('models/llama3-tokenizer'));
    const template = resolveChatTemplate(tok);
    expect(template.name).toBe('model');
    const view = templateExample(chat(['user', 'Hi'], ['assistant', 'Hello']), tok, template);
    // <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|>
    expect(view.ids).toEqual([128000, 128006, 882, 128007, 271, 13347, 128009, 128006, 78191, 128007, 271, 9906, 128009]);
    expect(view.mask).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
    expect(view).toMatchObject({ stopTokenId: 128009, appendedEos: false });
    // This config names <|end_of_text|> as EOS: exports must add <|eot_id|> to the stop tokens.
    expect(templateStopToken(tok, template)).toEqual({ id: 128009, token: '<|eot_id|>', inModelStopList: false });
  });

  it('masks only responses, even a one-letter answer that also occurs in the prompt and in "assistant"', () => {
    const tok = loadTokenizer(asset('models/llama3-tokenizer'));
    const template = resolveChatTemplate(tok);
    const view = templateExample(
      chat(['system', 'Answer a or b.'], ['user', 'a or b? say a'], ['assistant', 'a'], ['user', 'again'], ['assistant', 'b, not a']),
      tok,
      template,
    );
    expect(trainedRuns(tok, view.ids, view.mask)).toEqual(['a<|eot_id|>', 'b, not a<|eot_id|>']);
    const all = templateExample(chat(['user', 'x'], ['assistant', 'y']), tok, template, { trainOnResponsesOnly: false });
    expect(all.mask).toEqual(all.ids.map((_, i) => (i === 0 ? 0 : 1)));
  });

  it('Llama 2 tokenizer with the built-in llama-2 template: [INST] format, system block, </s> ends each answer', () => {
    const tok = loadTokenizer(asset('models/llama2-tokenizer'));
    expect(tok.chatTemplate).toBeNull();
    const template = resolveChatTemplate(tok, 'llama-2');
    const example = chat(['system', 'Be brief.'], ['user', 'Hi'], ['assistant', 'Hello!'], ['user', 'Bye'], ['assistant', 'Goodbye.']);
    const view = templateExample(example, tok, template);
    expect(view.text).toBe('[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] Bye [/INST] Goodbye. </s>');
    expect(view.ids[0]).toBe(1);
    expect(view.ids.filter((id) => id === 1).length).toBe(2); // one BOS per turn pair, none doubled
    expect(trainedRuns(tok, view.ids, view.mask)).toEqual(['Hello! </s>', 'Goodbye. </s>']);
    expect(view).toMatchObject({ stopTokenId: 2, appendedEos: false });
  });

  it('stories260K: alpaca ends answers with </s>; chatml markers are not in its vocabulary, so EOS is appended', () => {
    const tok = loadTokenizer(asset('models/stories260K-hf'));
    expect(resolveChatTemplate(tok).name).toBe('alpaca');
    const example = chat(['user', 'Tell a story.'], ['assistant', 'Once upon a time.']);
    const alpaca = templateExample(example, tok, resolveChatTemplate(tok, 'alpaca'));
    expect(alpaca.text).toBe('### Instruction:\nTell a story.\n\n### Response:\nOnce upon a time.</s>');
    expect(alpaca).toMatchObject({ appendedEos: false, stopTokenId: 2 });
    expect(trainedRuns(tok, alpaca.ids, alpaca.mask)).toEqual(['Once upon a time.</s>']);
    const chatml = templateExample(example, tok, resolveChatTemplate(tok, 'chatml'));
    expect(chatml).toMatchObject({ appendedEos: true, stopTokenId: 2 });
    expect(chatml.ids[chatml.ids.length - 1]).toBe(2);
    expect(chatml.mask[chatml.mask.length - 1]).toBe(1);
    // "<|im_end|>" would be plain text here: the response ends at its content, then the EOS id.
    expect(chatml.text).toBe('<|im_start|>user\nTell a story.<|im_end|>\n<|im_start|>assistant\nOnce upon a time.');
    expect(trainedRuns(tok, chatml.ids, chatml.mask)).toEqual(['Once upon a time.</s>']);
  });

  it('every built-in template renders and masks a two-turn chat on the Llama 3 vocabulary', () => {
    const tok = loadTokenizer(asset('models/llama3-tokenizer'));
    for (const name of BUILTIN_TEMPLATE_NAMES) {
      const view = templateExample(chat(['user', 'Q1'], ['assistant', 'A1'], ['user', 'Q2'], ['assistant', 'A2']), tok, resolveChatTemplate(tok, name));
      const runs = trainedRuns(tok, view.ids, view.mask);
      expect(runs.length, name).toBe(2);
      // A byte-level BPE token may carry the space before the answer (" A1").
      expect(runs[0]!.trimStart().startsWith('A1'), `${name}: ${runs[0]}`).toBe(true);
      expect(runs[1]!.trimStart().startsWith('A2'), `${name}: ${runs[1]}`).toBe(true);
      expect(runs.join('')).not.toMatch(/Q1|Q2/);
      // One BOS at the start (the llama-2 format repeats it before each [INST]), never doubled.
      expect(view.ids[0], name).toBe(128000);
      expect(view.ids[1], name).not.toBe(128000);
      expect(view.ids.filter((id) => id === 128000).length, name).toBe(name === 'llama-2' ? 2 : 1);
    }
  });

  it('text examples: BOS, the text, EOS; everything after BOS is trained; maxTokens cuts', () => {
    const tok = loadTokenizer(asset('models/llama2-tokenizer'));
    const view = templateExample({ kind: 'text', text: 'Hello world' }, tok, resolveChatTemplate(tok));
    expect(view.ids).toEqual([1, 15043, 3186, 2]);
    expect(view.mask).toEqual([0, 1, 1, 1]);
    expect(templateExample({ kind: 'text', text: 'Hello world' }, tok, resolveChatTemplate(tok), { maxTokens: 2 })).toMatchObject({ ids: [1, 15043], truncated: true });
  });
});

// The tokenizer against llama.cpp's test vectors (SPM Llama 2 and BPE Llama 3 vocabularies), the
// BOS/EOS rules the real models were trained with, and decode round-trips.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../../main/model/tokenizer.js';
import { asset, assetsSkipReason, haveAssets } from '../data/assets.js';

/** llama.cpp's layout: .inp holds the test strings, each followed by "\n__ggml_vocab_test__\n"; .out one line of ids per test. */
function readVectors(name: string): { text: string; ids: number[] }[] {
  const inp = readFileSync(asset('models/gguf-vocab', `${name}.inp`), 'utf8').split('\n__ggml_vocab_test__\n');
  expect(inp.pop()).toBe(''); // the marker also ends the last test
  const out = readFileSync(asset('models/gguf-vocab', `${name}.out`), 'utf8').split('\n');
  return inp.map((text, i) => ({ text, ids: (out[i] ?? '').trim() === '' ? [] : out[i]!.trim().split(/\s+/).map(Number) }));
}

describe.skipIf(!haveAssets)(`tokenizers on real vocabularies${haveAssets ? '' : ` (${assetsSkipReason})`}`, () => {
  it('Llama 2 (SentencePiece BPE): all 46 llama.cpp vectors, no specials added', () => {
    const tok = loadTokenizer(asset('models/llama2-tokenizer'));
    const vectors = readVectors('ggml-vocab-llama-spm.gguf');
    expect(vectors.length).toBe(46);
    const failures = vectors.filter((v) => JSON.stringify(tok.encode(v.text)) !== JSON.stringify(v.ids));
    expect(failures).toEqual([]);
  });

  it('Llama 3 (byte-level BPE): all 46 llama.cpp vectors, no specials added', () => {
    const tok = loadTokenizer(asset('models/llama3-tokenizer'));
    const vectors = readVectors('ggml-vocab-llama-bpe.gguf');
    expect(vectors.length).toBe(46);
    const failures = vectors.filter((v) => JSON.stringify(tok.encode(v.text)) !== JSON.stringify(v.ids));
    expect(failures).toEqual([]);
  });

  it('Llama 2: BOS <s>=1 first (add_bos_token), EOS </s>=2 not added, a 4096 context', () => {
    const tok = loadTokenizer(asset('models/llama2-tokenizer'));
    expect(tok).toMatchObject({ bosTokenId: 1, eosTokenId: 2, addBosToken: true, addEosToken: false, vocabSize: 32000, chatTemplate: null, contextLength: 4096 });
    expect(tok.encode('Hello world', { addSpecialTokens: true })).toEqual([1, 15043, 3186]);
    expect(tok.stopTokenIds).toEqual([2]);
  });

  it('Llama 3: <|begin_of_text|>=128000 first even though this tokenizer.json lost its BOS post-processor', () => {
    const tok = loadTokenizer(asset('models/llama3-tokenizer'));
    expect(tok).toMatchObject({ bosTokenId: 128000, eosTokenId: 128001, addBosToken: true, vocabSize: 128256 });
    expect(tok.encode('Hello world', { addSpecialTokens: true })).toEqual([128000, 9906, 1917]);
    // Special-token text in the input becomes the special id, as in a rendered chat template.
    expect(tok.encode('<|start_header_id|>user<|end_header_id|>')).toEqual([128006, 882, 128007]);
    expect(tok.chatTemplate).toContain('<|start_header_id|>');
  });

  it('stories260K (the real tiny model): 512 vocab, BOS 1, EOS 2, context 512 from config.json', () => {
    const tok = loadTokenizer(asset('models/stories260K-hf'));
    expect(tok).toMatchObject({ vocabSize: 512, bosTokenId: 1, eosTokenId: 2, addBosToken: true, contextLength: 512 });
    const ids = tok.encode('Once upon a time, there was a little girl named Lily.', { addSpecialTokens: true });
    expect(ids[0]).toBe(1);
    expect(ids.every((id) => id >= 0 && id < 512)).toBe(true);
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('Once upon a time, there was a little girl named Lily.');
  });

  it('decode(encode(text)) gives the text back on every llama.cpp test string', () => {
    for (const [dir, name] of [
      ['llama2-tokenizer', 'ggml-vocab-llama-spm.gguf'],
      ['llama3-tokenizer', 'ggml-vocab-llama-bpe.gguf'],
    ] as const) {
      const tok = loadTokenizer(asset('models', dir));
      for (const { text } of readVectors(name)) {
        // Exact, leading spaces included: the decoder strips only the word-start marker the
        // tokenizer itself prepended.
        expect(tok.decode(tok.encode(text)), JSON.stringify(text)).toBe(text);
      }
    }
  });
});

// Each row format normalised, detected, and its mistakes described.
import { describe, expect, it } from 'vitest';
import { fillFieldTemplate, MappingSyntaxError, parseFieldTemplate } from '../../../main/data/field-mapping.js';
import { detectRecordFormat, normalizeRecord } from '../../../main/data/record-formats.js';

const ok = (example: unknown) => ({ ok: true, example });

describe('normalizeRecord', () => {
  it('alpaca: instruction + input as the user turn, optional system and history', () => {
    expect(normalizeRecord({ instruction: 'Sum', input: '1 2', output: '3' }, 'alpaca')).toEqual(
      ok({ kind: 'chat', messages: [{ role: 'user', content: 'Sum\n\n1 2' }, { role: 'assistant', content: '3' }] }),
    );
    expect(normalizeRecord({ instruction: 'Hi', output: 'Yo', system: 'S', history: [['a', 'b']] }, 'alpaca')).toEqual(
      ok({
        kind: 'chat',
        messages: [
          { role: 'system', content: 'S' },
          { role: 'user', content: 'a' },
          { role: 'assistant', content: 'b' },
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Yo' },
        ],
      }),
    );
    expect(normalizeRecord({ instruction: 'Hi', output: '' }, 'alpaca')).toMatchObject({ ok: false, kind: 'empty-response', field: 'output' });
  });

  it('sharegpt: from/value with human/gpt/system roles, and role/content spelling', () => {
    const expected = ok({ kind: 'chat', messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }] });
    expect(normalizeRecord({ conversations: [{ from: 'system', value: 's' }, { from: 'human', value: 'q' }, { from: 'gpt', value: 'a' }] }, 'sharegpt')).toEqual(expected);
    expect(normalizeRecord({ conversations: [{ role: 'system', content: 's' }, { role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }] }, 'sharegpt')).toEqual(expected);
    expect(normalizeRecord({ conversations: [{ from: 'human', value: 'q' }, { from: 'function_call', value: 'x' }] }, 'sharegpt')).toMatchObject({
      ok: false,
      kind: 'bad-role',
      message: expect.stringContaining('unknown from "function_call"'),
    });
  });

  it('openai: messages with system prompts and multi-part text content', () => {
    const row = { messages: [{ role: 'system', content: 's' }, { role: 'user', content: [{ type: 'text', text: 'he' }, { type: 'text', text: 'llo' }] }, { role: 'assistant', content: 'hi' }] };
    expect(normalizeRecord(row, 'openai')).toEqual(ok({ kind: 'chat', messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'hello' }, { role: 'assistant', content: 'hi' }] }));
    expect(normalizeRecord({ messages: [{ role: 'user', content: 'q' }, { role: 'system', content: 's' }, { role: 'assistant', content: 'a' }] }, 'openai')).toMatchObject({ ok: false, kind: 'bad-role', field: 'messages[1]' });
    expect(normalizeRecord({ messages: 'hi' }, 'openai')).toMatchObject({ ok: false, kind: 'wrong-type', message: 'field "messages": expected a list of messages, got a string' });
  });

  it('prompt-completion (or prompt-response), text, and non-object rows', () => {
    expect(normalizeRecord({ prompt: 'p', completion: 'c' }, 'prompt-completion')).toEqual(ok({ kind: 'chat', messages: [{ role: 'user', content: 'p' }, { role: 'assistant', content: 'c' }] }));
    expect(normalizeRecord({ prompt: 'p', response: 'r' }, 'prompt-completion')).toMatchObject({ ok: true });
    expect(normalizeRecord({ text: 'hello' }, 'text')).toEqual(ok({ kind: 'text', text: 'hello' }));
    expect(normalizeRecord([1, 2], 'text')).toMatchObject({ ok: false, kind: 'not-an-object', message: 'expected an object ({...}) per row, got an array' });
  });

  it('fields: templates fill from the row; a missing field is named', () => {
    const mapping = { prompt: 'Q: {q} ({meta.lang})', response: '{a}' };
    expect(normalizeRecord({ q: 'why', a: 42, meta: { lang: 'en' } }, 'fields', mapping)).toEqual(
      ok({ kind: 'chat', messages: [{ role: 'user', content: 'Q: why (en)' }, { role: 'assistant', content: '42' }] }),
    );
    expect(normalizeRecord({ q: 'why' }, 'fields', mapping)).toMatchObject({ ok: false, kind: 'missing-field', field: 'meta.lang' });
    expect(normalizeRecord({ body: 'x' }, 'fields', { text: '{body}' })).toEqual(ok({ kind: 'text', text: 'x' }));
  });
});

describe('detectRecordFormat', () => {
  it('recognises each format by its fields', () => {
    expect(detectRecordFormat({ messages: [] })).toBe('openai');
    expect(detectRecordFormat({ conversations: [] })).toBe('sharegpt');
    expect(detectRecordFormat({ instruction: '', input: '', output: '' })).toBe('alpaca');
    expect(detectRecordFormat({ prompt: '', completion: '' })).toBe('prompt-completion');
    expect(detectRecordFormat({ text: '' })).toBe('text');
    expect(detectRecordFormat({ premise: '', label: 0 })).toBe('fields');
  });
});

describe('field templates', () => {
  it('parses placeholders and literal braces, and rejects unbalanced ones', () => {
    expect(fillFieldTemplate('{{x}} = {x}', { x: 1 })).toEqual({ ok: true, text: '{x} = 1' });
    expect(() => parseFieldTemplate('{open')).toThrow(MappingSyntaxError);
    expect(() => parseFieldTemplate('close}')).toThrow(/no opening/);
  });
});

// The row shapes people bring, and how each becomes a normalised example. A row that does not fit
// the chosen format yields an issue naming the field and what was expected, never an exception.
import type { ChatMessage, ChatRole, NormalizedExample } from './example.js';
import { fillFieldTemplate, type FieldMapping } from './field-mapping.js';
import type { IssueKind } from './row-issue.js';

export const RECORD_FORMATS = ['alpaca', 'sharegpt', 'openai', 'prompt-completion', 'text', 'fields'] as const;
export type RecordFormat = (typeof RECORD_FORMATS)[number];

export type NormalizeResult = { ok: true; example: NormalizedExample } | { ok: false; kind: IssueKind; field?: string; message: string };

type Row = Record<string, unknown>;

function fail(kind: IssueKind, field: string | undefined, message: string): NormalizeResult {
  return field === undefined ? { ok: false, kind, message } : { ok: false, kind, field, message };
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function fieldList(row: Row): string {
  const keys = Object.keys(row);
  return keys.length === 0 ? 'no fields' : `fields ${keys.slice(0, 8).join(', ')}${keys.length > 8 ? ', ...' : ''}`;
}

/** A required string field; the message says what the row has instead. */
function requireString(row: Row, field: string, format: RecordFormat): string | NormalizeResult {
  const v = row[field];
  if (v === undefined) return fail('missing-field', field, `missing field "${field}" (a ${format} row needs it; this row has ${fieldList(row)})`);
  if (typeof v !== 'string') return fail('wrong-type', field, `field "${field}": expected a string, got ${typeName(v)}`);
  return v;
}

function optionalString(row: Row, field: string): string | NormalizeResult | undefined {
  const v = row[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') return fail('wrong-type', field, `field "${field}": expected a string, got ${typeName(v)}`);
  return v;
}

const isResult = (v: unknown): v is NormalizeResult => typeof v === 'object' && v !== null && 'ok' in v;

/** Checks every format shares: a conversation that ends with a non-empty assistant turn. */
export function checkConversation(messages: ChatMessage[], fieldName: string): NormalizeResult {
  if (messages.length === 0) return fail('missing-field', fieldName, `field "${fieldName}": the conversation has no messages`);
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (m.role === 'system' && i !== 0) return fail('bad-role', `${fieldName}[${i}]`, `${fieldName}[${i}]: a system message is only allowed first`);
    if (m.role === 'user' && m.content.trim() === '') return fail('empty-prompt', `${fieldName}[${i}]`, `${fieldName}[${i}]: the user message is empty`);
    if (m.role === 'assistant' && m.content.trim() === '') {
      return fail('empty-response', `${fieldName}[${i}]`, `${fieldName}[${i}]: the assistant response is empty, so there is nothing to learn`);
    }
  }
  const last = messages[messages.length - 1]!;
  if (last.role !== 'assistant') {
    return fail('empty-response', fieldName, `field "${fieldName}": the conversation ends with a ${last.role} message; the last message must be the assistant's response`);
  }
  if (!messages.some((m) => m.role === 'user')) return fail('empty-prompt', fieldName, `field "${fieldName}": the conversation has no user message`);
  return { ok: true, example: { kind: 'chat', messages } };
}

function normalizeAlpaca(row: Row): NormalizeResult {
  const instruction = requireString(row, 'instruction', 'alpaca');
  if (isResult(instruction)) return instruction;
  const input = optionalString(row, 'input');
  if (isResult(input)) return input;
  const output = requireString(row, 'output', 'alpaca');
  if (isResult(output)) return output;
  const system = optionalString(row, 'system');
  if (isResult(system)) return system;
  if (instruction.trim() === '' && (input ?? '').trim() === '') return fail('empty-prompt', 'instruction', 'field "instruction": empty, and there is no input');
  if (output.trim() === '') return fail('empty-response', 'output', 'field "output": the response is empty, so there is nothing to learn');
  const messages: ChatMessage[] = [];
  if (system && system.trim() !== '') messages.push({ role: 'system', content: system });
  // LLaMA-Factory's Alpaca variant carries earlier turns as [[user, assistant], ...].
  const history = row['history'];
  if (history !== undefined && history !== null) {
    if (!Array.isArray(history)) return fail('wrong-type', 'history', `field "history": expected a list of [instruction, response] pairs, got ${typeName(history)}`);
    for (let i = 0; i < history.length; i++) {
      const pair: unknown = history[i];
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
        return fail('wrong-type', `history[${i}]`, `history[${i}]: expected a pair of strings [instruction, response]`);
      }
      messages.push({ role: 'user', content: pair[0] }, { role: 'assistant', content: pair[1] });
    }
  }
  const user = input && input.trim() !== '' ? (instruction.trim() === '' ? input : `${instruction}\n\n${input}`) : instruction;
  messages.push({ role: 'user', content: user }, { role: 'assistant', content: output });
  return checkConversation(messages, 'history');
}

const SHAREGPT_ROLES: Record<string, ChatRole> = {
  human: 'user',
  user: 'user',
  gpt: 'assistant',
  assistant: 'assistant',
  chatgpt: 'assistant',
  bard: 'assistant',
  bing: 'assistant',
  model: 'assistant',
  system: 'system',
};

const OPENAI_ROLES: Record<string, ChatRole> = { system: 'system', developer: 'system', user: 'user', assistant: 'assistant' };

function messageContent(v: unknown): string | null {
  if (typeof v === 'string') return v;
  // OpenAI's multi-part content: keep the text parts, in order.
  if (Array.isArray(v) && v.every((p) => p && typeof p === 'object' && (p as Row)['type'] === 'text' && typeof (p as Row)['text'] === 'string')) {
    return v.map((p) => (p as Row)['text'] as string).join('');
  }
  return null;
}

function normalizeMessageList(
  row: Row,
  field: string,
  roleKey: string,
  contentKey: string,
  roles: Record<string, ChatRole>,
  format: RecordFormat,
): NormalizeResult {
  const list = row[field];
  if (list === undefined) return fail('missing-field', field, `missing field "${field}" (a ${format} row needs it; this row has ${fieldList(row)})`);
  if (!Array.isArray(list)) return fail('wrong-type', field, `field "${field}": expected a list of messages, got ${typeName(list)}`);
  const messages: ChatMessage[] = [];
  const system = optionalString(row, 'system');
  if (isResult(system)) return system;
  if (system && system.trim() !== '') messages.push({ role: 'system', content: system });
  for (let i = 0; i < list.length; i++) {
    const m: unknown = list[i];
    const where = `${field}[${i}]`;
    if (!m || typeof m !== 'object' || Array.isArray(m)) return fail('wrong-type', where, `${where}: expected an object with "${roleKey}" and "${contentKey}", got ${typeName(m)}`);
    const rawRole = (m as Row)[roleKey];
    if (typeof rawRole !== 'string') return fail('missing-field', `${where}.${roleKey}`, `${where}: missing "${roleKey}" (expected one of ${Object.keys(roles).join(', ')})`);
    const role = roles[rawRole.toLowerCase()];
    if (!role) return fail('bad-role', `${where}.${roleKey}`, `${where}: unknown ${roleKey} "${rawRole}" (expected one of ${Object.keys(roles).join(', ')})`);
    const content = messageContent((m as Row)[contentKey]);
    if (content === null) return fail('wrong-type', `${where}.${contentKey}`, `${where}.${contentKey}: expected a string, got ${typeName((m as Row)[contentKey])}`);
    messages.push({ role, content });
  }
  return checkConversation(messages, field);
}

function normalizePromptCompletion(row: Row): NormalizeResult {
  const prompt = requireString(row, 'prompt', 'prompt-completion');
  if (isResult(prompt)) return prompt;
  const responseField = row['completion'] !== undefined || row['response'] === undefined ? 'completion' : 'response';
  const completion = requireString(row, responseField, 'prompt-completion');
  if (isResult(completion)) return completion;
  const system = optionalString(row, 'system');
  if (isResult(system)) return system;
  if (prompt.trim() === '') return fail('empty-prompt', 'prompt', 'field "prompt" is empty');
  if (completion.trim() === '') return fail('empty-response', responseField, `field "${responseField}": the response is empty, so there is nothing to learn`);
  const messages: ChatMessage[] = [];
  if (system && system.trim() !== '') messages.push({ role: 'system', content: system });
  messages.push({ role: 'user', content: prompt }, { role: 'assistant', content: completion });
  return { ok: true, example: { kind: 'chat', messages } };
}

function normalizeText(row: Row): NormalizeResult {
  const text = requireString(row, 'text', 'text');
  if (isResult(text)) return text;
  if (text.trim() === '') return fail('empty-response', 'text', 'field "text" is empty');
  return { ok: true, example: { kind: 'text', text } };
}

function normalizeFields(row: Row, mapping: FieldMapping | undefined): NormalizeResult {
  if (!mapping || (mapping.text === undefined && mapping.response === undefined)) {
    return fail('missing-field', undefined, `these rows (${fieldList(row)}) are in no known format: give a mapping, e.g. prompt "{${Object.keys(row)[0] ?? 'question'}}" and response "{...}"`);
  }
  const fill = (template: string, part: string): string | NormalizeResult => {
    const r = fillFieldTemplate(template, row);
    if (!r.ok) return fail('missing-field', r.missing, `missing field "${r.missing}" used by the ${part} mapping (this row has ${fieldList(row)})`);
    return r.text;
  };
  if (mapping.text !== undefined) {
    const text = fill(mapping.text, 'text');
    if (isResult(text)) return text;
    if (text.trim() === '') return fail('empty-response', undefined, 'the mapped text is empty');
    return { ok: true, example: { kind: 'text', text } };
  }
  const messages: ChatMessage[] = [];
  if (mapping.system !== undefined) {
    const system = fill(mapping.system, 'system');
    if (isResult(system)) return system;
    if (system.trim() !== '') messages.push({ role: 'system', content: system });
  }
  const prompt = fill(mapping.prompt ?? '', 'prompt');
  if (isResult(prompt)) return prompt;
  const response = fill(mapping.response!, 'response');
  if (isResult(response)) return response;
  if (prompt.trim() === '') return fail('empty-prompt', undefined, 'the mapped prompt is empty');
  if (response.trim() === '') return fail('empty-response', undefined, 'the mapped response is empty, so there is nothing to learn');
  messages.push({ role: 'user', content: prompt }, { role: 'assistant', content: response });
  return { ok: true, example: { kind: 'chat', messages } };
}

export function normalizeRecord(value: unknown, format: RecordFormat, mapping?: FieldMapping): NormalizeResult {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return fail('not-an-object', undefined, `expected an object ({...}) per row, got ${typeName(value)}`);
  }
  const row = value as Row;
  switch (format) {
    case 'alpaca':
      return normalizeAlpaca(row);
    case 'sharegpt':
      // Some ShareGPT exports use role/content inside "conversations"; accept both spellings.
      return Array.isArray(row['conversations']) && (row['conversations'] as Row[])[0]?.['role'] !== undefined
        ? normalizeMessageList(row, 'conversations', 'role', 'content', OPENAI_ROLES, 'sharegpt')
        : normalizeMessageList(row, 'conversations', 'from', 'value', SHAREGPT_ROLES, 'sharegpt');
    case 'openai':
      return normalizeMessageList(row, 'messages', 'role', 'content', OPENAI_ROLES, 'openai');
    case 'prompt-completion':
      return normalizePromptCompletion(row);
    case 'text':
      return normalizeText(row);
    case 'fields':
      return normalizeFields(row, mapping);
  }
}

/** Guesses the format from a row's field names; 'fields' means none fits and a mapping is needed. */
export function detectRecordFormat(value: unknown): RecordFormat {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'fields';
  const keys = new Set(Object.keys(value).map((k) => k.toLowerCase()));
  if (keys.has('messages')) return 'openai';
  if (keys.has('conversations')) return 'sharegpt';
  if (keys.has('instruction') && keys.has('output')) return 'alpaca';
  if (keys.has('prompt') && (keys.has('completion') || keys.has('response'))) return 'prompt-completion';
  if (keys.has('text') && keys.size <= 3) return 'text';
  return 'fields';
}

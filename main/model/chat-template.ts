// Chat templates: the model's own (tokenizer_config.json's chat_template, rendered with
// @huggingface/jinja exactly as transformers' apply_chat_template would) or, for a base model with
// none, one of the common built-in formats. Training on the same text the model will see at
// inference is what keeps a fine-tune from rambling on past its answer.
import { Template } from '@huggingface/jinja';
import type { ChatMessage } from '../data/example.js';
import type { ModelTokenizer } from './tokenizer.js';

export const BUILTIN_TEMPLATE_NAMES = ['alpaca', 'chatml', 'llama-2', 'llama-3', 'mistral'] as const;
export type BuiltinTemplateName = (typeof BUILTIN_TEMPLATE_NAMES)[number];

/** Jinja sources in the same dialect as model-provided templates; each ends an assistant turn with a marker. */
export const BUILTIN_TEMPLATES: Record<BuiltinTemplateName, string> = {
  alpaca:
    "{% for m in messages %}{% if m.role == 'system' %}{{ m.content + '\\n\\n' }}" +
    "{% elif m.role == 'user' %}{{ '### Instruction:\\n' + m.content + '\\n\\n### Response:\\n' }}" +
    "{% else %}{{ m.content + eos_token + '\\n\\n' }}{% endif %}{% endfor %}",
  chatml:
    "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
  'llama-2':
    "{% if messages[0].role == 'system' %}{% set sys = messages[0].content %}{% set msgs = messages[1:] %}" +
    '{% else %}{% set sys = none %}{% set msgs = messages %}{% endif %}' +
    "{% for m in msgs %}{% if m.role == 'user' %}{% if loop.first and sys %}" +
    "{{ bos_token + '[INST] <<SYS>>\\n' + sys + '\\n<</SYS>>\\n\\n' + m.content | trim + ' [/INST]' }}" +
    "{% else %}{{ bos_token + '[INST] ' + m.content | trim + ' [/INST]' }}{% endif %}" +
    "{% else %}{{ ' ' + m.content | trim + ' ' + eos_token }}{% endif %}{% endfor %}",
  'llama-3':
    '{{ bos_token }}{% for m in messages %}' +
    "{{ '<|start_header_id|>' + m.role + '<|end_header_id|>\\n\\n' + m.content | trim + '<|eot_id|>' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
  mistral:
    "{% if messages[0].role == 'system' %}{% set sys = messages[0].content %}{% set msgs = messages[1:] %}" +
    '{% else %}{% set sys = none %}{% set msgs = messages %}{% endif %}' +
    '{{ bos_token }}{% for m in msgs %}' +
    "{% if m.role == 'user' %}{% if loop.first and sys %}{{ '[INST] ' + sys + '\\n\\n' + m.content + ' [/INST]' }}" +
    "{% else %}{{ '[INST] ' + m.content + ' [/INST]' }}{% endif %}" +
    '{% else %}{{ m.content + eos_token }}{% endif %}{% endfor %}',
};

export interface ChatTemplate {
  /** 'model' for the model's own template, else the built-in's name. */
  readonly name: 'model' | BuiltinTemplateName;
  readonly source: string;
  render(messages: ChatMessage[], options?: { addGenerationPrompt?: boolean }): string;
}

export class ChatTemplateError extends Error {}

export function compileChatTemplate(
  name: ChatTemplate['name'],
  source: string,
  tokens: { bosToken: string | null; eosToken: string | null },
): ChatTemplate {
  let compiled: Template;
  try {
    compiled = new Template(source);
  } catch (err) {
    throw new ChatTemplateError(`chat template ${name} does not parse: ${(err as Error).message}`);
  }
  return {
    name,
    source,
    render(messages, options = {}) {
      try {
        return compiled.render({
          messages,
          add_generation_prompt: options.addGenerationPrompt ?? false,
          bos_token: tokens.bosToken ?? '',
          eos_token: tokens.eosToken ?? '',
        });
      } catch (err) {
        throw new ChatTemplateError(`chat template ${name} failed to render: ${(err as Error).message}`);
      }
    },
  };
}

/**
 * The template to train with: an explicit built-in if asked for, else the model's own, else
 * 'chatml' if the vocabulary has its markers, else 'alpaca' (plain text, works with any vocabulary).
 */
export function resolveChatTemplate(tokenizer: ModelTokenizer, override?: BuiltinTemplateName | 'model'): ChatTemplate {
  const tokens = { bosToken: tokenizer.bosToken, eosToken: tokenizer.eosToken };
  if (override === 'model' || (override === undefined && tokenizer.chatTemplate !== null)) {
    if (tokenizer.chatTemplate === null) throw new ChatTemplateError('the model has no chat_template in tokenizer_config.json; pick a built-in template');
    return compileChatTemplate('model', tokenizer.chatTemplate, tokens);
  }
  const name: BuiltinTemplateName = override ?? (tokenizer.tokenToId('<|im_start|>') !== undefined ? 'chatml' : 'alpaca');
  return compileChatTemplate(name, BUILTIN_TEMPLATES[name], tokens);
}

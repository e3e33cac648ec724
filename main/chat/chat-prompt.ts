// The prompt a chat message becomes: the user turn rendered with the chat template the model was
// (or will be) trained with, plus its generation prompt, so base and fine-tuned models are asked
// exactly the way training showed them answers.
import { resolveChatTemplate, type BuiltinTemplateName } from '../model/chat-template.js';
import { loadTokenizer } from '../model/tokenizer.js';

export function chatPrompt(model: string, message: string, template?: BuiltinTemplateName | 'model'): string {
  const tokenizer = loadTokenizer(model);
  const chat = resolveChatTemplate(tokenizer, template);
  const rendered = chat.render([{ role: 'user', content: message }], { addGenerationPrompt: true });
  // The generate job adds BOS as an id (tokenizer rules); a BOS the template writes as text would
  // be a second one.
  const bos = tokenizer.bosToken;
  return bos && rendered.startsWith(bos) ? rendered.slice(bos.length) : rendered;
}

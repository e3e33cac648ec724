// The normalised example every importer produces and every later stage (templating, training,
// export) consumes: a chat conversation, or raw text for continued pretraining.

export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

export type NormalizedExample = { kind: 'chat'; messages: ChatMessage[] } | { kind: 'text'; text: string };

export type Split = 'train' | 'val';

// Column / field mapping for files whose rows are not in a chat format (SST-2's sentence + label,
// SuperGLUE's premise + choices): each part of the example is a small template such as
// "Premise: {premise}\nAnswer:" whose {placeholders} name fields, dotted for nested ones
// ({instances.0.output}). "{{" and "}}" write literal braces.

export interface FieldMapping {
  /** Chat examples: the user turn. */
  prompt?: string;
  /** Chat examples: the assistant turn the model learns. */
  response?: string;
  system?: string;
  /** Pretraining examples: the whole text. Use instead of prompt/response. */
  text?: string;
}

type Part = { literal: string } | { path: string[] };

export class MappingSyntaxError extends Error {}

const cache = new Map<string, Part[]>();

export function parseFieldTemplate(template: string): Part[] {
  const hit = cache.get(template);
  if (hit) return hit;
  const parts: Part[] = [];
  let literal = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (c === '{' && template[i + 1] === '{') {
      literal += '{';
      i++;
    } else if (c === '}' && template[i + 1] === '}') {
      literal += '}';
      i++;
    } else if (c === '{') {
      const end = template.indexOf('}', i);
      if (end === -1) throw new MappingSyntaxError(`mapping "${template}": "{" at ${i + 1} has no closing "}"`);
      const name = template.slice(i + 1, end).trim();
      if (name === '') throw new MappingSyntaxError(`mapping "${template}": empty {} placeholder`);
      if (literal) parts.push({ literal });
      literal = '';
      parts.push({ path: name.split('.') });
      i = end;
    } else if (c === '}') {
      throw new MappingSyntaxError(`mapping "${template}": "}" at ${i + 1} has no opening "{" (write "}}" for a literal brace)`);
    } else literal += c;
  }
  if (literal) parts.push({ literal });
  cache.set(template, parts);
  return parts;
}

/** Field names a template refers to (the first segment of each path). */
export function mappingFields(mapping: FieldMapping): string[] {
  const names = new Set<string>();
  for (const t of [mapping.prompt, mapping.response, mapping.system, mapping.text]) {
    if (t === undefined) continue;
    for (const p of parseFieldTemplate(t)) if ('path' in p) names.add(p.path[0]!);
  }
  return [...names];
}

export type FillResult = { ok: true; text: string } | { ok: false; missing: string };

export function fillFieldTemplate(template: string, record: Record<string, unknown>): FillResult {
  let out = '';
  for (const part of parseFieldTemplate(template)) {
    if ('literal' in part) {
      out += part.literal;
      continue;
    }
    let value: unknown = record;
    for (const key of part.path) {
      value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
    }
    if (value === undefined || value === null) return { ok: false, missing: part.path.join('.') };
    out += typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
  return { ok: true, text: out };
}

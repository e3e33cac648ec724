// Multiple-choice evaluation as MeZO and ZO-Bench score it: for each example, one sequence per
// candidate answer; a candidate's score is the MEAN log-probability of its own tokens (the tokens
// the full sequence has beyond the prompt's); the prediction is the best-scoring candidate.
//   SST-2:  prompt "{sentence} It was", candidates " great" (label 1) / " terrible" (label 0).
//   COPA:   prompt "{premise without its final period} so " (effect) or " because " (cause),
//           candidates choice1 / choice2 with the first word lower-cased unless it is "I".
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

export type TaskName = 'sst2' | 'copa';

export interface ChoiceExample {
  /** Where it came from, for error messages: "dev.tsv line 12". */
  source: string;
  prompt: string;
  /** Full texts, prompt included: prompt + candidate. */
  candidates: string[];
  label: number;
}

export class TaskFileError extends Error {}

/** SST-2 from a TSV with a header naming `sentence` and `label` columns (either order, CRLF ok). */
export function loadSst2(file: string): ChoiceExample[] {
  const lines = readFileSync(file, 'utf8').replace(/^\uFEFF/, '').split(/\r?\n/);
  const header = lines[0]?.split('\t') ?? [];
  const sentenceCol = header.indexOf('sentence');
  const labelCol = header.indexOf('label');
  if (sentenceCol < 0 || labelCol < 0) {
    throw new TaskFileError(`${file} line 1: expected a header with "sentence" and "label" columns, found ${JSON.stringify(header)}`);
  }
  const examples: ChoiceExample[] = [];
  lines.slice(1).forEach((line, i) => {
    if (line.trim() === '') return;
    const cols = line.split('\t');
    const label = Number(cols[labelCol]);
    const sentence = cols[sentenceCol]?.trim();
    if (!sentence || (label !== 0 && label !== 1)) {
      throw new TaskFileError(`${file} line ${i + 2}: expected a sentence and a label of 0 or 1`);
    }
    const prompt = `${sentence} It was`;
    examples.push({ source: `${basename(file)} line ${i + 2}`, prompt, candidates: [`${prompt} terrible`, `${prompt} great`], label });
  });
  return examples;
}

function copaCandidate(choice: string): string {
  const words = choice.split(' ');
  if (words[0] && words[0] !== 'I') words[0] = words[0][0]!.toLowerCase() + words[0].slice(1);
  return words.join(' ');
}

/** COPA from SuperGLUE-style JSONL: premise, choice1, choice2, question (cause|effect), label. */
export function loadCopa(file: string): ChoiceExample[] {
  const examples: ChoiceExample[] = [];
  readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .forEach((line, i) => {
      if (line.trim() === '') return;
      const where = `${file} line ${i + 1}`;
      let row: Record<string, unknown>;
      try {
        row = JSON.parse(line) as Record<string, unknown>;
      } catch (err) {
        throw new TaskFileError(`${where}: not valid JSON (${(err as Error).message})`);
      }
      const { premise, choice1, choice2, question, label } = row;
      if (typeof premise !== 'string' || typeof choice1 !== 'string' || typeof choice2 !== 'string') {
        throw new TaskFileError(`${where}: expected string fields premise, choice1 and choice2`);
      }
      if (question !== 'cause' && question !== 'effect') throw new TaskFileError(`${where}: field "question" must be "cause" or "effect"`);
      if (label !== 0 && label !== 1) throw new TaskFileError(`${where}: field "label" must be 0 or 1 (unlabelled test files cannot be scored)`);
      let p = premise.trimEnd();
      if (p.endsWith('.')) p = p.slice(0, -1);
      const prompt = p + (question === 'effect' ? ' so ' : ' because ');
      examples.push({ source: `${basename(file)} line ${i + 1}`, prompt, candidates: [prompt + copaCandidate(choice1), prompt + copaCandidate(choice2)], label });
    });
  return examples;
}

export function loadTask(task: TaskName, file: string): ChoiceExample[] {
  const examples = task === 'sst2' ? loadSst2(file) : loadCopa(file);
  if (examples.length === 0) throw new TaskFileError(`${file}: no examples`);
  return examples;
}

export interface ChoiceScorer {
  encode(text: string): number[];
  /** log p(ids[t+1] | ids[..t]) for t = 0 .. n-2. */
  logprobs(ids: number[]): Promise<Float32Array | number[]>;
}

export interface ChoiceResult {
  predicted: number;
  label: number;
  scores: number[];
}

/** Scores one example: mean log-probability of each candidate's own tokens. */
export async function scoreExample(example: ChoiceExample, scorer: ChoiceScorer): Promise<ChoiceResult> {
  const promptLength = scorer.encode(example.prompt).length;
  const scores: number[] = [];
  for (const text of example.candidates) {
    const ids = scorer.encode(text);
    const optionLength = ids.length - promptLength;
    if (optionLength < 1) throw new Error(`${example.source}: a candidate adds no tokens to its prompt`);
    const lp = await scorer.logprobs(ids);
    let sum = 0;
    for (let t = ids.length - optionLength; t < ids.length; t++) sum += lp[t - 1]!;
    scores.push(sum / optionLength);
  }
  let predicted = 0;
  scores.forEach((s, i) => {
    if (s > scores[predicted]!) predicted = i;
  });
  return { predicted, label: example.label, scores };
}

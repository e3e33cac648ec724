// `tunesmith data ...` end to end (in-process, through runCli): every supported format imports
// with the right row count and a templated token view; list, show, export and rm do their jobs.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../main/cli/main.js';
import { tempHome } from '../../helpers/temp-home.js';
import { asset, haveAssets } from './assets.js';

const home = tempHome();
afterAll(() => home.cleanup());

async function tunesmith(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['--home', home.dir, ...args], { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

function file(name: string, content: string): string {
  const p = join(home.dir, name);
  writeFileSync(p, content);
  return p;
}

const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

// One small file per format; every one holds 3 distinct rows.
const files: Record<string, [string, string, string[]]> = {
  alpaca: ['alpaca.json', JSON.stringify([1, 2, 3].map((i) => ({ instruction: `Add ${i} and ${i}`, input: '', output: `${2 * i}` })), null, 2), []],
  sharegpt: ['sharegpt.jsonl', jsonl([1, 2, 3].map((i) => ({ conversations: [{ from: 'human', value: `hi ${i}` }, { from: 'gpt', value: `hello ${i}` }] }))), []],
  openai: [
    'openai.jsonl',
    jsonl([1, 2, 3].map((i) => ({ messages: [{ role: 'system', content: 'Be kind.' }, { role: 'user', content: `q${i}` }, { role: 'assistant', content: `a${i}` }] }))),
    [],
  ],
  'prompt-completion': ['pc.jsonl', jsonl([1, 2, 3].map((i) => ({ prompt: `p${i}`, completion: `c${i}` }))), []],
  text: ['text.jsonl', jsonl([1, 2, 3].map((i) => ({ text: `Once upon a time ${i}.` }))), []],
  csv: ['quoted.csv', '\uFEFFquestion,answer\r\n"Hello, who?","It\'s ""me"""\r\n"two\r\nlines",ok\r\nthree,3\r\n', []],
  tsv: ['labels.tsv', 'label\tsentence\n1\tgood film\n0\tbad film\n1\tfine film\n', []],
  txt: ['story.txt', 'First paragraph.\nStill first.\n\nSecond paragraph.\n\nThird.\n', ['--format', 'txt']],
};

describe('tunesmith data', () => {
  for (const [format, [name, content, extra]] of Object.entries(files)) {
    it(`imports ${format} (${name}) with 3 rows${haveAssets ? ' and a templated token view' : ''}`, async () => {
      const path = file(name, content);
      const model = haveAssets ? ['--model', asset('models/stories260K-hf')] : [];
      const r = await tunesmith('data', 'import', path, ...extra, ...model, '--json');
      expect(r.err, r.err).not.toMatch(/tunesmith:/);
      expect(r.code).toBe(0);
      const result = JSON.parse(r.out) as { dataset: { id: number; rowCount: number; format: string } };
      // .txt chunks paragraphs up to ~4000 characters: this small story is one example.
      expect(result.dataset.rowCount).toBe(format === 'txt' ? 1 : 3);
      const show = await tunesmith('data', 'show', String(result.dataset.id), '--rows', '1', '--json');
      const shown = JSON.parse(show.out) as { examples: unknown[]; templated: { ids: number[]; mask: number[] }[] };
      expect(shown.examples.length).toBe(1);
      if (haveAssets) {
        const view = shown.templated[0]!;
        expect(view.ids[0]).toBe(1); // BOS
        expect(view.ids[view.ids.length - 1]).toBe(2); // ends with EOS, so the model learns to stop
        expect(view.mask.length).toBe(view.ids.length);
        expect(view.mask[view.mask.length - 1]).toBe(1);
        expect(view.mask[0]).toBe(0);
      }
    });
  }

  it('txt import gathers paragraphs into chunks of about 4000 characters', async () => {
    const paragraphs = Array.from({ length: 30 }, (_, i) => `Paragraph ${i} `.repeat(40)).join('\n\n');
    const r = await tunesmith('data', 'import', file('long.txt', paragraphs), '--json');
    const { dataset } = JSON.parse(r.out) as { dataset: { rowCount: number } };
    // 30 paragraphs of ~520 characters, gathered into chunks of at least 4000 characters.
    expect(dataset.rowCount).toBe(4);
  });

  it('refuses a file with bad rows, saying which, and imports the valid ones with --keep-valid', async () => {
    const path = file('some-bad.jsonl', '{"prompt": "a", "completion": "b"}\n{"prompt": "c"}\n');
    const refused = await tunesmith('data', 'import', path);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain(`${path} line 2: missing field "completion"`);
    expect(refused.err).toContain('nothing was imported');
    const kept = await tunesmith('data', 'import', path, '--keep-valid');
    expect(kept.code).toBe(0);
    expect(kept.out).toMatch(/1 examples .*\nformat: prompt-completion in jsonl\nskipped 1 bad rows:\n.*line 2/);
  });

  it('shows the token view with trained tokens marked, and token statistics', async () => {
    if (!haveAssets) return;
    const r = await tunesmith('data', 'import', file('one.jsonl', jsonl([{ prompt: 'Hi', completion: 'Hello' }])), '--model', asset('models/stories260K-hf'));
    const id = /imported dataset (\d+)/.exec(r.out)![1]!;
    expect(r.out).toMatch(/tokens per example: min \d+/);
    const show = await tunesmith('data', 'show', id);
    expect(show.out).toMatch(/-- alpaca template: \d+ tokens, \d+ trained \(marked \^\)/);
    expect(show.out).toMatch(/"<\/s>"\^/);
  });

  it('lists, exports as JSONL and removes datasets', async () => {
    const path = file('export-me.jsonl', jsonl([{ prompt: 'x', completion: 'y' }, { prompt: 'z', completion: 'w' }]));
    const id = /imported dataset (\d+)/.exec((await tunesmith('data', 'import', path, '--name', 'exportable')).out)![1]!;
    expect((await tunesmith('data', 'list')).out).toMatch(new RegExp(`^\\s+${id}\\s+2\\s+.*exportable$`, 'm'));
    const out = join(home.dir, 'exported.jsonl');
    expect((await tunesmith('data', 'export', id, '--format', 'jsonl', '--out', out)).out).toBe(`wrote 2 rows to ${out}`);
    expect(readFileSync(out, 'utf8')).toBe(
      jsonl([
        { messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: 'y' }] },
        { messages: [{ role: 'user', content: 'z' }, { role: 'assistant', content: 'w' }] },
      ]),
    );
    expect((await tunesmith('data', 'export', id, '--format', 'csv')).code).toBe(2);
    expect((await tunesmith('data', 'rm', id)).out).toBe(`removed dataset ${id}`);
    const again = await tunesmith('data', 'show', id);
    expect(again.code).toBe(1);
    expect(again.err).toContain(`no dataset ${id}`);
  });
});

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCopa, loadSst2, loadTask, scoreExample, type ChoiceScorer } from '../../../main/eval/multiple-choice.js';
import { assetsDir, haveAssets } from '../../helpers/assets.js';
import { tempHome } from '../../helpers/temp-home.js';

const tmp = tempHome();
afterAll(() => tmp.cleanup());

describe.skipIf(!haveAssets)('task files from ../shared/assets', () => {
  it('reads SST-2 dev (sentence first) and train (label first, CRLF)', () => {
    const dev = loadSst2(join(assetsDir, 'data/sst2/glue_sst2_dev.tsv'));
    expect(dev).toHaveLength(872);
    expect(dev[0]).toEqual({
      source: 'glue_sst2_dev.tsv line 2',
      prompt: "it 's a charming and often affecting journey . It was",
      candidates: ["it 's a charming and often affecting journey . It was terrible", "it 's a charming and often affecting journey . It was great"],
      label: 1,
    });
    const train = loadSst2(join(assetsDir, 'data/sst2/glue_sst2_train_67349_label-first_crlf.tsv'));
    expect(train).toHaveLength(67_349);
    expect(train[0]!.prompt).toBe('hide new secretions from the parental units It was');
  });

  it('reads COPA as MeZO phrases it', () => {
    const val = loadTask('copa', join(assetsDir, 'data/superglue/COPA/val.jsonl'));
    expect(val).toHaveLength(100);
    expect(val[0]).toMatchObject({
      prompt: 'The man turned on the faucet so ',
      candidates: ['The man turned on the faucet so the toilet filled with water.', 'The man turned on the faucet so water flowed from the spout.'],
      label: 1,
    });
    const withI = val.find((e) => e.candidates.some((c) => / (so|because) I /.test(c)));
    expect(withI, 'a candidate starting with "I" keeps its capital').toBeDefined();
  });

  it('refuses unlabelled COPA test files', () => {
    expect(() => loadCopa(join(assetsDir, 'data/superglue/COPA/test.jsonl'))).toThrow(/line 1: field "label" must be 0 or 1/);
  });
});

describe('task file errors', () => {
  it('names the file and line', () => {
    const bad = join(tmp.dir, 'bad.tsv');
    writeFileSync(bad, 'sentence\tlabel\ngood movie\t1\nbad movie\tmaybe\n');
    expect(() => loadSst2(bad)).toThrow(/bad\.tsv line 3: expected a sentence and a label of 0 or 1/);
    const noHeader = join(tmp.dir, 'nohead.tsv');
    writeFileSync(noHeader, 'good movie\t1\n');
    expect(() => loadSst2(noHeader)).toThrow(/line 1: expected a header with "sentence" and "label"/);
  });
});

describe('scoreExample', () => {
  // Words are tokens; the model likes "great" (log p = -0.1) and dislikes everything else (-2).
  const scorer: ChoiceScorer = {
    encode: (text) => text.split(' ').map((w) => (w === 'great' ? 7 : w === 'terrible' ? 8 : 1)),
    logprobs: async (ids) => ids.slice(1).map((id) => (id === 7 ? -0.1 : -2)),
  };

  it('averages over the candidate tokens only and picks the best', async () => {
    const r = await scoreExample({ source: 't', prompt: 'a b It was', candidates: ['a b It was terrible', 'a b It was great'], label: 1 }, scorer);
    expect(r).toEqual({ predicted: 1, label: 1, scores: [-2, -0.1] });
  });

  it('uses the mean, not the sum, so longer answers are not penalised for length', async () => {
    const r = await scoreExample({ source: 't', prompt: 'x', candidates: ['x great great great', 'x terrible'], label: 0 }, scorer);
    expect(r.scores[0]).toBeCloseTo(-0.1, 12);
    expect(r.scores[1]).toBe(-2);
    expect(r.predicted).toBe(0);
  });
});

// The wizard's API methods through the real dispatcher, database, import worker and trainer
// processes: what each returns, and that bad input is answered with an error naming the file or field.
import { mkdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiEvent } from '../../../main/api/contract.js';
import { dispatch } from '../../../main/api/dispatch.js';
import { createAppContext, type AppContext } from '../../../main/app-context.js';
import { trainerEntry } from '../../../main/paths.js';
import { forkLauncher } from '../../../main/trainer/launcher.js';
import { haveAssets, stories260K } from '../../helpers/assets.js';
import { smallGqaConfig, writeRandomModel } from '../../helpers/random-model.js';
import { editSafetensorsHeader } from '../../helpers/safetensors.js';
import { tempHome } from '../../helpers/temp-home.js';

describe.skipIf(!haveAssets)('wizard API methods', () => {
  const home = tempHome();
  let ctx: AppContext;
  const events: ApiEvent[] = [];
  const call = async (method: string, params: unknown) => dispatch(ctx.handlers, 1, method, params);
  const good = join(home.dir, 'good.jsonl');
  const mixed = join(home.dir, 'mixed.jsonl');
  let goodId = 0;

  beforeAll(() => {
    ctx = createAppContext({ home: join(home.dir, 'home'), mode: 'cli', launchTrainer: forkLauncher(trainerEntry()) });
    ctx.hub.subscribe((e) => events.push(e));
    const rows = Array.from({ length: 20 }, (_, i) => JSON.stringify({ instruction: `Story ${i}?`, input: '', output: `Lily had ${i} red balls.` }));
    writeFileSync(good, rows.join('\n') + '\n');
    writeFileSync(mixed, [rows[0], '{"instruction": "no output"}', rows[1], 'not json'].join('\n') + '\n');
  });
  afterAll(() => {
    ctx.close();
    home.cleanup();
  });

  it('models.inspect: facts of a real folder, and errors that name the file and what was expected', async () => {
    const r = await call('models.inspect', { path: stories260K });
    expect(r.ok).toBe(true);
    const model = (r as { result: { model: { parameters: { total: number }; chatTemplate: { own: boolean; used: string }; dtype: string } } }).result.model;
    expect(model.parameters.total).toBe(260_032);
    expect(model.chatTemplate).toMatchObject({ own: false, used: 'alpaca' });
    expect(model.dtype).toBe('float32');

    const empty = join(home.dir, 'empty-model');
    mkdirSync(empty);
    expect(await call('models.inspect', { path: empty })).toMatchObject({ ok: false, error: { code: 'bad_request', message: expect.stringMatching(/empty-model\/config\.json is missing: is this a Hugging Face model folder\?/) } });
    writeFileSync(join(empty, 'config.json'), JSON.stringify({ model_type: 'gpt2' }));
    expect(await call('models.inspect', { path: empty })).toMatchObject({ ok: false, error: { message: expect.stringMatching(/config\.json: unsupported architecture model_type "gpt2"/) } });
    writeFileSync(join(empty, 'config.json'), JSON.stringify({ model_type: 'llama', hidden_size: 8, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 2, vocab_size: 16 }));
    expect(await call('models.inspect', { path: empty })).toMatchObject({ ok: false, error: { message: expect.stringMatching(/tokenizer\.json is missing/) } });
    expect(await call('models.inspect', {})).toMatchObject({ ok: false, error: { code: 'bad_request', message: expect.stringContaining('params.path') } });

    const recent = await call('models.recent', {});
    expect((recent as { result: { models: { path: string }[] } }).result.models[0]!.path).toBe(stories260K);
  });

  it('models.inspect refuses what loading would refuse, by running the engine\'s checks', async () => {
    const message = async (path: string) => ((await call('models.inspect', { path })) as { error?: { message: string } }).error?.message;
    const weights = (dir: string) => join(dir, 'model.safetensors');
    const model = (name: string, config: Record<string, unknown> = smallGqaConfig) => writeRandomModel(join(home.dir, name), config);

    // transformers 5's layout: RoPE under rope_parameters, the dtype under dtype.
    const { rope_theta: _theta, torch_dtype: _dtype, ...older } = smallGqaConfig;
    const v5 = await model('v5', { ...older, dtype: 'bfloat16', rope_parameters: { rope_type: 'default', rope_theta: 1e6 } });
    expect(await call('models.inspect', { path: v5 })).toMatchObject({ ok: true, result: { model: { dtype: 'bfloat16' } } });

    const truncated = await model('truncated');
    truncateSync(weights(truncated), statSync(weights(truncated)).size - 64);
    expect(await message(truncated)).toMatch(/model\.safetensors.*lie outside the file/);

    const overlapping = await model('overlapping');
    editSafetensorsHeader(weights(overlapping), (h) => {
      h['model.norm.weight']!.data_offsets = h['model.layers.0.input_layernorm.weight']!.data_offsets;
    });
    expect(await message(overlapping)).toMatch(/the data of tensors .* overlap/);

    const reshaped = await model('reshaped');
    writeFileSync(join(reshaped, 'config.json'), JSON.stringify({ ...smallGqaConfig, intermediate_size: 64 }));
    expect(await message(reshaped)).toMatch(/shape mismatch for tensor 'model\.layers\.0\.mlp\.gate_proj\.weight'.*expected \[64, 48\], found \[96, 48\]/);

    const oddDtype = await model('odd-dtype');
    editSafetensorsHeader(weights(oddDtype), (h) => {
      h['lm_head.weight']!.dtype = 'U32';
    });
    expect(await message(oddDtype)).toMatch(/unsupported dtype 'U32' for tensor 'lm_head\.weight'/);
  });

  it('data.import: rejects a file with bad rows with its report, imports the valid rows on request, off the main thread', async () => {
    const rejected = await call('data.import', { file: mixed });
    expect(rejected).toMatchObject({ ok: true, result: { outcome: 'rejected', report: { rowsRead: 4, validRows: 2, invalidRows: 2 } } });
    const lines = (rejected as { result: { report: { issues: { line: number }[] } } }).result.report.issues.map((i) => i.line);
    expect(lines).toEqual([2, 4]);
    expect((await call('datasets.list', {}) as { result: { datasets: unknown[] } }).result.datasets).toHaveLength(0);

    const kept = await call('data.import', { file: mixed, keepValidRows: true });
    expect(kept).toMatchObject({ ok: true, result: { outcome: 'imported', dataset: { rowCount: 2, skippedInvalid: 2 } } });

    const imported = await call('data.import', { file: good, model: stories260K, valFraction: 0.25 });
    expect(imported).toMatchObject({ ok: true, result: { outcome: 'imported', dataset: { trainCount: 15, valCount: 5 } } });
    goodId = (imported as { result: { dataset: { id: number } } }).result.dataset.id;
    expect(events.some((e) => e.type === 'data.import.progress' && e.file === good && e.bytesRead === e.totalBytes)).toBe(true);
    expect(await call('data.import', { file: join(home.dir, 'missing.jsonl') })).toMatchObject({ ok: false, error: { message: expect.stringMatching(/missing\.jsonl does not exist/) } });
    expect(await call('data.import', { file: good, valFraction: 2 })).toMatchObject({ ok: false, error: { message: expect.stringContaining('params.valFraction') } });
  });

  it('datasets.inspect: the token view marks the response and EOS as targets, the prompt as masked', async () => {
    const r = await call('datasets.inspect', { id: goodId, model: stories260K, limit: 1 });
    expect(r.ok).toBe(true);
    const { examples, stats, template } = (r as { result: { examples: { tokens: { text: string; target: boolean; special: boolean }[] }[]; stats: { count: number }; template: string } }).result;
    expect(template).toBe('alpaca');
    expect(stats.count).toBe(20);
    const tokens = examples[0]!.tokens;
    expect(tokens.filter((t) => t.target).map((t) => t.text).join('')).toBe('Lily had 0 red balls.</s>');
    expect(tokens.filter((t) => !t.target && !t.special).map((t) => t.text).join('')).toBe('### Instruction:\nStory 0?\n\n### Response:\n');
  });

  it('chat.generate streams chat.text events and answers with the whole text; score.text scores', async () => {
    const r = await call('chat.generate', { streamId: 's1', model: stories260K, message: 'Tell me a story.', maxTokens: 12 });
    expect(r.ok).toBe(true);
    const result = (r as { result: { text: string; prompt: string } }).result;
    expect(result.prompt).toBe('### Instruction:\nTell me a story.\n\n### Response:\n');
    const streamed = events.filter((e): e is Extract<ApiEvent, { type: 'chat.text' }> => e.type === 'chat.text' && e.streamId === 's1').map((e) => e.text).join('');
    expect(streamed).toBe(result.text);
    expect(result.text.length).toBeGreaterThan(0);
    const s = await call('score.text', { model: stories260K, text: 'Once upon a time, there was a little girl.' });
    expect((s as { result: { perplexity: number } }).result.perplexity).toBeLessThan(5);
    expect(await call('chat.generate', { streamId: 's2', model: stories260K, message: '' })).toMatchObject({ ok: false, error: { message: expect.stringContaining('params.message: the message is empty') } });
  });

  it('an evaluate job computes the held-out loss of the validation split as a recorded run', async () => {
    const r = await call('jobs.start', { spec: { kind: 'evaluate', model: stories260K, datasetId: goodId } });
    expect(r.ok).toBe(true);
    const run = await ctx.jobs.settled((r as { result: { run: { id: number } } }).result.run.id);
    expect(run.state, run.error ?? '').toBe('succeeded');
    const result = run.result as { examples: number; tokens: number; meanNll: number; perplexity: number };
    expect(result.examples).toBe(5);
    expect(result.tokens).toBeGreaterThan(20);
    expect(result.perplexity).toBeCloseTo(Math.exp(result.meanNll), 8);
  });
});

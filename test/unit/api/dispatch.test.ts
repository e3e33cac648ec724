import { describe, expect, it } from 'vitest';
import { ApiError, methods, UserJobSpecSchema } from '../../../main/api/contract.js';
import { dispatch, type Handlers } from '../../../main/api/dispatch.js';

function handlersWith(overrides: Partial<Handlers>): Handlers {
  const fail = async () => {
    throw new Error('not expected in this test');
  };
  return { 'system.info': fail, 'runs.list': fail, 'runs.get': fail, 'jobs.start': fail, 'jobs.cancel': fail, ...overrides } as Handlers;
}

describe('dispatch', () => {
  it('fills defaults before calling the handler', async () => {
    let seen: unknown;
    const reply = await dispatch(
      handlersWith({ 'runs.list': async (p) => ((seen = p), { runs: [] }) }),
      7,
      'runs.list',
      undefined,
    );
    expect(reply).toEqual({ id: 7, ok: true, result: { runs: [] } });
    expect(seen).toEqual({ limit: 100 });
  });

  it('names the bad field and what was expected', async () => {
    const reply = await dispatch(handlersWith({}), 1, 'jobs.start', { spec: { kind: 'selftest', rounds: 'many' } });
    expect(reply.ok).toBe(false);
    if (reply.ok) return;
    expect(reply.error.code).toBe('bad_request');
    expect(reply.error.message).toContain('params.spec.rounds');
    expect(reply.error.message).toMatch(/expected number/);
  });

  it('refuses unknown methods and lists the known ones', async () => {
    const reply = await dispatch(handlersWith({}), 2, 'system.reboot', {});
    expect(reply).toMatchObject({ ok: false, error: { code: 'unknown_method' } });
    if (!reply.ok) expect(reply.error.message).toContain('system.info');
  });

  it('passes ApiError codes through and hides nothing of other errors', async () => {
    const notFound = await dispatch(handlersWith({ 'runs.get': async () => { throw new ApiError('not_found', 'no run with id 9'); } }), 3, 'runs.get', { id: 9 });
    expect(notFound).toEqual({ id: 3, ok: false, error: { code: 'not_found', message: 'no run with id 9' } });
    const crash = await dispatch(handlersWith({ 'runs.get': async () => { throw new Error('disk on fire'); } }), 4, 'runs.get', { id: 9 });
    expect(crash).toEqual({ id: 4, ok: false, error: { code: 'internal', message: 'disk on fire' } });
  });

  it('does not let internal job kinds be started by a user', () => {
    expect(UserJobSpecSchema.safeParse({ kind: 'system' }).success).toBe(false);
    expect(UserJobSpecSchema.parse({ kind: 'selftest' })).toEqual({ kind: 'selftest', rounds: 8, size: 256 });
    expect(Object.keys(methods)).toContain('jobs.start');
  });
});

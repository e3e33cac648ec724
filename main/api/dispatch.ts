// Turns an untrusted request envelope into a validated handler call and a reply envelope. Every
// transport (Electron IPC, WebSocket, HTTP POST) goes through here, so validation and error shape
// are the same everywhere.
import { z } from 'zod';
import { ApiError, isMethodName, methods, type ApiReply, type MethodName, type ParsedParams, type Result } from './contract.js';

export type Handlers = { [M in MethodName]: (params: ParsedParams<M>) => Promise<Result<M>> };

export async function dispatch(handlers: Handlers, id: number, method: string, params: unknown): Promise<ApiReply> {
  if (!isMethodName(method)) {
    return { id, ok: false, error: { code: 'unknown_method', message: `unknown method "${method}"; known: ${Object.keys(methods).join(', ')}` } };
  }
  const parsed = methods[method].params.safeParse(params ?? {});
  if (!parsed.success) {
    return { id, ok: false, error: { code: 'bad_request', message: `${method}: ${describeIssues(parsed.error)}` } };
  }
  try {
    const handler = handlers[method] as (p: unknown) => Promise<unknown>;
    return { id, ok: true, result: await handler(parsed.data) };
  } catch (err) {
    if (err instanceof ApiError) return { id, ok: false, error: { code: err.code, message: err.message } };
    return { id, ok: false, error: { code: 'internal', message: err instanceof Error ? err.message : String(err) } };
  }
}

/** "params.spec.rounds: expected number, received string" — names the field, says what was expected. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length ? `params.${issue.path.join('.')}` : 'params'}: ${issue.message}`)
    .join('; ');
}

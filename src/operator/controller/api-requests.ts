import { ApiException } from '@kubernetes/client-node';
import type { OperatorMetrics } from '../metrics/operator-metrics.ts';

/**
 * Runs one API request, counting it by method and code in
 * rest_client_requests_total; `tolerated` codes (NotFound, AlreadyExists)
 * are not errors.
 */
export async function tracked(
  metrics: OperatorMetrics,
  method: string,
  request: () => Promise<unknown>,
  tolerated: number[],
): Promise<void> {
  try {
    await request();
    metrics.request(method, method === 'POST' ? 201 : 200);
  } catch (err) {
    const code = err instanceof ApiException ? err.code : 0;
    metrics.request(method, code);
    if (!tolerated.includes(code)) throw err;
  }
}

/** The Kubernetes Status in an ApiException's body (a JSON string, or already parsed), if it is one. */
export function apiStatus(err: ApiException<unknown>): { reason?: string; message?: string } {
  if (typeof err.body === 'object' && err.body) return err.body as { reason?: string; message?: string };
  try {
    return JSON.parse(String(err.body)) as { reason?: string; message?: string };
  } catch {
    return {};
  }
}

/** The message of a Kubernetes Status in an ApiException's body. */
export const apiMessage = (err: ApiException<unknown>): string => apiStatus(err).message ?? `HTTP ${err.code}`;

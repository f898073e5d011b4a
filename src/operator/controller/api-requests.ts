import { ApiException } from '@kubernetes/client-node';
import type { OperatorMetrics } from '../metrics/operator-metrics.ts';

/**
 * Runs one API request, counting it by method and code in
 * rest_client_requests_total; `tolerated` codes (NotFound, AlreadyExists)
 * are not errors.
 */
export async function tracked(metrics: OperatorMetrics, method: string, request: () => Promise<unknown>, tolerated: number[]): Promise<void> {
  try {
    await request();
    metrics.request(method, method === 'POST' ? 201 : 200);
  } catch (err) {
    const code = err instanceof ApiException ? err.code : 0;
    metrics.request(method, code);
    if (!tolerated.includes(code)) throw err;
  }
}

/** The message of a Kubernetes Status in an ApiException's body. */
export function apiMessage(err: ApiException<unknown>): string {
  try {
    return (JSON.parse(String(err.body)) as { message?: string }).message ?? `HTTP ${err.code}`;
  } catch {
    return `HTTP ${err.code}`;
  }
}

// bench:serve's load generator, in a worker thread of its own so that the clients' HTTP work does not
// share the predictor's event loop (as real clients on other machines would not). For each message
// { url, body, headers, clients, seconds }: that many clients POST `body` (GET, without one) in a loop, each
// on a kept-alive connection of its own (node:http: fetch costs the clients about twice as much CPU, which
// this 2-core machine takes from the predictor); posts back the latencies.
import { Agent, request } from 'node:http';
import { parentPort } from 'node:worker_threads';

interface Load {
  url: string;
  body?: Uint8Array;
  headers?: Record<string, string>;
  clients: number;
  seconds: number;
}

/** One request; resolves when the whole answer is in. */
function send(agent: Agent, url: string, body: Uint8Array | undefined, headers: Record<string, string>): Promise<void> {
  const method = body ? 'POST' : 'GET';
  const length = body ? { 'content-length': String(body.length) } : {};
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent, headers: { ...headers, ...length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        res.statusCode === 200
          ? resolve()
          : reject(new Error(`HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString('utf8')}`)),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

parentPort!.on('message', async ({ url, body, headers, clients, seconds }: Load) => {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const latencies: number[] = [];
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < until) {
        const started = performance.now();
        await send(agent, url, body, headers ?? {});
        latencies.push(performance.now() - started);
      }
    }),
  );
  agent.destroy();
  parentPort!.postMessage(latencies);
});

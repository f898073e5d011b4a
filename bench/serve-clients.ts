// bench:serve's load generator, in a worker thread of its own so that the clients' HTTP work does not
// share the predictor's event loop (as real clients on other machines would not). For each message
// { url, body, headers, clients, seconds }: that many clients POST `body` in a loop; posts back the latencies.
import { parentPort } from 'node:worker_threads';

interface Load {
  url: string;
  body: Uint8Array;
  headers: Record<string, string>;
  clients: number;
  seconds: number;
}

parentPort!.on('message', async ({ url, body, headers, clients, seconds }: Load) => {
  const latencies: number[] = [];
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < until) {
        const started = performance.now();
        const response = await fetch(url, { method: 'POST', body, headers });
        if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
        await response.arrayBuffer();
        latencies.push(performance.now() - started);
      }
    }),
  );
  parentPort!.postMessage(latencies);
});

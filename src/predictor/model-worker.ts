// The predictor's model thread (started by model-thread.ts): tfjs, its backend and the networks served,
// answering ModelRequests in order of arrival.
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../trainer/backend/select-backend.ts';
import { ModelNetwork } from './model-network.ts';
import type { ModelReply, ModelRequest } from './model-thread.ts';

const port = parentPort!;
const networks = new Map<number, ModelNetwork>();
let nextNetwork = 1;

async function answer(request: ModelRequest): Promise<unknown> {
  switch (request.op) {
    case 'load': {
      const network = await ModelNetwork.load(request.folder, request.metadata, request.cacheDir);
      networks.set(nextNetwork, network);
      return nextNetwork++;
    }
    case 'predict': {
      const network = networks.get(request.network);
      if (!network) throw new Error(`network ${request.network} is not loaded (disposed?)`);
      return network.predict(request.pixels, request.ready);
    }
    case 'dispose':
      networks.get(request.network)?.dispose();
      networks.delete(request.network);
      return undefined;
  }
}

const reply = (message: ModelReply) => port.postMessage(message);
const failure = (id: number, err: unknown) => reply({ id, error: err instanceof Error ? err.message : String(err) });

try {
  const backend = await selectBackend({
    requireGpu: false,
    ...(workerData?.backend ? { only: workerData.backend } : {}),
  });
  port.on('message', (request: ModelRequest) => {
    const started = performance.now();
    answer(request).then(
      (value) =>
        reply({
          id: request.id,
          value,
          ...(request.op === 'predict' ? { seconds: (performance.now() - started) / 1000 } : {}),
          memoryBytes: tf.memory().numBytes,
        }),
      (err: unknown) => failure(request.id, err),
    );
  });
  reply({ id: 0, value: { name: backend.name, source: backend.source } });
} catch (err) {
  failure(0, err);
}

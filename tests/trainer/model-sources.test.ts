import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { PermanentError } from '../../src/trainer/errors.ts';
import { fetchModel } from '../../src/trainer/model/fetch-model.ts';
import { fileSystemModel } from '../../src/trainer/model/file-io-handler.ts';
import { pretrainedBase, useWasm, workspace } from './support/workspace.ts';

describe('models over http(s)', () => {
  before(async () => { await useWasm(); await pretrainedBase(); });

  it('downloads model.json and its weights once into the cache, then loads them; a 404 names the URL', async (t) => {
    const ws = await workspace(t, 1);
    const served = dirname(ws.base);
    const requests: string[] = [];
    const server = createServer((req, res) => {
      requests.push(req.url!);
      readFile(join(served, req.url!.replace(/^\/models\//, ''))).then(
        (body) => res.writeHead(200).end(body),
        () => res.writeHead(404).end(),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => server.close());
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/models`;

    const path = await fetchModel(`${base}/model.json`, { cacheDir: ws.dir });
    assert.deepEqual(requests, ['/models/model.json', '/models/weights.bin']);
    const model = await tf.loadLayersModel(fileSystemModel(path));
    assert.deepEqual(model.inputs[0]!.shape, [null, 28, 28, 1]);
    await fetchModel(`${base}/model.json`, { cacheDir: ws.dir });
    assert.equal(requests.length, 2, 'the second fetch comes from the cache');

    await assert.rejects(fetchModel(`${base}/missing/model.json`, { cacheDir: ws.dir, retries: 1 }),
      (err: Error) => err instanceof PermanentError && err.message.includes(`${base}/missing/model.json`) && err.message.includes('HTTP 404'));
    assert.equal(requests.filter((r) => r.includes('missing')).length, 1, 'a 404 is not retried');
  });
});

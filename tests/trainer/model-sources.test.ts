import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { PermanentError } from '../../src/trainer/errors.ts';
import { localModelFiles } from '../../src/trainer/model/model-files.ts';
import { HttpStore } from '../../src/trainer/storage/http-store.ts';
import { fileSystemModel } from '../../src/trainer/model/file-io-handler.ts';
import { pretrainedBase, useWasm, workspace } from './support/workspace.ts';

describe('models over http(s)', () => {
  before(async () => {
    await useWasm();
    await pretrainedBase();
  });

  it('downloads model.json and its weights once into the cache, then loads them; a 404 names the URL', async (t) => {
    const ws = await workspace(t, 1);
    const served = dirname(ws.base);
    const requests: string[] = [];
    const server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url!}`);
      readFile(join(served, req.url!.replace(/^\/models\//, ''))).then(
        (body) =>
          res
            .writeHead(200, {
              etag: `"${createHash('md5').update(body).digest('hex')}"`,
              'content-length': body.length,
            })
            .end(body),
        () => res.writeHead(404).end(),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => server.close());
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/models`;

    const gets = () => requests.filter((r) => r.startsWith('GET '));
    const path = await localModelFiles(new HttpStore(`${base}/model.json`), ws.dir);
    assert.deepEqual(gets(), ['GET /models/model.json', 'GET /models/weights.bin']);
    const model = await tf.loadLayersModel(fileSystemModel(path));
    assert.deepEqual(model.inputs[0]!.shape, [null, 28, 28, 1]);
    await localModelFiles(new HttpStore(`${base}/model.json`), ws.dir);
    assert.equal(
      gets().length,
      2,
      'the second load comes from the cache: its ETags are checked (HEAD), nothing is downloaded',
    );

    await assert.rejects(
      localModelFiles(new HttpStore(`${base}/missing/model.json`), ws.dir),
      (err: Error) =>
        err instanceof PermanentError &&
        err.message.includes(`${base}/missing/model.json`) &&
        err.message.includes('does not exist'),
    );
    assert.equal(requests.filter((r) => r.includes('missing')).length, 1, 'a 404 is not retried');
    await assert.rejects(
      localModelFiles(new HttpStore(`${base}/`), ws.dir),
      /names a folder or prefix, not a model: point it at the model's model\.json/,
    );
  });
});

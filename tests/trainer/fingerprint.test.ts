import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { datasetFingerprint } from '../../src/trainer/data/fingerprint.ts';
import { minimalSpec, validSpec } from '../api/spec-fixtures.ts';

describe('the dataset fingerprint (skipIfUnchanged)', () => {
  it('stays the same while nothing changes, and changes when a file is added, grows or is touched', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ftj-fingerprint-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await mkdir(join(dir, 'cat'));
    await writeFile(join(dir, 'cat', 'a.png'), 'aaaa');
    const spec = validSpec({ ...minimalSpec(), dataset: { uri: `file://${dir}`, format: 'ImageFolder' } });
    const first = await datasetFingerprint(spec);
    assert.match(first, /^sha256:[0-9a-f]{64}$/);
    assert.equal(await datasetFingerprint(spec), first, 'the same data, the same fingerprint');

    await writeFile(join(dir, 'cat', 'b.png'), 'bbbb');
    const added = await datasetFingerprint(spec);
    assert.notEqual(added, first, 'a file added');
    await writeFile(join(dir, 'cat', 'b.png'), 'bbbbbb');
    const grown = await datasetFingerprint(spec);
    assert.notEqual(grown, added, 'a file rewritten with another size');
    await utimes(join(dir, 'cat', 'b.png'), new Date('2020-01-01'), new Date('2020-01-01'));
    assert.notEqual(await datasetFingerprint(spec), grown, 'a file with another modification time');
  });

  it('names a missing dataset', async () => {
    const spec = validSpec({ ...minimalSpec(), dataset: { uri: 'file:///no/such/data', format: 'ImageFolder' } });
    await assert.rejects(datasetFingerprint(spec), /spec\.dataset: \/no\/such\/data does not exist/);
  });
});

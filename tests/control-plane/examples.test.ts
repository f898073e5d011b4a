import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { installCRDs, kubectl, testNamespace } from '../support/cluster.ts';
import { EXAMPLES_DIR, exampleManifests } from '../support/manifests.ts';

describe('kubectl apply -f examples/', () => {
  before(installCRDs);

  for (const mode of [['client-side'], ['server-side', '--server-side']]) {
    it(`applies every example ${mode[0]}, twice (the second time unchanged)`, async (t) => {
      const namespace = await testNamespace(t, 'examples');
      const args = ['apply', '-n', namespace, ...mode.slice(1), '-f', EXAMPLES_DIR];
      const first = await kubectl(args);
      assert.equal(first.code, 0, first.stderr);
      for (const { manifest } of exampleManifests()) {
        assert.match(
          first.stdout,
          new RegExp(
            `${manifest.kind.toLowerCase()}\\.finetune\\.dev/${manifest.metadata.name} (created|serverside-applied)`,
          ),
        );
      }
      const again = await kubectl(args);
      assert.equal(again.code, 0, again.stderr);
      if (mode[0] === 'client-side') assert.doesNotMatch(again.stdout, /configured|created/);
      const listed = await kubectl(['get', 'finetune', '-n', namespace, '-o', 'name']);
      assert.equal(listed.stdout.trim().split('\n').length, exampleManifests().length);
    });
  }
});

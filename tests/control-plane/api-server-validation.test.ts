import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ApiException, CustomObjectsApi } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { FINETUNEJOB, GROUP, VERSION } from '../../src/api/v1alpha1/index.ts';
import { installCRDs, kubeConfig, kubectl, testNamespace } from '../support/cluster.ts';
import { invalidFineTuneJobs } from '../support/manifests.ts';

/** The API server's answer to creating the object: undefined when accepted, else its message. */
async function apiServerRejection(namespace: string, body: object): Promise<string | undefined> {
  const api = kubeConfig().makeApiClient(CustomObjectsApi);
  try {
    await api.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: FINETUNEJOB.plural,
      body,
    });
    return undefined;
  } catch (err) {
    if (err instanceof ApiException && err.code === 422) return String(err.body);
    throw err;
  }
}

describe('invalid FineTuneJobs are refused with the field named', () => {
  before(installCRDs);
  const manifests = invalidFineTuneJobs();

  it('has a corpus of at least 30', () => assert.ok(manifests.length >= 30, `${manifests.length}`));

  for (const manifest of manifests) {
    const annotations = manifest.metadata.annotations!;
    const by = annotations['test.finetune.dev/rejected-by'];
    const field = annotations['test.finetune.dev/field']!;
    it(`${manifest.metadata.name}: rejected by ${by}, naming ${field}`, async (t) => {
      const namespace = await testNamespace(t, 'invalid');
      if (by === 'apiserver') {
        const message = await apiServerRejection(namespace, manifest);
        assert.ok(message, 'the API server accepted it');
        // The 1.20 schema validator names list items without their index (spec.stages.name).
        assert.ok(
          message.includes(field) || message.includes(field.replace(/\[\d+\]/g, '')),
          `message does not name ${field}: ${message}`,
        );
      } else if (by === 'kubectl') {
        const result = await kubectl(['apply', '--dry-run=server', '-n', namespace, '-f', '-'], stringify(manifest));
        assert.notEqual(result.code, 0, 'kubectl accepted it');
        assert.match(result.stderr, new RegExp(`unknown field "${field}"`));
      } else {
        // Cross-field rules live in the shared refinement; the schema alone lets them through.
        assert.equal(await apiServerRejection(namespace, manifest), undefined);
      }
    });
  }
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Lease } from '@kubernetes/client-node';
import { scopeConflict, scopeMetadata } from '../../src/operator/runtime/operator-scope.ts';

const NOW = new Date('2026-12-06T12:00:00Z');
const lease = (
  namespace: string,
  namespaces: string[],
  created: string,
  renewedSecondsAgo = 1,
  holder = `${namespace}-pod`,
): V1Lease => ({
  metadata: {
    namespace,
    name: 'finetune-operator',
    creationTimestamp: new Date(created),
    ...scopeMetadata(namespaces),
  },
  spec: {
    holderIdentity: holder,
    leaseDurationSeconds: 15,
    renewTime: new Date(NOW.getTime() - renewedSecondsAgo * 1000) as never,
  },
});
const own = (namespace: string) => ({ namespace, name: 'finetune-operator' });

describe('one operator per namespace: when an operator stands by', () => {
  const older = lease('ops-a', [], '2026-12-01T00:00:00Z');
  const younger = lease('ops-b', ['team'], '2026-12-05T00:00:00Z');

  it('stands by for an older live operator whose namespaces overlap its own, naming it', () => {
    const conflict = scopeConflict(own('ops-b'), ['team'], [older, younger], NOW);
    assert.match(
      conflict ?? '',
      /Lease ops-a\/finetune-operator \(held by ops-a-pod\) already reconciles all namespaces, which overlaps this one's \(namespaces team\)/,
    );
  });

  it('the older one goes on reconciling', () => {
    assert.equal(scopeConflict(own('ops-a'), [], [older, younger], NOW), undefined);
  });

  it('disjoint namespaces coexist; one shared namespace is an overlap', () => {
    const a = lease('ops-a', ['team-a', 'shared'], '2026-12-01T00:00:00Z');
    assert.equal(
      scopeConflict(own('ops-b'), ['team-b'], [a, lease('ops-b', ['team-b'], '2026-12-05T00:00:00Z')], NOW),
      undefined,
    );
    assert.ok(
      scopeConflict(
        own('ops-b'),
        ['team-b', 'shared'],
        [a, lease('ops-b', ['team-b', 'shared'], '2026-12-05T00:00:00Z')],
        NOW,
      ),
    );
  });

  it('an expired or released lease (its operator is gone) does not count', () => {
    assert.equal(
      scopeConflict(own('ops-b'), ['team'], [lease('ops-a', [], '2026-12-01T00:00:00Z', 60), younger], NOW),
      undefined,
    );
    assert.equal(
      scopeConflict(own('ops-b'), ['team'], [lease('ops-a', [], '2026-12-01T00:00:00Z', 1, ''), younger], NOW),
      undefined,
    );
  });

  it('an operator whose own lease is not written yet is the younger one', () => {
    assert.ok(scopeConflict(own('ops-b'), ['team'], [older], NOW));
  });

  it('two leases of the same second: the namespace/name that sorts first wins, on both sides', () => {
    const [x, y] = [lease('ops-x', [], '2026-12-01T00:00:00Z'), lease('ops-y', [], '2026-12-01T00:00:00Z')];
    assert.equal(scopeConflict(own('ops-x'), [], [x, y], NOW), undefined);
    assert.ok(scopeConflict(own('ops-y'), [], [x, y], NOW));
  });
});

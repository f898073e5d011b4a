// Pod Security for trainer pods. v1.20 predates Pod Security Admission, so this control plane of the file's
// own enforces its predecessor instead: the PodSecurityPolicy admission plugin with one policy, the rules
// of the Pod Security Standards' restricted profile (no privileged container, no privilege escalation,
// ALL capabilities dropped, non-root, the RuntimeDefault seccomp profile, only the volume types restricted
// allows). The namespace also carries the label Pod Security Admission reads
// (pod-security.kubernetes.io/enforce: restricted), as on a newer cluster. The operator's default trainer
// pod is admitted; a job whose podTemplate asks for a privileged container or a hostPath volume is
// refused by the API server, and the job's status says why.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { API_VERSION, FINETUNEJOB, type FineTuneJobStatus, GROUP, VERSION } from '../../src/api/v1alpha1/index.ts';
import { ControlPlane, installCRDs, runKubectl } from '../../src/local/control-plane/index.ts';
import { OperatorManager } from '../../src/operator/runtime/operator-manager.ts';
import { minimalSpec } from '../api/spec-fixtures.ts';
import { eventually } from '../support/cluster.ts';

const NAMESPACE = 'restricted-team';
const controlPlane = new ControlPlane({
  log: () => undefined,
  apiServerFlags: ['--enable-admission-plugins=PodSecurityPolicy'],
});

/** The restricted profile of the Pod Security Standards, as a PodSecurityPolicy (Kubernetes' own example). */
const RESTRICTED = `
apiVersion: policy/v1beta1
kind: PodSecurityPolicy
metadata:
  name: restricted
  annotations:
    seccomp.security.alpha.kubernetes.io/allowedProfileNames: runtime/default
spec:
  privileged: false
  allowPrivilegeEscalation: false
  requiredDropCapabilities: [ALL]
  volumes: [configMap, emptyDir, projected, secret, downwardAPI, csi, persistentVolumeClaim, ephemeral]
  hostNetwork: false
  hostIPC: false
  hostPID: false
  runAsUser: { rule: MustRunAsNonRoot }
  seLinux: { rule: RunAsAny }
  supplementalGroups: { rule: MayRunAs, ranges: [{ min: 1, max: 65535 }] }
  fsGroup: { rule: MayRunAs, ranges: [{ min: 1, max: 65535 }] }
---
apiVersion: v1
kind: Namespace
metadata:
  name: ${NAMESPACE}
  labels:
    pod-security.kubernetes.io/enforce: restricted
`;

describe('Pod Security: trainer pods under the restricted profile', () => {
  let kc: KubeConfig;
  let operator: OperatorManager;
  before(async () => {
    await controlPlane.start();
    const { kubectl } = controlPlane.binaries;
    await installCRDs(kubectl, controlPlane.kubeconfigPath);
    const applied = await runKubectl(kubectl, controlPlane.kubeconfigPath, ['apply', '-f', '-'], RESTRICTED);
    assert.equal(applied.code, 0, applied.stderr);
    kc = new KubeConfig();
    kc.loadFromFile(controlPlane.kubeconfigPath);
    operator = new OperatorManager({
      kubeConfig: kc,
      namespaces: [NAMESPACE],
      workers: 2,
      port: 0,
      log: () => undefined,
      settings: { trainerImage: 'finetune/trainer:test', trainerServiceAccount: 'default', retryBaseSeconds: 1 },
    });
    void operator.start();
  });
  after(async () => {
    await operator?.stop();
    await controlPlane.stop();
  });

  it('admits the default trainer pod; refuses a privileged container or a hostPath volume, and the job says why', async () => {
    const custom = kc.makeApiClient(CustomObjectsApi);
    const core = kc.makeApiClient(CoreV1Api);
    const ref = { group: GROUP, version: VERSION, namespace: NAMESPACE, plural: FINETUNEJOB.plural };
    const create = (name: string, podTemplate?: Record<string, unknown>) =>
      custom.createNamespacedCustomObject({
        ...ref,
        body: {
          apiVersion: API_VERSION,
          kind: FINETUNEJOB.kind,
          metadata: { name },
          spec: { ...minimalSpec(), ...(podTemplate ? { podTemplate } : {}) },
        },
      });
    const status = async (name: string) =>
      ((await custom.getNamespacedCustomObject({ ...ref, name })) as { status?: FineTuneJobStatus }).status;

    await create('default-pod');
    await create('privileged', { securityContext: { privileged: true } });
    await create('host-path', {
      volumes: [{ name: 'host', hostPath: { path: '/var/lib' } }],
      volumeMounts: [{ name: 'host', mountPath: '/host' }],
    });

    await eventually(
      async () =>
        (await core.listNamespacedPod({ namespace: NAMESPACE })).items.some(
          (p) => p.metadata?.name === 'default-pod-trainer-1',
        ),
      'the default trainer pod admitted',
      60_000,
    );
    for (const [name, reason] of [
      ['privileged', /Privileged containers are not allowed/],
      ['host-path', /hostPath volumes are not allowed/],
    ] as const) {
      let message = '';
      await eventually(
        async () => {
          const refused = (await status(name))?.conditions?.find(
            (c) => c.type === 'PodCreateFailure' && c.status === 'True',
          );
          message = refused?.message ?? '';
          return refused?.reason === 'FailedCreatePod';
        },
        `${name}: PodCreateFailure in the status`,
        60_000,
      );
      assert.match(message, reason, message);
      assert.match(message, /forbidden: PodSecurityPolicy: unable to admit pod/);
      assert.equal((await status(name))?.phase ?? 'Pending', 'Pending');
    }
    const pods = (await core.listNamespacedPod({ namespace: NAMESPACE })).items.map((p) => p.metadata!.name);
    assert.deepEqual(pods, ['default-pod-trainer-1'], 'no refused pod exists');
  });
});

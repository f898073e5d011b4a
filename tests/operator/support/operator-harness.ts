// Runs the operator in-process against the test control plane, scoped to one
// namespace, and plays the kubelet: pods are driven through their phases via
// the status subresource, never by mocking the API server.
import type { TestContext } from 'node:test';
import { CoreV1Api, CustomObjectsApi, type V1Pod } from '@kubernetes/client-node';
import {
  API_VERSION,
  FINETUNEJOB,
  type FineTuneJobStatus,
  GROUP,
  JOB_NAME_LABEL,
  VERSION,
} from '../../../src/api/v1alpha1/index.ts';
import { updatePodStatus } from '../../../src/local/node-agent/pod-status.ts';
import { OperatorManager } from '../../../src/operator/runtime/operator-manager.ts';
import type { LeaderElectionConfig } from '../../../src/operator/runtime/leader-election.ts';
import { minimalSpec } from '../../api/spec-fixtures.ts';
import { eventually, kubeConfig, testNamespace } from '../../support/cluster.ts';

export type Job = {
  metadata: { name: string; uid: string; generation: number };
  spec: Record<string, unknown>;
  status?: FineTuneJobStatus;
};

export function startOperator(
  t: TestContext,
  namespace: string,
  leaderElection?: LeaderElectionConfig,
  trainer: { serviceAccount?: string; clusterRole?: string } = {},
  clock?: () => Date,
): OperatorManager {
  const manager = new OperatorManager({
    ...(clock ? { clock } : {}),
    kubeConfig: kubeConfig(),
    namespaces: [namespace],
    workers: 2,
    port: 0,
    log: process.env['FTJ_TEST_OPERATOR_LOG'] ? (line) => console.error(line) : () => undefined,
    settings: {
      trainerImage: 'finetune/trainer:test',
      trainerServiceAccount: trainer.serviceAccount ?? 'default',
      retryBaseSeconds: 1,
    },
    ...(trainer.clusterRole ? { trainerClusterRole: trainer.clusterRole } : {}),
    ...(leaderElection ? { leaderElection } : {}),
  });
  t.after(() => manager.stop());
  void manager.start();
  return manager;
}

export function jobs(namespace: string) {
  const custom = kubeConfig().makeApiClient(CustomObjectsApi);
  const core = kubeConfig().makeApiClient(CoreV1Api);
  const ref = { group: GROUP, version: VERSION, namespace, plural: FINETUNEJOB.plural };
  const api = {
    create: (name: string, spec: Record<string, unknown> = {}) =>
      custom.createNamespacedCustomObject({
        ...ref,
        body: {
          apiVersion: API_VERSION,
          kind: FINETUNEJOB.kind,
          metadata: { name },
          spec: { ...minimalSpec(), ...spec },
        },
      }) as Promise<Job>,
    get: async (name: string) =>
      (await custom.getNamespacedCustomObject({ ...ref, name }).catch(() => undefined)) as Job | undefined,
    /** Sets spec.suspend, as kubectl ftj suspend and resume do. */
    setSuspend: (name: string, suspend: boolean) =>
      custom.patchNamespacedCustomObject({
        ...ref,
        name,
        body: [{ op: 'add', path: '/spec/suspend', value: suspend }],
      }),
    delete: (name: string) => custom.deleteNamespacedCustomObject({ ...ref, name }),
    pods: async (job: string) =>
      (await core.listNamespacedPod({ namespace, labelSelector: `${JOB_NAME_LABEL}=${job}` })).items.sort((a, b) =>
        a.metadata!.name!.localeCompare(b.metadata!.name!),
      ),
    deletePod: (name: string) => core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 }),
    events: async (job: string) =>
      (await core.listNamespacedEvent({ namespace })).items
        .filter((e) => e.involvedObject.name === job)
        .map((e) => e.reason),
    /** Plays the kubelet: sets the pod's phase and the trainer container's state. */
    setPod: async (pod: V1Pod, phase: 'Running' | 'Succeeded' | 'Failed', exitCode?: number) => {
      const container = {
        name: 'trainer',
        ready: phase === 'Running',
        restartCount: 0,
        image: 'finetune/trainer:test',
        imageID: '',
      };
      const state =
        phase === 'Running'
          ? { running: { startedAt: new Date() } }
          : {
              terminated: {
                exitCode: exitCode ?? 0,
                finishedAt: new Date(),
                startedAt: new Date(),
                reason: exitCode ? 'Error' : 'Completed',
              },
            };
      await updatePodStatus(core, { name: pod.metadata!.name!, namespace }, (current) => ({
        ...current,
        phase,
        containerStatuses: [{ ...container, state }],
      }));
    },
    /** Waits until the job's status satisfies `check`; returns the job. */
    waitFor: async (name: string, check: (job: Job) => boolean, what: string, timeoutMs = 20_000): Promise<Job> => {
      let last: Job | undefined;
      await eventually(
        async () => {
          last = await api.get(name);
          return last !== undefined && check(last);
        },
        `${what} (status: ${JSON.stringify(last?.status)})`,
        timeoutMs,
      );
      return last!;
    },
    waitForPods: async (job: string, count: number, timeoutMs = 20_000): Promise<V1Pod[]> => {
      let pods: V1Pod[] = [];
      await eventually(async () => (pods = await api.pods(job)).length === count, `${count} pods of ${job}`, timeoutMs);
      return pods;
    },
  };
  return api;
}

export const condition = (job: Job, type: string) => {
  const c = job.status?.conditions?.find((x) => x.type === type);
  return c ? `${c.status}/${c.reason}` : undefined;
};

/** A fresh namespace with its own operator: what every operator test starts from. */
export async function withOperator(t: TestContext, prefix: string) {
  const namespace = await testNamespace(t, prefix);
  const manager = startOperator(t, namespace);
  return { namespace, manager, api: jobs(namespace) };
}

import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { API_VERSION, FINETUNEJOB } from '../../api/v1alpha1/index.ts';
import type { JobEvent } from '../reconcile/finetunejob-reconciler.ts';

export interface JobRef { name: string; namespace: string; uid?: string }

/** Records core/v1 Events on a FineTuneJob (kubectl describe ftj shows them). */
export class EventRecorder {
  private readonly api: CoreV1Api;
  private readonly instance: string;

  constructor(kc: KubeConfig, instance: string) {
    this.api = kc.makeApiClient(CoreV1Api);
    this.instance = instance;
  }

  async record(job: JobRef, event: JobEvent): Promise<void> {
    const now = new Date();
    await this.api.createNamespacedEvent({
      namespace: job.namespace,
      body: {
        metadata: { generateName: `${job.name}.`, namespace: job.namespace },
        involvedObject: { apiVersion: API_VERSION, kind: FINETUNEJOB.kind, name: job.name, namespace: job.namespace, ...(job.uid ? { uid: job.uid } : {}) },
        type: event.type, reason: event.reason, message: event.message,
        source: { component: 'finetune-operator' },
        reportingComponent: 'finetune.dev/operator', reportingInstance: this.instance,
        firstTimestamp: now, lastTimestamp: now, count: 1,
      },
    });
  }
}

import {
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1Pod,
} from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../api/v1alpha1/index.ts';
import { type InformerHandlers, ResilientInformer } from './resilient-informer.ts';

/** kubectl's client-side apply keeps a second copy of the manifest in an annotation; no reconcile reads it. */
function withoutLastApplied(object: KubernetesObject): void {
  delete object.metadata?.annotations?.['kubectl.kubernetes.io/last-applied-configuration'];
}

/** The reconciles read a pod's metadata and status only; its spec (the job's spec in an env var) is not kept. */
function withoutSpec(pod: V1Pod): void {
  delete pod.spec;
}

/**
 * Builds the operator's informers, each over one namespace or all of them (`ns` undefined): the watch path,
 * the list, what is dropped from cached objects, and a log line when a watch fails (it restarts on its own).
 */
export class InformerSources {
  private readonly kc: KubeConfig;
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;
  private readonly log: (line: string) => void;

  constructor(kc: KubeConfig, log: (line: string) => void) {
    this.kc = kc;
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.core = kc.makeApiClient(CoreV1Api);
    this.log = log;
  }

  /** FineTuneJobs or FineTuneSchedules (`plural`), indexed by `indexBy` when given. */
  customObjects<T extends KubernetesObject>(
    kind: string,
    plural: string,
    ns: string | undefined,
    handlers: InformerHandlers<T>,
    indexBy?: (object: T) => string | undefined,
  ): ResilientInformer<T> {
    const list = (resourceVersion: '0' | undefined) =>
      (ns
        ? this.custom.listNamespacedCustomObject({
            group: GROUP,
            version: VERSION,
            namespace: ns,
            plural,
            resourceVersion,
          })
        : this.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural, resourceVersion })) as Promise<
        KubernetesListObject<T>
      >;
    return new ResilientInformer<T>(
      this.kc,
      `/apis/${GROUP}/${VERSION}/${ns ? `namespaces/${ns}/` : ''}${plural}`,
      list,
      handlers,
      { onError: this.onError(kind), transform: withoutLastApplied, ...(indexBy ? { indexBy } : {}) },
    );
  }

  /** Pods that carry `label` (trainer pods, or schedules' probes), without their spec, indexed by `indexBy`. */
  labelledPods(
    label: string,
    ns: string | undefined,
    handlers: InformerHandlers<V1Pod>,
    indexBy: (pod: V1Pod) => string | undefined,
  ): ResilientInformer<V1Pod> {
    const list = (resourceVersion: '0' | undefined) =>
      ns
        ? this.core.listNamespacedPod({ namespace: ns, labelSelector: label, resourceVersion })
        : this.core.listPodForAllNamespaces({ labelSelector: label, resourceVersion });
    return new ResilientInformer<V1Pod>(
      this.kc,
      ns ? `/api/v1/namespaces/${ns}/pods` : '/api/v1/pods',
      list,
      handlers,
      {
        labelSelector: label,
        onError: this.onError('Pod'),
        transform: withoutSpec,
        indexBy,
      },
    );
  }

  private onError(kind: string) {
    return (err: unknown) => this.log(`${kind} watch failed (${String(err)}); restarting with backoff`);
  }
}

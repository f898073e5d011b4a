import type {
  V1Affinity,
  V1Container,
  V1EnvVar,
  V1Pod,
  V1Toleration,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import {
  API_VERSION,
  ATTEMPT_LABEL,
  DEFAULT_TERMINATION_GRACE_SECONDS,
  FINETUNEJOB,
  type FineTuneJobSpec,
  JOB_NAME_LABEL,
  type Location,
  PVC_MOUNT_ROOT,
  TRAINER_CONTAINER,
  TRAINER_ENV,
  TRAINER_METRICS_PORT,
  nameLabelValue,
  shortened,
  withHash,
} from '../../api/v1alpha1/index.ts';

export interface PodSettings {
  /** Trainer image when spec.podTemplate.image is unset. */
  trainerImage: string;
  /** ServiceAccount allowed to apply its job's status (the trainer's RBAC role). */
  trainerServiceAccount: string;
  /**
   * A node directory for GPU trainers' CUDA JIT cache (hostPath), so kernels compiled for a GPU newer than
   * libtensorflow's are compiled once per node, not at every start. Unset: an emptyDir (kept for one pod).
   */
  cudaCacheHostPath?: string;
}

/** Where GPU trainers keep CUDA's JIT cache, and how big it may grow (CUDA's default, 256 MiB, is too small for TensorFlow). */
export const CUDA_CACHE = { path: '/var/cache/cuda', maxBytes: String(4 * 1024 ** 3) };

export interface JobRef {
  name: string;
  namespace: string;
  uid: string;
  labels?: Record<string, string>;
}

/**
 * Job labels the trainer pod carries too: Kueue's queue and priority class, which Kueue's pod-based
 * integrations and quota accounting read from the pod.
 */
export const PASSED_THROUGH_LABELS = ['kueue.x-k8s.io/queue-name', 'kueue.x-k8s.io/priority-class'] as const;

/** Deterministic per attempt, so a restarted operator finds (adopts) what it created; at most 253 characters. */
export const trainerPodName = (job: string, attempt: number) =>
  `${shortened(job, 253 - `-trainer-${attempt}`.length)}-trainer-${attempt}`;

/**
 * The trainer pod of one attempt: the job's spec in its environment, PVCs
 * mounted under /mnt/pvc (read-only unless written to), nvidia.com/gpu as
 * requests = limits, a restrictive security context, podTemplate overrides,
 * and the job as its controlling owner.
 */
export function buildTrainerPod(job: JobRef, spec: FineTuneJobSpec, attempt: number, settings: PodSettings): V1Pod {
  const template = spec.podTemplate ?? {};
  const claims = claimsOf(spec);
  const gpu = spec.resources.gpus > 0;
  const volumes: V1Volume[] = [
    ...[...claims].map(([claim, writable]) => ({
      name: volumeName(claim),
      persistentVolumeClaim: { claimName: claim, readOnly: !writable },
    })),
    { name: 'tmp', emptyDir: {} },
    ...(gpu
      ? [
          {
            name: 'cuda-cache',
            ...(settings.cudaCacheHostPath
              ? { hostPath: { path: settings.cudaCacheHostPath, type: 'DirectoryOrCreate' } }
              : { emptyDir: {} }),
          },
        ]
      : []),
    ...passThrough<V1Volume[]>(template.volumes),
  ];
  const mounts: V1VolumeMount[] = [
    ...[...claims].map(([claim, writable]) => ({
      name: volumeName(claim),
      mountPath: `${PVC_MOUNT_ROOT}/${claim}`,
      readOnly: !writable,
    })),
    { name: 'tmp', mountPath: '/tmp' },
    ...(gpu ? [{ name: 'cuda-cache', mountPath: CUDA_CACHE.path }] : []),
    ...passThrough<V1VolumeMount[]>(template.volumeMounts),
  ];
  const limits: Record<string, string> = {
    ...(spec.resources.gpus > 0 ? { 'nvidia.com/gpu': String(spec.resources.gpus) } : {}),
    ...(spec.resources.cpu !== undefined ? { cpu: String(spec.resources.cpu) } : {}),
    ...(spec.resources.memory !== undefined ? { memory: String(spec.resources.memory) } : {}),
  };
  const manifest = {
    apiVersion: API_VERSION,
    kind: FINETUNEJOB.kind,
    metadata: { name: job.name, namespace: job.namespace },
    spec,
  };
  const env: V1EnvVar[] = [
    { name: TRAINER_ENV.spec, value: JSON.stringify(manifest) },
    { name: TRAINER_ENV.jobName, value: job.name },
    { name: TRAINER_ENV.jobNamespace, value: job.namespace },
    { name: TRAINER_ENV.jobUid, value: job.uid },
    { name: TRAINER_ENV.attempt, value: String(attempt) },
    ...(gpu
      ? [
          { name: 'CUDA_CACHE_PATH', value: CUDA_CACHE.path },
          { name: 'CUDA_CACHE_MAXSIZE', value: CUDA_CACHE.maxBytes },
        ]
      : []),
    ...passThrough<V1EnvVar[]>(template.env),
  ];
  const container: V1Container = {
    name: TRAINER_CONTAINER,
    image: template.image ?? settings.trainerImage,
    ...(template.imagePullPolicy ? { imagePullPolicy: template.imagePullPolicy } : {}),
    // Object storage credentials: the Secret's keys as the trainer's environment; the operator never reads it.
    ...(spec.storage.secretRef ? { envFrom: [{ secretRef: { name: spec.storage.secretRef.name } }] } : {}),
    env,
    ports: [{ name: 'metrics', containerPort: TRAINER_METRICS_PORT }],
    resources: { requests: limits, limits },
    volumeMounts: mounts,
    securityContext: (template.securityContext as V1Container['securityContext']) ?? {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 65532,
      capabilities: { drop: ['ALL'] },
    },
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: trainerPodName(job.name, attempt),
      namespace: job.namespace,
      labels: {
        ...template.labels,
        ...Object.fromEntries(
          PASSED_THROUGH_LABELS.flatMap((key) => (job.labels?.[key] !== undefined ? [[key, job.labels[key]]] : [])),
        ),
        [JOB_NAME_LABEL]: nameLabelValue(job.name),
        [ATTEMPT_LABEL]: String(attempt),
        'app.kubernetes.io/managed-by': 'finetune-operator',
      },
      ...(template.annotations ? { annotations: template.annotations } : {}),
      ownerReferences: [
        {
          apiVersion: API_VERSION,
          kind: FINETUNEJOB.kind,
          name: job.name,
          uid: job.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      restartPolicy: 'Never',
      // After SIGTERM the trainer finishes its batch and saves that point: it needs the time to write it.
      terminationGracePeriodSeconds: template.terminationGracePeriodSeconds ?? DEFAULT_TERMINATION_GRACE_SECONDS,
      serviceAccountName: template.serviceAccountName ?? settings.trainerServiceAccount,
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [container],
      volumes,
      ...(template.nodeSelector ? { nodeSelector: template.nodeSelector } : {}),
      ...(template.tolerations ? { tolerations: passThrough<V1Toleration[]>(template.tolerations) } : {}),
      ...(template.affinity ? { affinity: template.affinity as V1Affinity } : {}),
      ...(template.priorityClassName ? { priorityClassName: template.priorityClassName } : {}),
    },
  };
}

/** Core/v1 objects the spec carries unchanged (validated by the API server when the pod is created). */
const passThrough = <T extends unknown[]>(items: unknown[] | undefined): T => (items ?? []) as T;

/**
 * A volume name is a DNS label (no dots, at most 63 characters); a claim name
 * is a DNS subdomain. A claim that is not a valid label keeps a readable
 * prefix plus a hash, so two claims never share a volume.
 */
const volumeName = (claim: string) => {
  const name = `pvc-${claim}`;
  return name.length <= 63 && !name.includes('.') ? name : withHash(name.replace(/\./g, '-'), claim, 63);
};

/** Every PVC the spec names, and whether the trainer writes to it (output, checkpoints). */
function claimsOf(spec: FineTuneJobSpec): Map<string, boolean> {
  const claims = new Map<string, boolean>();
  const add = (location: Location | undefined, writable: boolean) => {
    const claim =
      location?.pvc?.claimName ??
      (location?.uri?.startsWith('pvc://') ? location.uri.slice(6).split('/')[0] : undefined);
    if (claim) claims.set(claim, (claims.get(claim) ?? false) || writable);
  };
  add(spec.model, false);
  add(spec.model.input.tokenizer, false);
  add(spec.dataset, false);
  add(spec.dataset.validation, false);
  add(spec.output, true);
  add(spec.checkpoint, true);
  return claims;
}

import { z } from 'zod';
import { TrainerExitCode } from './trainer-contract.ts';

/** A Kubernetes quantity (cpu: 500m, memory: 8Gi). */
const Quantity = z
  .union([
    z.number().nonnegative(),
    z
      .string()
      .regex(/^([+]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/, 'must be a Kubernetes quantity such as 500m, 2 or 8Gi'),
  ])
  .meta({ 'x-kubernetes-int-or-string': true });

export const Resources = z
  .strictObject({
    gpus: z
      .number()
      .int()
      .min(0)
      .max(
        1,
        'the trainer trains on one GPU (TensorFlow.js uses one per process): more would be booked and left ' +
          'idle; set 1, or 0 for the CPU',
      )
      .default(1)
      .meta({
        description:
          'nvidia.com/gpu per trainer pod (requests = limits): 0 or 1. The trainer (TensorFlow.js) uses one ' +
          'GPU per process, so more would be booked and left idle. With 1 the trainer refuses to run without a ' +
          'GPU.',
      }),
    cpu: Quantity.optional().meta({ description: 'CPU request and limit, e.g. 4 or 500m.' }),
    memory: Quantity.optional().meta({ description: 'Memory request and limit, e.g. 16Gi.' }),
  })
  .prefault({})
  .meta({ description: 'Resources of the trainer pod.' });

/** Kubernetes objects the operator passes through to the pod unchanged. */
const passThrough = (description: string) =>
  z.record(z.string(), z.unknown()).meta({ description, 'x-kubernetes-preserve-unknown-fields': true });

export const PodTemplate = z
  .strictObject({
    labels: z.record(z.string(), z.string()).optional().meta({ description: 'Extra labels of the trainer pod.' }),
    annotations: z
      .record(z.string(), z.string())
      .optional()
      .meta({ description: 'Extra annotations of the trainer pod.' }),
    image: z
      .string()
      .min(1)
      .optional()
      .meta({ description: "Trainer image. Default: the operator's configured trainer image." }),
    imagePullPolicy: z
      .enum(['Always', 'IfNotPresent', 'Never'])
      .optional()
      .meta({ description: 'Image pull policy of the trainer container.' }),
    nodeSelector: z
      .record(z.string(), z.string())
      .optional()
      .meta({ description: 'Node selector of the trainer pod.' }),
    tolerations: z
      .array(passThrough('A core/v1 Toleration.'))
      .optional()
      .meta({ description: 'Tolerations of the trainer pod (core/v1 Toleration).' }),
    affinity: passThrough('Affinity of the trainer pod (core/v1 Affinity).').optional(),
    priorityClassName: z.string().optional().meta({ description: 'PriorityClass of the trainer pod.' }),
    serviceAccountName: z
      .string()
      .optional()
      .meta({ description: "ServiceAccount of the trainer pod. Default: the operator's trainer ServiceAccount." }),
    env: z
      .array(passThrough('A core/v1 EnvVar.'))
      .optional()
      .meta({ description: 'Extra environment variables of the trainer container (core/v1 EnvVar).' }),
    volumes: z
      .array(passThrough('A core/v1 Volume.'))
      .optional()
      .meta({ description: 'Extra volumes of the trainer pod (core/v1 Volume).' }),
    volumeMounts: z
      .array(passThrough('A core/v1 VolumeMount.'))
      .optional()
      .meta({ description: 'Extra volume mounts of the trainer container (core/v1 VolumeMount).' }),
    securityContext: passThrough(
      'Container securityContext (core/v1 SecurityContext) replacing the restrictive default.',
    ).optional(),
    terminationGracePeriodSeconds: z
      .number()
      .int()
      .min(1)
      .max(3600)
      .optional()
      .meta({
        description:
          'Seconds the trainer has after SIGTERM (preemption, eviction, suspension) to finish its batch and save ' +
          'that exact point, which the next attempt resumes from. Default: 60. Raise it for models whose batch ' +
          'or checkpoint takes longer.',
      }),
  })
  .optional()
  .meta({ description: 'Overrides of the trainer pod.' });

export const RetryRule = z
  .strictObject({
    action: z.enum(['FailJob', 'Count', 'Ignore']).meta({
      description:
        'FailJob: fail the job at once. Count: retry, counting toward backoffLimit. Ignore: retry without counting.',
    }),
    onExitCodes: z
      .strictObject({
        operator: z
          .enum(['In', 'NotIn'])
          .meta({ description: 'In: the rule matches the listed exit codes. NotIn: it matches all others.' }),
        values: z
          .array(z.number().int().min(0).max(255))
          .min(1)
          .meta({ description: 'Exit codes of the trainer container.' }),
      })
      .meta({ description: 'Exit codes the rule matches.' }),
  })
  .meta({
    description: "What to do when the trainer exits with one of the given codes (like a Job's podFailurePolicy).",
  });

export const RetryPolicy = z
  .strictObject({
    rules: z
      .array(RetryRule)
      .default([
        {
          action: 'FailJob',
          onExitCodes: { operator: 'In', values: [TrainerExitCode.Permanent, TrainerExitCode.InternalError] },
        },
      ])
      .meta({
        description:
          'Rules checked in order; the first match decides. Unmatched failures count toward backoffLimit. ' +
          'Default: exit codes 2 (invalid spec, model or data) and 5 (a bug in the trainer) fail the job at ' +
          'once: a retry would fail the same way.',
      }),
  })
  .prefault({})
  .meta({
    description:
      'Retry decision by trainer exit code. Pods deleted, evicted or preempted, and a trainer stopped by ' +
      'SIGTERM (exit code 4, its point saved), are always retried without counting.',
  });

export const runtimeFields = {
  resources: Resources,
  podTemplate: PodTemplate,
  backoffLimit: z.number().int().min(0).max(100).default(3).meta({
    description:
      'Failed attempts retried before the job fails; the delay between attempts doubles from 10 s up to 6 min.',
  }),
  retryPolicy: RetryPolicy,
  activeDeadlineSeconds: z
    .number()
    .int()
    .min(1)
    .optional()
    .meta({ description: 'Fail the job (reason DeadlineExceeded) when it has been active this long.' }),
  ttlSecondsAfterFinished: z
    .number()
    .int()
    .min(0)
    .optional()
    .meta({ description: 'Delete the job (and its pods) this long after it succeeds or fails.' }),
  suspend: z
    .boolean()
    .default(false)
    .meta({ description: 'true: stop the trainer pod and keep the checkpoint; false again: resume from it.' }),
  managedBy: z
    .string()
    .min(1)
    .max(63)
    .optional()
    .meta({
      description:
        'Controller that reconciles this job. Default (unset): finetune.dev/operator; any other value makes ' +
        'this operator leave the job alone.',
    }),
};

import { z } from 'zod';

/** metav1.Condition, as every Kubernetes API and kubectl wait expect it. */
export const Condition = z.strictObject({
  type: z
    .string()
    .min(1)
    .meta({ description: 'Condition type in CamelCase, e.g. Running, Succeeded, Failed, Suspended, InvalidSpec.' }),
  status: z.enum(['True', 'False', 'Unknown']).meta({ description: 'True, False or Unknown.' }),
  observedGeneration: z
    .number()
    .int()
    .min(0)
    .optional()
    .meta({ description: 'The .metadata.generation the condition was set from.' }),
  lastTransitionTime: z.string().meta({ format: 'date-time', description: 'When the condition last changed status.' }),
  reason: z.string().min(1).meta({ description: 'Machine-readable CamelCase reason for the last transition.' }),
  message: z.string().default('').meta({ description: 'Human-readable detail.' }),
});
export type Condition = z.output<typeof Condition>;

/**
 * Condition types of a FineTuneJob, in the order they are listed in the
 * status: the one that matters most first, since kubectl's Reason column
 * (the reasons of the True conditions) shows the first.
 */
export const ConditionType = {
  Failed: 'Failed',
  Succeeded: 'Succeeded',
  Suspended: 'Suspended',
  /** The API server refused the trainer pod (reason FailedCreatePod, its message); False once a pod exists. */
  PodCreateFailure: 'PodCreateFailure',
  /**
   * The trainer pod exists but does not run, and the reason and message say why, as `kubectl describe pod`
   * shows them: the scheduler's (Unschedulable: no GPU free, a missing PersistentVolumeClaim) or its
   * container's (CreateContainerConfigError: a missing Secret; ImagePullBackOff, ErrImagePull). False once it runs.
   */
  PodPending: 'PodPending',
  Restarting: 'Restarting',
  Running: 'Running',
  InvalidSpec: 'InvalidSpec',
  Created: 'Created',
  /**
   * kstatus' conditions (Flux, `kubectl wait`, cli-utils): Reconciling while the job is pending,
   * queued or running; Stalled once it has failed for good; Ready once it has succeeded.
   */
  Stalled: 'Stalled',
  Reconciling: 'Reconciling',
  Ready: 'Ready',
} as const;
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

/** A list-map of conditions keyed by type, so server-side apply merges them per type. */
export const conditionList = () =>
  z
    .array(Condition)
    .default([])
    .meta({
      description: "Latest observations of the object's state (metav1.Condition).",
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
    });

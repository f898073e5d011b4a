// The fingerprint probe of a schedule's due run (skipIfUnchanged): a short-lived trainer pod that only
// fingerprints the run's data, so the schedule can skip a night whose data has not changed.
import type { V1Pod } from '@kubernetes/client-node';
import {
  API_VERSION,
  FINETUNESCHEDULE,
  FINGERPRINT_FLAG,
  FINGERPRINT_FOR_LABEL,
  nameLabelValue,
  type RawScheduleSpec,
  SCHEDULE_NAME_LABEL,
  shortened,
  TRAINER_ENV,
  validateFineTuneJobSpec,
} from '../../api/v1alpha1/index.ts';
import { buildTrainerPod, type PodSettings } from './trainer-pod.ts';

/** The schedule a probe belongs to. */
export interface ProbeOwner {
  name: string;
  namespace: string;
  uid: string;
  settings: PodSettings;
}

/**
 * The fingerprint probe of a due run: the trainer image with --fingerprint and the run's spec (so the same
 * volumes), no GPU, no API access, a ten-minute deadline; owned by the schedule, not by any FineTuneJob.
 */
export function probeManifest(pass: ProbeOwner, raw: RawScheduleSpec, name: string): V1Pod {
  const templateSpec = structuredClone(raw.jobTemplate?.spec ?? {});
  const resources = { ...(templateSpec['resources'] as Record<string, unknown> | undefined), gpus: 0 };
  const parsed = validateFineTuneJobSpec({ ...templateSpec, resources });
  if (!parsed.valid) throw new Error(`the template was validated with the schedule: ${parsed.errors.join('; ')}`);
  const pod = buildTrainerPod({ name, namespace: pass.namespace, uid: pass.uid }, parsed.spec, 1, pass.settings);
  const container = pod.spec!.containers[0]!;
  const jobEnv: string[] = [TRAINER_ENV.jobName, TRAINER_ENV.jobNamespace, TRAINER_ENV.jobUid, TRAINER_ENV.attempt];
  container.env = container.env!.filter((variable) => !jobEnv.includes(variable.name));
  container.args = [FINGERPRINT_FLAG];
  container.ports = [];
  return {
    ...pod,
    metadata: {
      name: `${shortened(name, 253 - '-fingerprint'.length)}-fingerprint`,
      namespace: pass.namespace,
      labels: {
        [FINGERPRINT_FOR_LABEL]: nameLabelValue(name),
        [SCHEDULE_NAME_LABEL]: nameLabelValue(pass.name),
        'app.kubernetes.io/managed-by': 'finetune-operator',
      },
      ownerReferences: [
        {
          apiVersion: API_VERSION,
          kind: FINETUNESCHEDULE.kind,
          name: pass.name,
          uid: pass.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      ...pod.spec!,
      serviceAccountName: (parsed.spec.podTemplate?.serviceAccountName as string | undefined) ?? 'default',
      automountServiceAccountToken: false,
      activeDeadlineSeconds: 600,
    },
  };
}

import { z } from 'zod';
import { FineTuneJobSpec } from './finetunejob-spec.ts';
import { FineTuneJobStatus } from './finetunejob-status.ts';
import { API_VERSION, FINETUNEJOB } from './group-version.ts';
import { describeIssues } from './issues.ts';
import { ObjectMeta } from './object-meta.ts';

export const FineTuneJob = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal(FINETUNEJOB.kind),
  metadata: ObjectMeta,
  spec: FineTuneJobSpec,
  status: FineTuneJobStatus.optional(),
});
export type FineTuneJob = z.output<typeof FineTuneJob>;

/** The result of validating a spec: the defaulted spec, or one message per problem, each naming its field. */
export type SpecValidation = { valid: true; spec: FineTuneJobSpec } | { valid: false; errors: string[] };

/** Validates a FineTuneJob's spec as the operator and the trainer do; never throws. */
export function validateFineTuneJobSpec(spec: unknown): SpecValidation {
  const parsed = FineTuneJobSpec.safeParse(spec);
  return parsed.success
    ? { valid: true, spec: parsed.data }
    : { valid: false, errors: describeIssues(parsed.error, 'spec') };
}

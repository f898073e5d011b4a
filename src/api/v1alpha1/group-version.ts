/** The API group, version and kinds every part of the project agrees on. */
export const GROUP = 'finetune.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const CATEGORY = 'finetune';

export const FINETUNEJOB = {
  kind: 'FineTuneJob',
  listKind: 'FineTuneJobList',
  plural: 'finetunejobs',
  singular: 'finetunejob',
  shortNames: ['ftj'],
} as const;

export const FINETUNESCHEDULE = {
  kind: 'FineTuneSchedule',
  listKind: 'FineTuneScheduleList',
  plural: 'finetuneschedules',
  singular: 'finetuneschedule',
  shortNames: ['ftsched'],
} as const;

/** Value of `spec.managedBy` (or its absence) that this operator acts on; other values belong to other controllers. */
export const OPERATOR_MANAGER = 'finetune.dev/operator';

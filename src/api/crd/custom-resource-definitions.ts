import type { z } from 'zod';
import { FineTuneJobSpec } from '../v1alpha1/finetunejob-spec.ts';
import { FineTuneJobStatus } from '../v1alpha1/finetunejob-status.ts';
import { FineTuneScheduleSpec, FineTuneScheduleStatus } from '../v1alpha1/finetuneschedule.ts';
import { CATEGORY, FINETUNEJOB, FINETUNESCHEDULE, GROUP, VERSION } from '../v1alpha1/group-version.ts';
import { type JSONSchemaProps, toStructuralSchema } from './structural-schema.ts';

interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  priority?: number;
}

interface Names {
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  shortNames: readonly string[];
}

const AGE: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

/** Only conditions that hold now: a stale (False) condition must never show in a column. */
const TRUE_CONDITIONS = '.status.conditions[?(@.status=="True")]';

function crd(names: Names, description: string, spec: z.ZodType, status: z.ZodType, columns: PrinterColumn[]) {
  const openAPIV3Schema: JSONSchemaProps = {
    type: 'object',
    description,
    required: ['spec'],
    properties: {
      apiVersion: {
        type: 'string',
        description: 'APIVersion defines the versioned schema of this representation of an object.',
      },
      kind: {
        type: 'string',
        description: 'Kind is a string value representing the REST resource this object represents.',
      },
      metadata: { type: 'object' },
      spec: toStructuralSchema(spec),
      status: toStructuralSchema(status),
    },
  };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${names.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: { ...names, shortNames: [...names.shortNames], categories: [CATEGORY] },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [...columns, AGE],
          schema: { openAPIV3Schema },
        },
      ],
    },
  };
}

export const fineTuneJobCRD = () =>
  crd(
    FINETUNEJOB,
    'FineTuneJob fine-tunes a pretrained model in stages (a new head on a frozen base, then unfreezing at ' +
      'small learning rates) on a GPU pod, and exports it.',
    FineTuneJobSpec,
    FineTuneJobStatus,
    [
      {
        name: 'Phase',
        type: 'string',
        jsonPath: '.status.phase',
        description: 'Pending, Queued, Running, Succeeded, Failed or Suspended.',
      },
      { name: 'Stage', type: 'string', jsonPath: '.status.stage', description: 'Stage running now.' },
      {
        name: 'Epoch',
        type: 'integer',
        jsonPath: '.status.progress.epoch',
        description: 'Epoch within the current stage.',
      },
      {
        name: 'Val-Acc',
        type: 'number',
        jsonPath: '.status.metrics.valAccuracy',
        description: 'Latest validation accuracy.',
      },
      {
        name: 'Test-Acc',
        type: 'number',
        jsonPath: '.status.evaluation.accuracy',
        description: 'Accuracy of the exported model on the test set (spec.evaluation).',
      },
      {
        name: 'Attempts',
        type: 'integer',
        jsonPath: '.status.attempts',
        priority: 1,
        description: 'Trainer pods started.',
      },
      {
        name: 'Reason',
        type: 'string',
        jsonPath: `${TRUE_CONDITIONS}.reason`,
        priority: 1,
        description: 'Reasons of the conditions that are True now.',
      },
    ],
  );

export const fineTuneScheduleCRD = () =>
  crd(
    FINETUNESCHEDULE,
    'FineTuneSchedule creates FineTuneJobs on a cron schedule, like a CronJob creates Jobs.',
    FineTuneScheduleSpec,
    FineTuneScheduleStatus,
    [
      { name: 'Schedule', type: 'string', jsonPath: '.spec.schedule' },
      { name: 'TimeZone', type: 'string', jsonPath: '.spec.timeZone', priority: 1 },
      { name: 'Suspend', type: 'boolean', jsonPath: '.spec.suspend' },
      { name: 'Active', type: 'integer', jsonPath: '.status.activeCount', description: 'Runs that have not finished.' },
      {
        name: 'Last-Schedule',
        type: 'date',
        jsonPath: '.status.lastScheduleTime',
        description: 'The scheduled time of the last run started.',
      },
      // A string, not a date: kubectl prints a future date column as <invalid>.
      { name: 'Next', type: 'string', jsonPath: '.status.nextScheduleTime', description: 'When the next run is due.' },
      {
        name: 'Last-Success',
        type: 'date',
        jsonPath: '.status.lastSuccessfulTime',
        priority: 1,
        description: 'When a run last succeeded.',
      },
      {
        name: 'Reason',
        type: 'string',
        jsonPath: `${TRUE_CONDITIONS}.reason`,
        priority: 1,
        description: 'Reasons of the conditions that are True now.',
      },
    ],
  );

/** Every CRD of the project, keyed by the file it is written to under crds/. */
export const customResourceDefinitions = () => ({
  [`${GROUP}_${FINETUNEJOB.plural}.yaml`]: fineTuneJobCRD(),
  [`${GROUP}_${FINETUNESCHEDULE.plural}.yaml`]: fineTuneScheduleCRD(),
});

import { z } from 'zod';
import { Dataset } from './dataset.ts';
import { checkSpecConsistency } from './finetunejob-consistency.ts';
import { Augmentation, Head } from './head.ts';
import { locationFields } from './location.ts';
import { Model } from './model.ts';
import { JobPromotion } from './promotion.ts';
import { Evaluation } from './evaluation.ts';
import { runtimeFields } from './runtime.ts';
import { stageList } from './stage.ts';
import { Trials } from './trials.ts';

export const Task = z
  .strictObject({
    type: z
      .enum(['ImageClassification', 'TextClassification'])
      .meta({ description: 'ImageClassification or TextClassification.' }),
    numClasses: z.number().int().min(2).max(100000).meta({ description: 'Number of classes of the new head.' }),
  })
  .meta({ description: 'What the fine-tuned model predicts.' });

export const Output = z
  .strictObject({
    ...locationFields,
  })
  .meta({ description: 'Where the fine-tuned layers model and metadata.json are written. Set either uri or pvc.' });

export const Checkpoint = z
  .strictObject({
    ...locationFields,
    everyEpochs: z
      .number()
      .int()
      .min(1)
      .optional()
      .meta({ description: 'Also checkpoint every N epochs within a stage (stage boundaries always are).' }),
  })
  .prefault({})
  .meta({
    description:
      'Checkpoints at stage boundaries, so a restarted pod resumes after the last completed stage. Location: ' +
      'uri or pvc; ' +
      'default: a checkpoints/ folder under output. In object storage (s3://, and by default with an output ' +
      'there) every save is ' +
      'uploaded, state.json last, so a retry on another node, with an empty disk, resumes from it.',
  });

export const Storage = z
  .strictObject({
    secretRef: z
      .strictObject({
        name: z.string().min(1).meta({ description: "Name of a Secret in the job's namespace." }),
      })
      .optional()
      .meta({
        description:
          "A Secret whose keys become the trainer's environment (envFrom), with the names Kubeflow Trainer and " +
          'KServe users put in ' +
          "storage Secrets: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL (or KServe's " +
          'S3_ENDPOINT and S3_USE_HTTPS), ' +
          'AWS_DEFAULT_REGION, S3_VERIFY_SSL (0: no certificate check), AWS_CA_BUNDLE (the path of a private ' +
          'CA in the pod). ' +
          "Without it: the SDK's default chain (IRSA: podTemplate.serviceAccountName with " +
          'eks.amazonaws.com/role-arn), or ' +
          'AWS_NO_SIGN_REQUEST=true in podTemplate.env for a public bucket. A Secret that does not exist keeps ' +
          'the pod waiting ' +
          "(CreateContainerConfigError, shown in the job's PodPending condition). The operator never reads it.",
      }),
  })
  .prefault({})
  .meta({
    description:
      'Credentials for s3:// and gs:// locations (model, dataset, evaluation, output, checkpoint, promotion pointer).',
  });

/** The spec's fields, without the cross-field checks (the CRD is generated from this). */
export const FineTuneJobSpecFields = z
  .strictObject({
    task: Task,
    model: Model,
    dataset: Dataset,
    head: Head.prefault({}),
    stages: stageList(),
    augmentation: Augmentation.prefault({}),
    batchSize: z.number().int().min(1).max(65536).default(32).meta({ description: 'Examples per training batch.' }),
    seed: z
      .number()
      .int()
      .min(0)
      .default(42)
      .meta({ description: 'Seed of weight initialisation, shuffling and augmentation.' }),
    output: Output,
    checkpoint: Checkpoint,
    promotion: JobPromotion.optional(),
    evaluation: Evaluation.optional(),
    trials: Trials.optional(),
    storage: Storage,
    ...runtimeFields,
  })
  .meta({ description: 'Desired state: the fine-tuning recipe and how to run it.' });

/** The validated spec: schema, defaults and cross-field rules. Operator and trainer both parse with this. */
export const FineTuneJobSpec = FineTuneJobSpecFields.superRefine(checkSpecConsistency);
export type FineTuneJobSpec = z.output<typeof FineTuneJobSpec>;
export type FineTuneJobSpecInput = z.input<typeof FineTuneJobSpec>;

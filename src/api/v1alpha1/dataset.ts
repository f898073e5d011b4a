import { z } from 'zod';
import { locationFields } from './location.ts';

export const DatasetFormat = z.enum(['ImageFolder', 'CSV', 'JSONL', 'IDX']).meta({
  description:
    'ImageFolder: one sub-folder per class of JPEG/PNG files. CSV or JSONL: one example per row/line (see ' +
    'fields). IDX: MNIST-style image and label files (see idx).',
});

export const Dataset = z
  .strictObject({
    ...locationFields,
    format: DatasetFormat,
    fields: z
      .strictObject({
        label: z
          .string()
          .min(1)
          .default('label')
          .meta({ description: 'Column/key holding the class (name or index).' }),
        text: z
          .string()
          .min(1)
          .optional()
          .meta({ description: 'Column/key holding the text, for text classification.' }),
        features: z
          .array(z.string().min(1))
          .min(1)
          .optional()
          .meta({ description: 'Columns/keys holding numeric features, for numeric inputs.' }),
      })
      .prefault({})
      .meta({ description: 'For CSV and JSONL: which columns/keys hold the label and the input.' }),
    idx: z
      .strictObject({
        images: z
          .string()
          .min(1)
          .meta({ description: 'Images file relative to the dataset location, e.g. train-images-idx3-ubyte.gz.' }),
        labels: z
          .string()
          .min(1)
          .meta({ description: 'Labels file relative to the dataset location, e.g. train-labels-idx1-ubyte.gz.' }),
      })
      .optional()
      .meta({ description: 'For format IDX: the image and label files.' }),
    validation: z
      .strictObject({
        split: z
          .number()
          .gt(0)
          .lt(1)
          .optional()
          .meta({
            description:
              'Fraction of the data held out for validation (seeded, stratified). Default 0.2 when no ' +
              'validation location is set.',
          }),
        ...locationFields,
      })
      .prefault({})
      .meta({
        description:
          'Validation data: a split of the training data, or a separate location (uri or pvc) in the same format.',
      }),
    classNames: z.array(z.string().min(1)).min(2).optional().meta({
      description:
        'Class names in label order. Default: sorted sub-folder names (ImageFolder) or sorted distinct labels.',
    }),
    shuffleSeed: z
      .number()
      .int()
      .min(0)
      .optional()
      .meta({ description: 'Seed of the shuffle and the validation split. Default: spec.seed.' }),
    limit: z
      .number()
      .int()
      .min(1)
      .optional()
      .meta({ description: 'Use at most this many training examples (for quick experiments).' }),
    onCorruptFile: z
      .enum(['Skip', 'Fail'])
      .default('Skip')
      .meta({
        description:
          'Skip: a file that cannot be read or decoded is skipped and named in the log and status. Fail: the run ' +
          'fails naming the file.',
      }),
  })
  .meta({ description: 'Training data. Set either uri or pvc.' });

export type Dataset = z.output<typeof Dataset>;

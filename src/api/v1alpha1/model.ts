import { z } from 'zod';
import { locationFields } from './location.ts';

/** How raw inputs are turned into what the base model expects (docs/recipe.md §1, §4 "Preprocessing, once"). */
export const InputSignature = z
  .strictObject({
    shape: z.array(z.number().int().min(1)).min(1).max(4).meta({
      description:
        'Input shape without the batch dimension: [height, width, channels] for images, [sequenceLength] for text.',
    }),
    dtype: z
      .enum(['float32', 'int32'])
      .default('float32')
      .meta({ description: 'Input dtype: float32 for images, int32 for token ids.' }),
    valueRange: z
      .strictObject({
        min: z.number().meta({ description: 'Value a black pixel maps to.' }),
        max: z.number().meta({ description: 'Value a white pixel maps to.' }),
      })
      .prefault({ min: 0, max: 1 })
      .meta({ description: 'Pixel value range the model was trained on, e.g. [0,1] or [-1,1].' }),
    mean: z
      .array(z.number())
      .optional()
      .meta({ description: 'Per-channel mean subtracted after scaling to valueRange (ImageNet-style normalisation).' }),
    std: z
      .array(z.number().positive())
      .optional()
      .meta({ description: 'Per-channel standard deviation divided after subtracting mean.' }),
    tokenizer: z
      .strictObject({
        ...locationFields,
        kind: z
          .enum(['WordPiece', 'Whitespace'])
          .default('WordPiece')
          .meta({ description: 'Tokenizer algorithm the vocabulary belongs to.' }),
        lowercase: z.boolean().default(true).meta({ description: 'Lower-case text before tokenizing.' }),
      })
      .optional()
      .meta({
        description:
          'Vocabulary file (one token per line) for text models; required for text classification. Set uri or pvc.',
      }),
  })
  .meta({
    description: "The base model's input signature; checked against the model and the data before training starts.",
  });

export const Model = z
  .strictObject({
    ...locationFields,
    format: z
      .enum(['Layers', 'Graph'])
      .default('Layers')
      .meta({
        description:
          'Layers: a tfjs layers model (model.json with a Keras topology), trainable layer by layer. Graph: a ' +
          'converted SavedModel or TF Hub module; frozen feature extractor unless a stage unfreezes it (its ' +
          'weights are then made variables).',
      }),
    outputKind: z
      .enum(['FeatureVector', 'Classifier'])
      .default('FeatureVector')
      .meta({
        description:
          'FeatureVector: the model outputs features and gets the new head directly. Classifier: the model is ' +
          'cut at cutLayer (default: the penultimate layer) and the new head goes there.',
      }),
    cutLayer: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'For outputKind Classifier: the layer (or graph node) whose output feeds the new head.' }),
    input: InputSignature,
    batchNormStatistics: z
      .enum(['Pretrained', 'Adapt'])
      .default('Pretrained')
      .meta({
        description:
          'Pretrained: BatchNormalization layers normalise with the statistics the base was trained with. Adapt: ' +
          'before the first stage, their moving mean and variance are re-estimated on the training examples (one ' +
          'forward pass, AdaBN); a resumed job keeps those of its checkpoint. Measured (docs/recipe.md): on a ' +
          'small base pretrained on a narrow dataset, 0.5-1.7 points better in three benchmark cells and 1.5 ' +
          'worse in the fourth; on ImageNet MobileNetV2 with 20 labels a class, 7-10 points worse (head only). ' +
          'Measure it on your data (spec.evaluation). Layers models only (refused for a Graph model, whose batch ' +
          'norms keep the statistics they were converted with).',
      }),
    license: z
      .string()
      .min(1)
      .optional()
      .meta({ description: "License of the base model (SPDX id or text); copied into the exported model's metadata." }),
    provenance: z
      .strictObject({
        source: z.string().optional().meta({ description: 'Where the model comes from (hub page, paper, registry).' }),
        version: z.string().optional().meta({ description: 'Version or revision of the base model.' }),
        sha256: z
          .string()
          .regex(/^[a-f0-9]{64}$/, 'must be 64 lower-case hex digits')
          .optional()
          .meta({ description: 'Expected SHA-256 of model.json; the trainer refuses a model that differs.' }),
      })
      .optional()
      .meta({ description: "Provenance of the base model, copied into the exported model's metadata." }),
  })
  .meta({ description: 'The pretrained base model to fine-tune. Set either uri or pvc.' });

export type Model = z.output<typeof Model>;

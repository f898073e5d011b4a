import { z } from 'zod';

/** Keras' common choice, and better than none in every cell of the quality benchmark (docs/recipe.md §2). */
const LABEL_SMOOTHING = 0.1;

/** The new classification head put on the base (docs/recipe.md §2). */
export const Head = z
  .strictObject({
    dropout: z.number().min(0).lt(1).default(0.2).meta({ description: 'Dropout rate before the output layer.' }),
    hiddenUnits: z
      .array(z.number().int().min(1))
      .default([])
      .meta({ description: 'Sizes of optional hidden Dense (ReLU) layers between the base and the output layer.' }),
    l2: z
      .number()
      .min(0)
      .default(0)
      .meta({ description: "L2 regularisation factor of the head's Dense kernels (0 = none)." }),
    labelSmoothing: z
      .number()
      .min(0)
      .max(0.5)
      .default(LABEL_SMOOTHING)
      .meta({
        description:
          "Label smoothing ε (Keras' label_smoothing): every stage trains towards 1 - ε on an example's class " +
          'plus ε / numClasses on each class, not a one-hot target, so the model is not pushed to ever more ' +
          'confident outputs on few labels. The training loss then includes that spread (its minimum is above ' +
          '0); val_loss stays the plain cross-entropy of the validation labels, for early stopping and trials. 0 ' +
          '= none. Default 0.1: on the quality benchmark (docs/recipe.md §2) 0.2-1.9 points better than 0 in ' +
          'every cell, and 0.2-2.2 on ImageNet MobileNetV2.',
      }),
  })
  .meta({ description: 'The new head: Dropout, optional hidden Dense layers, then Dense(numClasses, softmax).' });

export type Head = z.output<typeof Head>;

/** Training-time image augmentation (docs/recipe.md §4); never applied to validation data. */
export const Augmentation = z
  .strictObject({
    horizontalFlip: z.boolean().default(false).meta({ description: 'Flip images left-right at random.' }),
    zoom: z
      .number()
      .min(0)
      .max(0.5)
      .default(0)
      .meta({ description: 'Random crop/zoom: crop up to this fraction of each side, then resize back.' }),
    brightness: z
      .number()
      .min(0)
      .max(1)
      .default(0)
      .meta({ description: 'Random brightness shift, as a fraction of the value range.' }),
    contrast: z
      .number()
      .min(0)
      .max(1)
      .default(0)
      .meta({ description: 'Random contrast factor in [1-contrast, 1+contrast].' }),
  })
  .meta({
    description:
      'Image augmentation applied to training batches only. With none, the frozen head stage trains on cached ' +
      'base features.',
  });

export type Augmentation = z.output<typeof Augmentation>;

import { z } from 'zod';

/** The new classification head put on the base (docs/recipe.md §2). */
export const Head = z.strictObject({
  dropout: z.number().min(0).lt(1).default(0.2).meta({ description: 'Dropout rate before the output layer.' }),
  hiddenUnits: z.array(z.number().int().min(1)).default([]).meta({ description: 'Sizes of optional hidden Dense (ReLU) layers between the base and the output layer.' }),
  l2: z.number().min(0).default(0).meta({ description: 'L2 regularisation factor of the head\'s Dense kernels (0 = none).' }),
}).meta({ description: 'The new head: Dropout, optional hidden Dense layers, then Dense(numClasses, softmax).' });

export type Head = z.output<typeof Head>;

/** Training-time image augmentation (docs/recipe.md §4); never applied to validation data. */
export const Augmentation = z.strictObject({
  horizontalFlip: z.boolean().default(false).meta({ description: 'Flip images left-right at random.' }),
  zoom: z.number().min(0).max(0.5).default(0).meta({ description: 'Random crop/zoom: crop up to this fraction of each side, then resize back.' }),
  brightness: z.number().min(0).max(1).default(0).meta({ description: 'Random brightness shift, as a fraction of the value range.' }),
  contrast: z.number().min(0).max(1).default(0).meta({ description: 'Random contrast factor in [1-contrast, 1+contrast].' }),
}).meta({ description: 'Image augmentation applied to training batches only. With none, the frozen head stage trains on cached base features.' });

export type Augmentation = z.output<typeof Augmentation>;

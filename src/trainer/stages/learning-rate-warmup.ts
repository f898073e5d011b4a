import * as tf from '@tensorflow/tfjs';

/** Sets an optimizer's learning rate (Adam and RMSProp read a field, SGD has a setter). */
function setLearningRate(optimizer: tf.Optimizer, rate: number): void {
  if (optimizer instanceof tf.SGDOptimizer) optimizer.setLearningRate(rate);
  else (optimizer as unknown as { learningRate: number }).learningRate = rate;
}

/** Raises the rate linearly over the first `epochs` epochs: rate·(e+1)/(epochs+1), then the full rate. */
export class LearningRateWarmup extends tf.Callback {
  private readonly optimizer: tf.Optimizer;
  private readonly rate: number;
  private readonly epochs: number;

  constructor(optimizer: tf.Optimizer, rate: number, epochs: number) {
    super();
    this.optimizer = optimizer;
    this.rate = rate;
    this.epochs = epochs;
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    setLearningRate(this.optimizer, epoch < this.epochs ? this.rate * (epoch + 1) / (this.epochs + 1) : this.rate);
  }
}

export function createOptimizer(type: 'Adam' | 'SGD' | 'RMSProp', rate: number): tf.Optimizer {
  switch (type) {
    case 'Adam': return tf.train.adam(rate);
    case 'SGD': return tf.train.sgd(rate);
    case 'RMSProp': return tf.train.rmsprop(rate);
  }
}

import * as tf from '@tensorflow/tfjs';
import type { GraphNode, GraphWeightOp } from './graph-weights.ts';

/**
 * A graph model (converted SavedModel / TF Hub module) as one layer of a
 * layers model, Keras' `hub.KerasLayer(trainable=True)` in tfjs: its weights
 * become layer variables that are fed to the graph in place of its frozen
 * constants, so the graph's ops are differentiated with respect to them and
 * `LayersModel.fit`, callbacks, early stopping and checkpoints work unchanged.
 */
export class GraphBaseLayer extends tf.layers.Layer {
  static className = 'FtjGraphBase';
  private readonly graph: tf.GraphModel;
  private readonly inputNode: string;
  private readonly featureNode: string;
  private readonly featureShape: number[];
  private readonly weightOps: GraphWeightOp[];
  private readonly variables = new Map<string, tf.LayerVariable>();
  /** The loaded model.json without its weights: what an export of the fine-tuned graph keeps. */
  private readonly definition: tf.io.ModelArtifacts;
  /** The graph's nodes, to name an op in an error. */
  readonly topology: GraphNode[];
  /** The weight ops as units the unfreeze policies count, name and set trainable. */
  readonly units: GraphWeightUnit[];

  constructor(options: {
    graph: tf.GraphModel;
    artifacts: tf.io.ModelArtifacts;
    inputNode: string;
    featureNode: string;
    featureShape: number[];
    weightOps: GraphWeightOp[];
  }) {
    super({ name: 'ftj_graph_base' });
    this.graph = options.graph;
    this.inputNode = options.inputNode;
    this.featureNode = options.featureNode;
    this.featureShape = options.featureShape;
    const definition = { ...options.artifacts };
    delete definition.weightData;
    delete definition.weightSpecs;
    this.definition = definition;
    this.topology = (definition.modelTopology as { node?: GraphNode[] } | undefined)?.node ?? [];
    this.weightOps = options.weightOps;
    this.units = options.weightOps.map((op) => new GraphWeightUnit(op, (name) => this.variable(name)));
  }

  override build(): void {
    const constants = this.graph.weights;
    for (const op of this.weightOps) {
      for (const name of [...op.parameters, ...op.statistics]) {
        const value = constants[name]![0]!;
        const variable = this.addWeight(
          name.replace(/[^-A-Za-z0-9._/]/g, '_'),
          value.shape,
          'float32',
          tf.initializers.zeros(),
          undefined,
          op.parameters.includes(name),
        );
        variable.write(value);
        this.variables.set(name, variable);
      }
    }
    // Frozen until a stage's unfreeze policy says otherwise.
    for (const unit of this.units) unit.trainable = false;
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [shape[0]!, ...this.featureShape];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const feeds: tf.NamedTensorMap = { [this.inputNode]: Array.isArray(inputs) ? inputs[0]! : inputs };
    // Feeding a constant's node replaces it for this run (TensorFlow's feed semantics).
    for (const [name, variable] of this.variables) feeds[name] = variable.read();
    return this.graph.execute(feeds, this.featureNode) as tf.Tensor;
  }

  /** The graph as loaded (topology, signature, initializers) with its weights at their current values, unquantised. */
  async exportArtifacts(): Promise<tf.io.ModelArtifacts> {
    const weights: tf.NamedTensorMap = {};
    for (const [name, [tensor]] of Object.entries(this.graph.weights))
      weights[name] = this.variables.get(name)?.read() ?? tensor!;
    const { data, specs } = await tf.io.encodeWeights(weights);
    return { ...this.definition, weightSpecs: specs, weightData: data };
  }

  private variable(name: string): tf.LayerVariable {
    const variable = this.variables.get(name);
    if (!variable) throw new Error(`graph weight ${name} used before the layer was built`);
    return variable;
  }
}

/** One weight op of a graph base, shaped like a layer for the unfreeze policies. */
export class GraphWeightUnit {
  readonly name: string;
  readonly op: string;
  private readonly weightOp: GraphWeightOp;
  private readonly variable: (name: string) => tf.LayerVariable;

  constructor(weightOp: GraphWeightOp, variable: (name: string) => tf.LayerVariable) {
    this.name = weightOp.node;
    this.op = weightOp.op;
    this.weightOp = weightOp;
    this.variable = variable;
  }

  /** The op stands for the layer class (the unfreeze policies spot batch norm by it). */
  getClassName(): string {
    return this.op;
  }

  get weights(): tf.LayerVariable[] {
    return [...this.weightOp.parameters, ...this.weightOp.statistics].map(this.variable);
  }

  get trainable(): boolean {
    return this.weightOp.parameters.some((name) => this.variable(name).trainable);
  }

  /** Moving statistics never train: a graph's batch norm always runs in inference mode. */
  set trainable(trainable: boolean) {
    for (const name of this.weightOp.parameters) this.variable(name).trainable = trainable;
  }
}

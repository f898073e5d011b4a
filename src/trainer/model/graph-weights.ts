/** One node of a converted TensorFlow graph (GraphDef JSON, as in a tfjs graph model's model.json). */
export interface GraphNode {
  name: string;
  op: string;
  input?: string[];
}

/**
 * An op of a graph model that holds weights: what a Keras layer is to a
 * layers model, and so what the unfreeze policies count and name.
 */
export interface GraphWeightOp {
  /** The consuming node's name (the name TensorFlow and the converter show). */
  node: string;
  op: string;
  /** Weights that train when the op is unfrozen (kernel, bias, BN scale/offset). */
  parameters: string[];
  /** Batch-norm moving statistics: never trained. */
  statistics: string[];
}

/**
 * Ops whose float constant inputs are weights. Converted graphs fold batch
 * norm and biases into these, so their constants are what Keras would call a
 * layer's weights (a Gather's float table is an embedding); elementwise ops
 * (input scaling, a decomposed layer norm) keep their constants.
 */
const WEIGHT_OPS = new Set([
  'Conv2D',
  '_FusedConv2D',
  'DepthwiseConv2dNative',
  'FusedDepthwiseConv2dNative',
  'Conv2DBackpropInput',
  'Conv3D',
  'MatMul',
  '_FusedMatMul',
  'BatchMatMul',
  'BatchMatMulV2',
  'BiasAdd',
  'Prelu',
  'GatherV2',
  'Gather',
  'FusedBatchNorm',
  'FusedBatchNormV2',
  'FusedBatchNormV3',
]);
/** FusedBatchNorm inputs: x, scale, offset, mean, variance. */
const BATCH_NORM_STATISTICS_FROM = 3;

export const isGraphBatchNorm = (op: string) => op.startsWith('FusedBatchNorm');

const nodeNameOf = (input: string) => input.replace(/^\^/, '').replace(/:\d+$/, '');

/**
 * The weight ops that `output` depends on, inputs first (a topological
 * order, so "top N" means the N ops nearest the output). `isWeight` says
 * which nodes are float constants loaded from the weight files.
 */
export function graphWeightOps(
  nodes: GraphNode[],
  output: string,
  isWeight: (node: string) => boolean,
): GraphWeightOp[] {
  const byName = new Map(nodes.map((node) => [node.name, node]));
  const ordered: GraphNode[] = [];
  const state = new Map<string, 'open' | 'done'>();
  // Iterative post-order DFS: converted graphs can be thousands of nodes deep.
  const stack: { node: GraphNode; next: number }[] = [];
  const visit = (name: string) => {
    const node = byName.get(name);
    if (node && !state.has(name)) {
      state.set(name, 'open');
      stack.push({ node, next: 0 });
    }
  };
  visit(output);
  while (stack.length) {
    const top = stack.at(-1)!;
    const inputs = top.node.input ?? [];
    if (top.next < inputs.length) {
      visit(nodeNameOf(inputs[top.next++]!));
    } else {
      stack.pop();
      state.set(top.node.name, 'done');
      ordered.push(top.node);
    }
  }
  const claimed = new Set<string>();
  const ops: GraphWeightOp[] = [];
  for (const node of ordered.filter((n) => WEIGHT_OPS.has(n.op))) {
    const op: GraphWeightOp = { node: node.name, op: node.op, parameters: [], statistics: [] };
    (node.input ?? []).forEach((input, index) => {
      const name = nodeNameOf(input);
      // A weight shared by two ops belongs to the first (lowest) one.
      if (input.startsWith('^') || !isWeight(name) || claimed.has(name)) return;
      claimed.add(name);
      (isGraphBatchNorm(node.op) && index >= BATCH_NORM_STATISTICS_FROM ? op.statistics : op.parameters).push(name);
    });
    if (op.parameters.length || op.statistics.length) ops.push(op);
  }
  return ops;
}

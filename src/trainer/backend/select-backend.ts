import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { PermanentError } from '../errors.ts';
import { registerWasmGradientKernels } from './wasm-gradient-kernels.ts';

export interface BackendChoice {
  name: string;
  /** The package that provided it. */
  source: string;
  gpu: boolean;
}

/** Backends in order of preference; each loads its package only when tried. */
const CANDIDATES: { source: string; backend: string; load: () => Promise<unknown> }[] = [
  {
    source: '@tensorflow/tfjs-node-gpu',
    backend: 'tensorflow',
    load: () => import('@tensorflow/tfjs-node-gpu' as string),
  },
  { source: '@tensorflow/tfjs-node', backend: 'tensorflow', load: () => import('@tensorflow/tfjs-node' as string) },
  { source: '@tensorflow/tfjs-backend-wasm', backend: 'wasm', load: () => import('@tensorflow/tfjs-backend-wasm') },
  { source: '@tensorflow/tfjs-core', backend: 'cpu', load: async () => undefined },
];

/** A GPU is usable when tfjs-node-gpu loaded and the NVIDIA device nodes exist. */
const gpuDevicePresent = () => existsSync('/dev/nvidiactl') || existsSync('/dev/nvidia0');

/**
 * Picks the fastest backend available: tfjs-node-gpu, tfjs-node, WASM (with
 * the convolution gradient kernels it lacks), then pure-JS cpu. With
 * `requireGpu`, a machine without a GPU is a clear error (local mode passes
 * allowCpu).
 */
export async function selectBackend(options: {
  requireGpu: boolean;
  allowCpu?: boolean;
  only?: string;
}): Promise<BackendChoice> {
  const tried: string[] = [];
  for (const candidate of CANDIDATES) {
    if (options.only && candidate.backend !== options.only) continue;
    try {
      await candidate.load();
      if (candidate.backend === 'wasm') registerWasmGradientKernels();
      if (!(await tf.setBackend(candidate.backend))) throw new Error('did not initialise');
      await tf.ready();
      const gpu = candidate.source === '@tensorflow/tfjs-node-gpu' && gpuDevicePresent();
      if (options.requireGpu && !gpu && !options.allowCpu) {
        throw new PermanentError(
          `spec.resources.gpus asks for a GPU, but none is usable (backend ${candidate.backend} from ${candidate.source}${tried.length ? `; not available: ${tried.join(', ')}` : ''}). ` +
            'Run on a GPU node with the GPU image, or set spec.resources.gpus: 0 (or FTJ_ALLOW_CPU=1 in local mode).',
        );
      }
      return { name: candidate.backend, source: candidate.source, gpu };
    } catch (err) {
      if (err instanceof PermanentError) throw err;
      tried.push(candidate.source);
    }
  }
  throw new Error(`no tfjs backend could be initialised (tried ${tried.join(', ')})`);
}

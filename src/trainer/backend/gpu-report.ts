import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/**
 * What libtensorflow 2.9.1 (the one @tensorflow/tfjs-node-gpu 4.22 loads)
 * was built for: native kernels (SASS) for these compute capabilities, and
 * PTX for compute_80, which the CUDA driver JIT-compiles for newer GPUs at
 * start (TensorFlow's own tracker reports 30 minutes and more for an H100
 * the first time; the CUDA cache keeps the result for later starts).
 */
const NATIVE_KERNELS: readonly [number, number][] = [
  [3, 5],
  [5, 0],
  [6, 0],
  [7, 0],
  [7, 5],
];
const PTX: [number, number] = [8, 0];

export type KernelSupport = 'native' | 'jit' | 'unsupported';

/** How a GPU of compute capability "major.minor" runs libtensorflow 2.9.1's kernels. */
export function kernelSupport(computeCapability: string): KernelSupport {
  const [major, minor] = computeCapability.split('.').map(Number) as [number, number];
  // SASS runs on the same major version with an equal or newer minor one; PTX on anything newer.
  if (NATIVE_KERNELS.some(([m, n]) => m === major && n <= minor)) return 'native';
  return major > PTX[0] || (major === PTX[0] && minor >= PTX[1]) ? 'jit' : 'unsupported';
}

export interface GpuInfo {
  name: string;
  computeCapability: string;
  kernels: KernelSupport;
}

/** Parses `nvidia-smi --query-gpu=name,compute_cap --format=csv,noheader`. */
export function parseNvidiaSmi(output: string): GpuInfo[] {
  return output
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [name, computeCapability] = line.split(',').map((part) => part.trim()) as [string, string];
      return { name, computeCapability, kernels: kernelSupport(computeCapability) };
    });
}

/** The GPUs the container sees (nvidia-smi is mounted by the NVIDIA container runtime); [] when it cannot tell. */
export async function describeGpus(): Promise<GpuInfo[]> {
  try {
    const { stdout } = await promisify(execFile)(
      'nvidia-smi',
      ['--query-gpu=name,compute_cap', '--format=csv,noheader'],
      { timeout: 10_000 },
    );
    return parseNvidiaSmi(stdout);
  } catch {
    return [];
  }
}

/** The log lines for the GPUs: one each, and a warning where kernels are JIT-compiled or missing. */
export function gpuLogLines(gpus: GpuInfo[], cudaCache = process.env['CUDA_CACHE_PATH']): string[] {
  return gpus.flatMap((gpu) => {
    const line = `GPU ${gpu.name}, compute capability ${gpu.computeCapability}: ${gpu.kernels === 'native' ? 'native kernels' : gpu.kernels === 'jit' ? 'kernels JIT-compiled from PTX' : 'no kernels'}`;
    if (gpu.kernels === 'native') return [line];
    if (gpu.kernels === 'jit') {
      return [
        line,
        `WARNING: libtensorflow 2.9.1 has no native kernels for compute capability ${gpu.computeCapability}: CUDA compiles them at start, which can take 30 minutes or more the first time. ${cudaCache ? `They are cached in ${cudaCache} (CUDA_CACHE_PATH); keep it on a persistent volume (the operator's --cuda-cache-host-path) so later starts skip it.` : 'Set CUDA_CACHE_PATH to a writable, persistent volume so later starts skip it.'}`,
      ];
    }
    return [
      line,
      `WARNING: libtensorflow 2.9.1 has no kernels for compute capability ${gpu.computeCapability} (3.5 is the oldest it supports): training will fail on this GPU.`,
    ];
  });
}

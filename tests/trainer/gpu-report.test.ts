import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gpuLogLines, kernelSupport, parseNvidiaSmi } from '../../src/trainer/backend/gpu-report.ts';

describe('the GPU report at start (libtensorflow 2.9.1: SASS sm_35-sm_75, PTX compute_80)', () => {
  it('says which GPUs get native kernels and which JIT-compile them', () => {
    assert.deepEqual(
      ['3.5', '3.7', '5.2', '6.1', '7.0', '7.5', '8.0', '8.6', '8.9', '9.0', '10.0', '3.0'].map(kernelSupport),
      ['native', 'native', 'native', 'native', 'native', 'native', 'jit', 'jit', 'jit', 'jit', 'jit', 'unsupported'],
    );
  });

  it("reads nvidia-smi's CSV and warns for an H200, naming the CUDA cache", () => {
    const gpus = parseNvidiaSmi('NVIDIA H200, 9.0\nTesla T4, 7.5\n');
    assert.deepEqual(gpus, [
      { name: 'NVIDIA H200', computeCapability: '9.0', kernels: 'jit' },
      { name: 'Tesla T4', computeCapability: '7.5', kernels: 'native' },
    ]);
    const lines = gpuLogLines(gpus, '/var/cache/cuda');
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /GPU NVIDIA H200, compute capability 9\.0: kernels JIT-compiled from PTX/);
    assert.match(lines[1]!, /^WARNING: .* 30 minutes or more .* cached in \/var\/cache\/cuda/);
    assert.match(lines[2]!, /GPU Tesla T4, compute capability 7\.5: native kernels/);
  });
});

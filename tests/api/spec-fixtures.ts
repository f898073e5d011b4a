import assert from 'node:assert/strict';
import { type FineTuneJobSpec, validateFineTuneJobSpec } from '../../src/api/v1alpha1/index.ts';

/** The smallest valid spec: everything else defaulted. */
export function minimalSpec(): Record<string, unknown> {
  return {
    task: { type: 'ImageClassification', numClasses: 3 },
    model: { uri: 'file:///models/base/model.json', input: { shape: [64, 64, 3] } },
    dataset: { uri: 'file:///data/images', format: 'ImageFolder' },
    output: { uri: 'file:///out/model' },
  };
}

export function validSpec(input: unknown): FineTuneJobSpec {
  const result = validateFineTuneJobSpec(input);
  assert.ok(result.valid, `expected a valid spec, got: ${result.valid ? '' : result.errors.join('; ')}`);
  return result.spec;
}

export function specErrors(input: unknown): string[] {
  const result = validateFineTuneJobSpec(input);
  assert.ok(!result.valid, 'expected the spec to be rejected');
  return result.errors;
}

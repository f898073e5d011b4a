import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateFineTuneJobSpec, validateFineTuneScheduleSpec } from '../../src/api/v1alpha1/index.ts';
import { exampleManifests, invalidFineTuneJobs } from '../support/manifests.ts';
import { minimalSpec, specErrors, validSpec } from './spec-fixtures.ts';

describe('FineTuneJob cross-field rules', () => {
  for (const manifest of invalidFineTuneJobs()) {
    const field = manifest.metadata.annotations!['test.finetune.dev/field']!;
    it(`rejects ${manifest.metadata.name}, naming ${field}`, () => {
      const errors = specErrors(manifest.spec);
      assert.ok(
        errors.some((e) => e.includes(field)),
        `no error names ${field}: ${errors.join(' | ')}`,
      );
    });
  }

  it('says how to fix a fine-tune rate that is too high', () => {
    const errors = specErrors({
      ...minimalSpec(),
      stages: [{ name: 'head' }, { name: 'ft', unfreeze: { policy: 'All' }, optimizer: { learningRate: 1e-3 } }],
    });
    assert.match(errors.join('\n'), /spec\.stages\[1\]\.optimizer\.learningRate: .*lower it .*allowHighLearningRate/);
  });

  it('asks for per-channel normalisation values in words that fit the image: one channel, or one or three', () => {
    const model = (shape: number[], mean: number[]) => ({
      ...minimalSpec(),
      model: { uri: 'file:///models/base/model.json', input: { shape, mean } },
    });
    assert.match(
      specErrors(model([28, 28, 1], [0.1, 0.2])).join('\n'),
      /spec\.model\.input\.mean: needs 1 value \(the image has one channel\), got 2$/m,
    );
    assert.match(
      specErrors(model([64, 64, 3], [0.1, 0.2])).join('\n'),
      /spec\.model\.input\.mean: needs 1 value \(all channels\) or 3 \(one per channel\), got 2$/m,
    );
  });

  it('accepts a high fine-tune rate when allowHighLearningRate forces it', () => {
    validSpec({
      ...minimalSpec(),
      stages: [
        { name: 'head' },
        { name: 'ft', unfreeze: { policy: 'All' }, optimizer: { learningRate: 1e-3, allowHighLearningRate: true } },
      ],
    });
  });

  it('reports every problem at once, schema and cross-field alike', () => {
    const errors = specErrors({
      ...minimalSpec(),
      batchSize: 0,
      model: { uri: 'ftp://x', input: { shape: [64, 64] } },
    });
    for (const field of ['spec.batchSize', 'spec.model.uri', 'spec.model.input.shape']) {
      assert.ok(
        errors.some((e) => e.startsWith(`${field}:`)),
        `missing ${field} in ${errors.join(' | ')}`,
      );
    }
  });

  it('names an unknown field and points to kubectl explain', () => {
    const [error] = specErrors({ ...minimalSpec(), batchsize: 8 });
    assert.equal(error, 'spec: unknown field "batchsize" (check spelling; see kubectl explain)');
  });

  it('never throws on garbage', () => {
    for (const input of [null, 42, 'spec', [], { task: null }]) {
      assert.equal(validateFineTuneJobSpec(input).valid, false);
    }
  });
});

describe('FineTuneSchedule rules', () => {
  const schedule = (overrides: Record<string, unknown>) => ({
    schedule: '0 3 * * *',
    jobTemplate: { spec: minimalSpec() },
    ...overrides,
  });

  it('accepts a 5-field schedule in an IANA time zone and defaults concurrency to Forbid', () => {
    const result = validateFineTuneScheduleSpec(schedule({ timeZone: 'Europe/Berlin' }));
    assert.ok(result.valid);
    assert.equal(result.spec.concurrencyPolicy, 'Forbid');
  });

  for (const [cron, why] of [
    ['0 3 * *', 'four fields'],
    ['0 0 3 * * *', 'six fields (seconds)'],
    ['61 * * * *', 'minute out of range'],
  ]) {
    it(`rejects "${cron}" (${why}) naming spec.schedule`, () => {
      const result = validateFineTuneScheduleSpec(schedule({ schedule: cron }));
      assert.ok(!result.valid && result.errors.some((e) => e.startsWith('spec.schedule:')), JSON.stringify(result));
    });
  }

  it('rejects an unknown time zone naming spec.timeZone', () => {
    const result = validateFineTuneScheduleSpec(schedule({ timeZone: 'Mars/Olympus' }));
    assert.ok(!result.valid && result.errors.some((e) => e.startsWith('spec.timeZone: unknown time zone')));
  });

  it('checks the job template with the FineTuneJob rules, naming the nested field', () => {
    const result = validateFineTuneScheduleSpec(
      schedule({ jobTemplate: { spec: { ...minimalSpec(), stages: [{ name: 'ft', unfreeze: { policy: 'All' } }] } } }),
    );
    assert.ok(
      !result.valid && result.errors.some((e) => e.startsWith('spec.jobTemplate.spec.stages[0].unfreeze.policy:')),
      JSON.stringify(result),
    );
  });
});

describe('examples/', () => {
  for (const { file, manifest } of exampleManifests()) {
    it(`${file}: ${manifest.kind} ${manifest.metadata.name} is valid`, () => {
      const result =
        manifest.kind === 'FineTuneSchedule'
          ? validateFineTuneScheduleSpec(manifest.spec)
          : validateFineTuneJobSpec(manifest.spec);
      assert.ok(result.valid, result.valid ? '' : result.errors.join('\n'));
    });
  }
});

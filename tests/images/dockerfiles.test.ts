// The images cannot be built here (no Docker engine): what can be checked by reading them is checked.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { CUDA_CACHE } from '../../src/operator/reconcile/trainer-pod.ts';
import { ROOT } from '../support/paths.ts';

const dockerfile = (image: string) => readFileSync(join(ROOT, 'images', image, 'Dockerfile'), 'utf8');
const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

/** The build-context sources of each COPY (not --from=...), relative to the repository root. */
function copiedSources(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => /^COPY\s/.test(line) && !/--from=/.test(line))
    .flatMap((line) =>
      line
        .replace(/^COPY\s+/, '')
        .split(/\s+/)
        .slice(0, -1),
    );
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe('the Dockerfiles, by reading them', () => {
  for (const image of ['operator', 'trainer', 'predictor']) {
    it(`${image}: every COPY source exists and is in the build context (.dockerignore)`, () => {
      const sources = copiedSources(dockerfile(image));
      assert.ok(sources.length > 0);
      for (const source of sources) {
        assert.ok(existsSync(join(ROOT, source)), `${source} does not exist`);
        assert.ok(
          !ignored.some((pattern) => source === pattern || source.startsWith(`${pattern}/`)),
          `${source} is excluded by .dockerignore`,
        );
      }
    });
  }

  it('operator: the build stage copies every file its scripts and sources import', () => {
    const copied = copiedSources(dockerfile('operator')).filter((s) => s.endsWith('.ts') || s.startsWith('src/'));
    const files = copied.flatMap((source) =>
      source.endsWith('.ts') ? [join(ROOT, source)] : filesUnder(join(ROOT, source)).filter((f) => f.endsWith('.ts')),
    );
    for (const file of files) {
      for (const [, specifier] of readFileSync(file, 'utf8').matchAll(/from '(\.{1,2}\/[^']+)'/g)) {
        const target = relative(ROOT, resolve(dirname(file), specifier!));
        assert.ok(
          copied.some((source) => target === source || target.startsWith(`${source}/`)),
          `${relative(ROOT, file)} imports ${target}, which the image lacks`,
        );
      }
    }
  });

  it('trainer: everything the trainer imports is copied (src/trainer, src/api and src/report, nothing else)', () => {
    const copied = copiedSources(dockerfile('trainer')).filter((s) => s.startsWith('src/'));
    assert.deepEqual(copied.sort(), ['src/api', 'src/report', 'src/trainer']);
    for (const file of filesUnder(join(ROOT, 'src', 'trainer')).filter((f) => f.endsWith('.ts'))) {
      for (const [, specifier] of readFileSync(file, 'utf8').matchAll(/from '(\.{1,2}\/[^']+)'/g)) {
        const target = relative(ROOT, resolve(dirname(file), specifier!));
        assert.ok(
          copied.some((dir) => target.startsWith(`${dir}/`)),
          `${relative(ROOT, file)} imports ${target}, which the image lacks`,
        );
      }
    }
  });

  it("predictor: copies the trainer's sources beside its own (the same preprocessing), and everything they import", () => {
    const copied = copiedSources(dockerfile('predictor')).filter((s) => s.startsWith('src/'));
    assert.deepEqual(copied.sort(), ['src/api', 'src/predictor', 'src/report', 'src/trainer']);
    for (const file of filesUnder(join(ROOT, 'src', 'predictor')).filter((f) => f.endsWith('.ts'))) {
      for (const [, specifier] of readFileSync(file, 'utf8').matchAll(/from '(\.{1,2}\/[^']+)'/g)) {
        const target = relative(ROOT, resolve(dirname(file), specifier!));
        assert.ok(
          copied.some((dir) => target.startsWith(`${dir}/`)),
          `${relative(ROOT, file)} imports ${target}, which the image lacks`,
        );
      }
    }
    assert.match(dockerfile('predictor'), /^ENTRYPOINT \["node", "src\/predictor\/main\.ts"\]$/m);
  });

  it("trainer: fails to build without tfjs-node-gpu's binding and libtensorflow, and keeps CUDA's JIT cache where the pod mounts it", () => {
    const text = dockerfile('trainer');
    assert.match(
      text,
      /^RUN ls node_modules\/@tensorflow\/tfjs-node-gpu\/lib\/napi-v\*\/tfjs_binding\.node \\\n\s+node_modules\/@tensorflow\/tfjs-node-gpu\/deps\/lib\/libtensorflow\.so\.2 .*\n\s+\|\| \{ .*exit 1; \}$/m,
    );
    assert.ok(
      text.indexOf('tfjs_binding.node') < text.indexOf('FROM nvidia/cuda'),
      'checked in the stage that installs it',
    );
    assert.match(text, new RegExp(`CUDA_CACHE_PATH=${CUDA_CACHE.path} CUDA_CACHE_MAXSIZE=${CUDA_CACHE.maxBytes}`));
  });
});

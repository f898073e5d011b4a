import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { customResourceDefinitions, fineTuneJobCRD } from '../../src/api/crd/custom-resource-definitions.ts';
import { API_REFERENCE, renderApiReference } from '../../src/api/crd/render-api-reference.ts';
import { CRD_DIRS, renderCRDs } from '../../src/api/crd/render-crds.ts';
import { type JSONSchemaProps, toStructuralSchema } from '../../src/api/crd/structural-schema.ts';
import { ROOT } from '../support/paths.ts';

function* nodes(schema: JSONSchemaProps, path = ''): Generator<[string, JSONSchemaProps]> {
  yield [path, schema];
  for (const [name, child] of Object.entries(schema.properties ?? {})) yield* nodes(child, `${path}.${name}`);
  if (schema.items) yield* nodes(schema.items, `${path}[]`);
  if (schema.additionalProperties) yield* nodes(schema.additionalProperties, `${path}.*`);
}

describe('generated CRDs', () => {
  for (const dir of CRD_DIRS) {
    it(`match the committed ${dir}/ (run \`npm run gen:crds\` after changing src/api)`, () => {
      const rendered = renderCRDs();
      assert.deepEqual(readdirSync(join(ROOT, dir)).sort(), Object.keys(rendered).sort());
      for (const [file, text] of Object.entries(rendered)) {
        assert.equal(readFileSync(join(ROOT, dir, file), 'utf8'), text, `${dir}/${file} is stale`);
      }
    });
  }

  it(`match the committed ${API_REFERENCE}, which lists every field of every CRD (run \`npm run gen:crds\`)`, () => {
    const reference = renderApiReference();
    assert.equal(readFileSync(join(ROOT, API_REFERENCE), 'utf8'), reference, `${API_REFERENCE} is stale`);
    for (const crd of Object.values(customResourceDefinitions())) {
      const schema = crd.spec.versions[0]!.schema.openAPIV3Schema;
      for (const part of ['spec', 'status'] as const)
        for (const [path, node] of nodes(schema.properties![part]!, part)) {
          if (path === part || path.endsWith('.*') || path.endsWith('[]')) continue;
          assert.ok(reference.includes(`| \`${path}\` |`), `${crd.spec.names.kind} ${path} is in the reference`);
          if (node.description)
            assert.ok(reference.includes(node.description.replace(/\|/g, '\\|').replace(/\n/g, ' ')));
        }
    }
  });

  it('are structural: every node typed (or int-or-string), no unions, references or defaults', () => {
    for (const crd of Object.values(customResourceDefinitions())) {
      for (const [path, node] of nodes(crd.spec.versions[0]!.schema.openAPIV3Schema)) {
        assert.ok(node.type || node['x-kubernetes-int-or-string'], `${crd.metadata.name}${path} has no type`);
        for (const key of ['anyOf', 'oneOf', 'allOf', '$ref', 'default']) {
          assert.ok(!(key in node), `${crd.metadata.name}${path} has ${key}`);
        }
        assert.ok(
          !(node.properties && node.additionalProperties),
          `${crd.metadata.name}${path} mixes properties and additionalProperties`,
        );
      }
    }
  });

  it('show each default in the field description that kubectl explain prints', () => {
    const spec = fineTuneJobCRD().spec.versions[0]!.schema.openAPIV3Schema.properties!['spec']!;
    assert.match(spec.properties!['head']!.properties!['dropout']!.description!, /Default: 0\.2\./);
    assert.match(spec.properties!['batchSize']!.description!, /Default: 32\./);
  });

  it('keep conditions and stage history as list-maps, so server-side apply merges them per key', () => {
    const status = fineTuneJobCRD().spec.versions[0]!.schema.openAPIV3Schema.properties!['status']!;
    assert.deepEqual(status.properties!['conditions']!['x-kubernetes-list-map-keys'], ['type']);
    assert.deepEqual(status.properties!['stages']!['x-kubernetes-list-map-keys'], ['name']);
  });

  it('refuse a zod union, which no structural schema can express', () => {
    assert.throws(
      () => toStructuralSchema(z.object({ a: z.union([z.string(), z.number()]) })),
      /\.a: unions and references/,
    );
  });

  it('refuse a node without a type', () => {
    assert.throws(
      () => toStructuralSchema(z.object({ a: z.unknown() })),
      /\.a: every node of a structural schema needs a type/,
    );
  });
});

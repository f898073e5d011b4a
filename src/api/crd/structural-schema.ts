import { z } from 'zod';

/** An OpenAPI v3 schema node as apiextensions.k8s.io/v1 accepts it. */
export interface JSONSchemaProps {
  type?: string;
  description?: string;
  properties?: Record<string, JSONSchemaProps>;
  additionalProperties?: JSONSchemaProps;
  items?: JSONSchemaProps;
  required?: string[];
  enum?: unknown[];
  [key: string]: unknown;
}

const SAFE = Number.MAX_SAFE_INTEGER;
const STRUCTURAL_KEYS = new Set([
  'type',
  'nullable',
  'description',
  'properties',
  'additionalProperties',
  'items',
  'required',
  'enum',
  'format',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minProperties',
  'maxProperties',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-int-or-string',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
]);

/**
 * Converts a zod schema into a structural schema: every node typed, no $ref,
 * no anyOf, free-form only where marked. Defaults are applied by zod in the
 * operator and trainer (one place), so they move into the description, which
 * `kubectl explain` shows.
 */
export function toStructuralSchema(schema: z.ZodType): JSONSchemaProps {
  const json = z.toJSONSchema(schema, {
    target: 'openapi-3.0',
    io: 'input',
    reused: 'inline',
    unrepresentable: 'throw',
  });
  return structural(json as Record<string, unknown>, '');
}

function structural(node: Record<string, unknown>, at: string): JSONSchemaProps {
  const description = withDefault(node['description'] as string | undefined, node['default']);
  if (node['x-kubernetes-int-or-string']) {
    return { 'x-kubernetes-int-or-string': true, ...(description ? { description } : {}) };
  }
  if (node['anyOf'] || node['oneOf'] || node['allOf'] || node['$ref']) {
    throw new Error(
      `${at || '(root)'}: unions and references make a schema non-structural; model it as optional fields checked by a refinement`,
    );
  }
  const out: JSONSchemaProps = {};
  for (const [key, value] of Object.entries(node)) {
    if (!STRUCTURAL_KEYS.has(key)) continue;
    if (key === 'properties') {
      const props = Object.entries(value as Record<string, Record<string, unknown>>);
      if (props.length)
        out.properties = Object.fromEntries(props.map(([name, child]) => [name, structural(child, `${at}.${name}`)]));
    } else if (key === 'additionalProperties') {
      if (
        typeof value === 'object' &&
        value &&
        Object.keys(value).length &&
        !node['x-kubernetes-preserve-unknown-fields']
      ) {
        out.additionalProperties = structural(value as Record<string, unknown>, `${at}.*`);
      }
    } else if (key === 'items') {
      out.items = structural(value as Record<string, unknown>, `${at}[]`);
    } else if ((key === 'minimum' && value === -SAFE) || (key === 'maximum' && value === SAFE)) {
      continue;
    } else if (key === 'format' && value !== 'date-time') {
      continue;
    } else if (key === 'pattern' && node['format'] === 'date-time') {
      continue;
    } else {
      out[key] = value;
    }
  }
  if (description) out.description = description;
  if (!out.type) throw new Error(`${at || '(root)'}: every node of a structural schema needs a type`);
  return out;
}

function withDefault(description: string | undefined, value: unknown): string | undefined {
  const shown =
    value === undefined || (typeof value === 'object' && value !== null && Object.keys(value).length === 0)
      ? undefined
      : JSON.stringify(value);
  if (!shown || description?.includes('Default')) return description;
  return `${description ? `${description} ` : ''}Default: ${shown}.`;
}

import type { z } from 'zod';

/** Renders a zod issue path the way `kubectl explain` names fields: spec.stages[1].optimizer.learningRate. */
export function fieldPath(root: string, path: readonly PropertyKey[]): string {
  let out = root;
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

/** One line per problem, each naming the field. */
export function describeIssues(error: z.ZodError, root = ''): string[] {
  return error.issues.map((issue) => {
    const keys =
      issue.code === 'unrecognized_keys'
        ? `: unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (check spelling; see kubectl explain)`
        : `: ${issue.message}`;
    return `${fieldPath(root, issue.path) || '(root)'}${keys}`;
  });
}

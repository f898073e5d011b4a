import { type Condition, ConditionType } from '../../api/v1alpha1/index.ts';

/**
 * Sets a condition the metav1 way: lastTransitionTime changes only when the
 * status flips, so an unchanged condition produces an unchanged status (and
 * no API write). The list is kept in ConditionType's order.
 */
export function setCondition(
  conditions: Condition[],
  next: { type: string; status: 'True' | 'False'; reason: string; message?: string },
  now: string,
  generation: number | undefined,
  order: readonly string[] = JOB_ORDER,
): Condition[] {
  const current = conditions.find((c) => c.type === next.type);
  const condition: Condition = {
    type: next.type,
    status: next.status,
    reason: next.reason,
    message: next.message ?? '',
    lastTransitionTime: current && current.status === next.status ? current.lastTransitionTime : now,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
  // The headline condition first (kubectl's Reason column shows the first True one); unknown types last.
  const rank = (type: string) => (order.includes(type) ? order.indexOf(type) : order.length);
  return [...conditions.filter((c) => c.type !== next.type), condition].sort((a, b) => rank(a.type) - rank(b.type));
}

const JOB_ORDER: readonly string[] = Object.values(ConditionType);

export const isTrue = (conditions: Condition[] | undefined, type: string) =>
  conditions?.some((c) => c.type === type && c.status === 'True') ?? false;

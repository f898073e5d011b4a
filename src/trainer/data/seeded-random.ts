/** mulberry32: a small, fast PRNG, so shuffles, splits and augmentation repeat for a given seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A seeded Fisher-Yates shuffle (returns a new array). */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const random = seededRandom(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Splits examples per class, so each class keeps its share in both parts (seeded). */
export function stratifiedSplit<T extends { label: number }>(
  items: readonly T[],
  fraction: number,
  seed: number,
): { train: T[]; validation: T[] } {
  const byLabel = new Map<number, T[]>();
  for (const item of items) byLabel.set(item.label, [...(byLabel.get(item.label) ?? []), item]);
  const train: T[] = [];
  const validation: T[] = [];
  for (const [label, group] of [...byLabel].sort(([a], [b]) => a - b)) {
    const mixed = shuffled(group, seed + label);
    const held = Math.round(mixed.length * fraction);
    validation.push(...mixed.slice(0, held));
    train.push(...mixed.slice(held));
  }
  return { train: shuffled(train, seed), validation };
}

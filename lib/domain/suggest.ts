import { distance } from 'fastest-levenshtein';

/**
 * Did-you-mean: the candidate closest to what was typed, when it is close enough to be a typo (at
 * most a third of its letters off, and at most 2), else undefined. Case is ignored.
 */
export function closest(typed: string, candidates: readonly string[]): string | undefined {
  const word = typed.toLowerCase();
  let best: { candidate: string; cost: number } | undefined;
  for (const candidate of candidates) {
    const cost = distance(word, candidate.toLowerCase());
    if (!best || cost < best.cost) best = { candidate, cost };
  }
  if (!best || best.cost === 0) return best?.candidate;
  const allowed = Math.min(2, Math.floor(Math.max(word.length, best.candidate.length) / 2));
  return best.cost <= allowed ? best.candidate : undefined;
}

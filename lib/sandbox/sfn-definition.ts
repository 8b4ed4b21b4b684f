import { isPlainObject } from '../domain/plain-object';

/**
 * Rewrites a definition, without changing its meaning under the Amazon States Language, where
 * aws-local-stepfunctions (v3) would run it differently from AWS.
 *
 * - `ResultPath: "$"` (what CDK emits for `JsonPath.entirePayload`, our Collect state) means "the
 *   result replaces the input", exactly as an absent ResultPath does. The library instead stores
 *   the result under a key named "$". The same holds for a Catcher's ResultPath. Dropping it is
 *   equivalent in ASL and right in the library.
 */
export function adaptDefinition<T extends object>(definition: T): T {
  const copy = structuredClone(definition);
  adaptMachine(copy);
  return copy;
}

function adaptMachine(machine: unknown): void {
  if (!isPlainObject(machine) || !isPlainObject(machine.States)) return;
  for (const state of Object.values(machine.States)) {
    if (!isPlainObject(state)) continue;
    if (state.ResultPath === '$') delete state.ResultPath;
    if (Array.isArray(state.Catch)) {
      for (const catcher of state.Catch)
        if (isPlainObject(catcher) && catcher.ResultPath === '$') delete catcher.ResultPath;
    }
    if (Array.isArray(state.Branches)) state.Branches.forEach(adaptMachine);
    adaptMachine(state.Iterator);
    adaptMachine(state.ItemProcessor);
  }
}

/**
 * zod 4's tree-shakable API (`zod/mini`, functional: `z.optional(z.string().check(z.regex(re)))`),
 * for code that runs in a Lambda: a schema costs ~15 KB of bundle with it, against ~450 KB with
 * `import { z } from 'zod'`, whose classic API does not tree-shake (BENCHMARKS.md, figure 4).
 * Same library, same parsing and the same issues; only the messages need this: `zod/mini` has no
 * locale of its own ("Invalid input" for everything), classic zod loads English, so this module
 * does too (`zod/locales`' `en` alone: `z.locales.en` would bundle every locale).
 *
 *   import * as z from '../domain/zod';
 */
import { en } from 'zod/locales';
import { config } from 'zod/mini';

config(en());

export * from 'zod/mini';

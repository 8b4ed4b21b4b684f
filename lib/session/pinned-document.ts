import { requireEnv } from '../config';
import { DebugTaskError } from '../domain/errors';

/**
 * The document as this deployment made it: its name, and the version and sha256 that the stack
 * read right after creating that version (lib/infra/command-document.ts, DOCUMENT_VERSION and
 * DOCUMENT_HASH). SendCommand names both: a version someone adds later (ssm:UpdateDocument) is
 * never run, and SSM refuses the call if the version's content is not the one hashed.
 */
export interface PinnedDocument {
  readonly name: string;
  readonly version: string;
  readonly hash: string;
}

export function pinnedDocument(): PinnedDocument {
  const version = requireEnv('DOCUMENT_VERSION');
  const hash = requireEnv('DOCUMENT_HASH');
  if (!/^[1-9][0-9]*$/.test(version)) {
    throw new DebugTaskError(
      'AWS_ERROR',
      `DOCUMENT_VERSION is "${version.slice(0, 40)}"; it must be the number of the version this deployment created, never $LATEST or $DEFAULT.`,
      { hint: 'Redeploy the stack: it sets DOCUMENT_VERSION from the document it created.' },
    );
  }
  if (!/^[a-f0-9]{64}$/.test(hash)) {
    throw new DebugTaskError('AWS_ERROR', 'DOCUMENT_HASH is not a sha256 (64 hex digits).', {
      hint: 'Redeploy the stack: it sets DOCUMENT_HASH from the document it created.',
    });
  }
  return { name: requireEnv('DOCUMENT_NAME'), version, hash };
}

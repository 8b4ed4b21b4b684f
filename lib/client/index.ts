/**
 * `import { DebugTaskClient } from 'debug-task/client'`: the typed client of a deployment's API, with
 * the types of what it sends and answers, and the error every failure is thrown as. No CDK code is
 * loaded from here.
 */
export { DebugTaskClient, type DebugTaskClientOptions, type SessionScope } from './api-client';
export { DebugTaskError, ERROR_CODES, type ErrorBody, type ErrorCode } from '../domain/errors';
export type { SessionRequest, TaskTarget, ServiceTarget } from '../domain/session-spec';
export type {
  ArtifactFacts,
  ArtifactRef,
  ChildResult,
  ReuploadStarted,
  ReuploadView,
  SessionKind,
  SessionResult,
  SessionStatus,
  SessionSummary,
  SessionView,
  SkippedTask,
  TargetsPreview,
  ToolOutcome,
} from '../domain/session';
export type {
  CheckStatus,
  DoctorCheck,
  DoctorCheckName,
  DoctorReport,
  DoctorRequest,
} from '../domain/doctor';
export type { ToolName } from '../domain/tools';
export type { ChunkList, ChunkRef, FollowFacts } from '../domain/follow';

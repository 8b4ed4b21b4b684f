import { DebugTaskError, EXIT, exitCodeFor, type ErrorCode } from './errors';

/**
 * `debug-task doctor <task>`: every precondition of a session, checked in order, nothing started.
 *
 * The CLI checks the first two itself (it is the one holding the credentials and the URL); the
 * api function (POST /doctor) checks the rest, running Resolve's own code for the target checks.
 */

/** Checked by the CLI. */
export const CLIENT_CHECKS = ['credentials', 'api'] as const;

/** Checked by Plan's one-task resolver (lib/session/resolve-task.ts), in the order it checks them. */
export const TARGET_CHECKS = [
  'cluster-allowed',
  'task-found',
  'task-running',
  'has-host',
  'container-chosen',
  'instance-managed',
  'agent-online',
  'platform-supported',
  'agent-version',
] as const;

/** The deployment's policy on a capture of the resolved target by this caller, with this tool. */
export const POLICY_CHECKS = ['policy-allows'] as const;

/** Checked by the api function about its own deployment; they do not depend on the target. */
export const DEPLOYMENT_CHECKS = ['image-pinned', 'bucket-writable'] as const;

export const DOCTOR_CHECKS = [
  ...CLIENT_CHECKS,
  ...TARGET_CHECKS,
  ...POLICY_CHECKS,
  ...DEPLOYMENT_CHECKS,
] as const;

/**
 * `debug-task doctor --stack`: the deployment itself, end to end, no task and nothing started. The
 * CLI checks the first three (the credentials, the stack through CloudFormation, the API); POST
 * /doctor (the doctor function) checks the rest about its own deployment.
 */
export const STACK_CLIENT_CHECKS = ['credentials', 'stack', 'api'] as const;

/** Checked by the doctor function (lib/api/stack-doctor.ts), in this order. */
export const STACK_SERVER_CHECKS = [
  'document-pinned',
  'image-pinned',
  'image-present',
  'bucket-writable',
  'hosts-ready',
  'policy-loaded',
] as const;

export const STACK_DOCTOR_CHECKS = [...STACK_CLIENT_CHECKS, ...STACK_SERVER_CHECKS] as const;

/** The body of POST /doctor: the cluster whose hosts to check (else the deployment's allowed ones). */
export interface StackDoctorRequest {
  cluster?: string;
}

export type DoctorCheckName = (typeof DOCTOR_CHECKS)[number] | (typeof STACK_DOCTOR_CHECKS)[number];
export type TargetCheckName = (typeof TARGET_CHECKS)[number];

/**
 * `warning`: worth fixing, but a session would still run (e.g. a toolbox image referenced by tag
 * rather than digest); it does not change the exit code.
 */
export type CheckStatus = 'ok' | 'failed' | 'skipped' | 'warning';

export interface DoctorCheck {
  name: DoctorCheckName;
  status: CheckStatus;
  /** What was found, or what was wrong (the error's message). */
  detail: string;
  /** What to do next, for failed and warning checks. */
  hint?: string;
  /** The error code of a failed check: it decides the CLI's exit code. */
  code?: ErrorCode;
}

/** Where the api function writes (and at once deletes) its "bucket writable" probe. */
export const DOCTOR_PROBE_PREFIX = 'doctor/';

/** POST /doctor answers this (200) whatever the checks found; `ok` is false when one failed. */
export interface DoctorReport {
  checks: DoctorCheck[];
  ok: boolean;
}

/** The body of POST /doctor: the target of POST /sessions, and optionally the tool. */
export interface DoctorRequest {
  target: { task: string; cluster?: string; container?: string };
  tool?: string;
}

export function doctorReport(checks: DoctorCheck[]): DoctorReport {
  return { checks, ok: !checks.some((check) => check.status === 'failed') };
}

/** The checks that were not run because `failed` failed first. */
export function skippedAfter(failed: DoctorCheckName, names: readonly DoctorCheckName[]): DoctorCheck[] {
  return names.map((name) => ({ name, status: 'skipped', detail: `not checked: ${failed} failed` }));
}

/** 0 when nothing failed, else the exit code of the first failed check's error code. */
export function doctorExitCode(checks: readonly DoctorCheck[]): number {
  const failed = checks.find((check) => check.status === 'failed');
  if (!failed) return EXIT.OK;
  return failed.code ? exitCodeFor(failed.code) : EXIT.INFRA;
}

/** A failed check from what was thrown: the typed error's code, message and hint, nothing internal. */
export function failedCheck(name: DoctorCheckName, error: unknown): DoctorCheck {
  const typed =
    error instanceof DebugTaskError
      ? error
      : new DebugTaskError(
          'AWS_ERROR',
          `The ${name} check failed unexpectedly (${error instanceof Error ? error.name : typeof error}).`,
          { cause: error },
        );
  return { name, status: 'failed', code: typed.code, detail: typed.message, hint: typed.hint };
}

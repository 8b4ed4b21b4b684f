import type { HttpEvent, HttpResult } from '../lib/api/http';
import { apiConfig, handleApiRequest } from '../lib/api/routes';
import {
  handleTriggerInvocation,
  isTriggerInvocation,
  type TriggerInvocation,
  type TriggerResult,
} from '../lib/triggers/dispatch';

/**
 * HTTP API (IAM auth): POST /sessions, GET /sessions, GET /sessions/{id}, DELETE /sessions/{id},
 * POST /sessions/{id}/reupload, GET /sessions/{id}/reupload/{reuploadId}.
 * And the deployment's triggers: their EventBridge rules invoke it with the trigger's name (lib/triggers).
 */
export function handler(event: HttpEvent): Promise<HttpResult>;
export function handler(event: TriggerInvocation): Promise<TriggerResult>;
export function handler(event: HttpEvent | TriggerInvocation): Promise<HttpResult | TriggerResult> {
  return isTriggerInvocation(event) ? handleTriggerInvocation(event, apiConfig()) : handleApiRequest(event);
}

import { handleApiRequest } from '../lib/api/routes';

/**
 * HTTP API (IAM auth): POST /sessions, GET /sessions, GET /sessions/{id}, DELETE /sessions/{id},
 * POST /sessions/{id}/reupload, GET /sessions/{id}/reupload/{reuploadId}.
 */
export const handler = handleApiRequest;

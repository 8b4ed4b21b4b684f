import { handleDoctorRequest } from '../lib/api/doctor-routes';
import type { HttpEvent } from '../lib/api/http';

/**
 * HTTP API routes that check and start nothing: POST /clusters/{cluster}/doctor (a task's
 * preconditions, by Plan's own target checks) and POST /doctor (the deployment itself), in
 * lib/api/doctor-routes.ts.
 */
export const handler = (event: HttpEvent) => handleDoctorRequest(event);

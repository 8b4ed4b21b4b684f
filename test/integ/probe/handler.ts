import { defaultClients, environmentFromProcess, Probe, type ProbeEvent } from './probe';

/** The integration test's probe function (see probe.ts): parse nothing, run the action, return its verdict. */
const probe = new Probe(environmentFromProcess(), defaultClients());

export const handler = (event: ProbeEvent): Promise<unknown> => probe.run(event);

/**
 * What the testbed costs per hour while it runs, in us-east-1 on-demand prices (other regions are
 * typically 10 to 30 % higher). Shown by `npm run test:aws` before it asks to go on, and in the
 * README. The prices were read from the sources named, not from AWS's Price List API: check
 * https://aws.amazon.com/pricing/ before relying on them.
 */
export interface CostLine {
  readonly what: string;
  readonly quantity: number;
  /** US dollars per unit and hour. */
  readonly usdPerHour: number;
  readonly source: string;
}

export const TESTBED_COST_PER_HOUR: readonly CostLine[] = [
  {
    what: 't3.small container instance (Linux, on-demand)',
    quantity: 1,
    usdPerHour: 0.0208,
    source: 'aws.amazon.com/ec2/pricing/on-demand (us-east-1)',
  },
  {
    what: 'gp3 root volume, 30 GB at $0.08 per GB-month (730 h)',
    quantity: 30,
    usdPerHour: 0.08 / 730,
    source: 'aws.amazon.com/ebs/pricing (us-east-1)',
  },
  {
    what: 'public IPv4 addresses (the instance, the Fargate task)',
    quantity: 2,
    usdPerHour: 0.005,
    source: 'aws.amazon.com/vpc/pricing, "Public IPv4 address" (since 2024-02-01)',
  },
  {
    what: 'Fargate task, 0.25 vCPU at $0.04048 per vCPU-hour',
    quantity: 0.25,
    usdPerHour: 0.04048,
    source: 'aws.amazon.com/fargate/pricing (Linux/x86, us-east-1)',
  },
  {
    what: 'Fargate task, 0.5 GB at $0.004445 per GB-hour',
    quantity: 0.5,
    usdPerHour: 0.004445,
    source: 'aws.amazon.com/fargate/pricing (Linux/x86, us-east-1)',
  },
];

/** What the testbed avoids, for comparison (each would cost more per hour than the whole testbed). */
export const AVOIDED_COST_PER_HOUR = {
  natGateway: 0.045,
  interfaceEndpointPerAz: 0.01,
} as const;

/** The testbed's cost per hour, rounded up to a tenth of a cent. */
export function testbedCostPerHour(lines: readonly CostLine[] = TESTBED_COST_PER_HOUR): number {
  const total = lines.reduce((sum, line) => sum + line.quantity * line.usdPerHour, 0);
  return Math.ceil(total * 1000) / 1000;
}

import { allowedClustersFromEnv } from '../../lib/config';

/** ALLOWED_CLUSTERS is read by Plan's target checks, the sweeper and `doctor --stack`: one reading. */
describe('allowedClustersFromEnv', () => {
  const saved = process.env.ALLOWED_CLUSTERS;
  afterEach(() => {
    if (saved === undefined) delete process.env.ALLOWED_CLUSTERS;
    else process.env.ALLOWED_CLUSTERS = saved;
  });

  it('gives no cluster (any cluster allowed) when the variable is unset or empty', () => {
    delete process.env.ALLOWED_CLUSTERS;
    expect(allowedClustersFromEnv()).toEqual([]);

    process.env.ALLOWED_CLUSTERS = '';
    expect(allowedClustersFromEnv()).toEqual([]);
  });

  it('gives no cluster for a value of only commas and spaces', () => {
    process.env.ALLOWED_CLUSTERS = ' , ,';

    expect(allowedClustersFromEnv()).toEqual([]);
  });

  it('splits on commas, trims the names and drops empty entries, keeping the order', () => {
    process.env.ALLOWED_CLUSTERS = ' prod, staging ,,sandbox,';

    expect(allowedClustersFromEnv()).toEqual(['prod', 'staging', 'sandbox']);
  });

  it('lists a name given twice once', () => {
    process.env.ALLOWED_CLUSTERS = 'prod,staging, prod';

    expect(allowedClustersFromEnv()).toEqual(['prod', 'staging']);
  });
});

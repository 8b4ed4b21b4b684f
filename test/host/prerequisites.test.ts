import { findMissing, renderMissing } from '../prerequisites';

/** npm test's pretest on a machine that has everything (CI installs it all: .ci/run). */
describe("npm test's check of its prerequisites, on this machine", () => {
  it('finds nothing missing, so npm test goes on', async () => {
    const missing = await findMissing();

    expect(renderMissing(missing)).toBeUndefined();
  });
});

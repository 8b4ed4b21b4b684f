import { execFileSync } from 'node:child_process';

/**
 * Tests that need Docker call this first: on a developer machine without an engine they fail with
 * a clear message; under CI they fail too (never skip), so a missing engine cannot pass silently.
 */
export function requireDocker(): void {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    throw new Error(
      'These tests need a Docker engine: start it (`sudo systemctl start docker`), or on Debian/Ubuntu ' +
        'install it (`sudo apt-get install docker.io`). ' +
        (process.env.CI ? 'CI must provide one (.ci/run starts it).' : ''),
    );
  }
}

export function containersWithLabel(label: string): string[] {
  const out = execFileSync('docker', ['ps', '-aq', '--filter', `label=${label}`], {
    encoding: 'utf8',
  }).trim();
  return out ? out.split('\n') : [];
}

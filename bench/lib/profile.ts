import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './proc';

/**
 * Where a short node process spends its time: runs it with --cpu-prof and sums the samples' self
 * time by origin (an npm package, a file of ours, node's own internals), in ms.
 */
export async function cpuProfile(
  args: string[],
  dir: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ totalMs: number; byOrigin: Record<string, number> }> {
  await rm(dir, { recursive: true, force: true });
  await run(process.execPath, ['--cpu-prof', '--cpu-prof-interval', '200', '--cpu-prof-dir', dir, ...args], {
    env,
    timeoutMs: 60_000,
  });
  const file = (await readdir(dir)).find((name) => name.endsWith('.cpuprofile'));
  if (!file) throw new Error('node --cpu-prof wrote no profile');
  const profile = JSON.parse(await readFile(join(dir, file), 'utf8')) as {
    nodes: Array<{ id: number; callFrame: { url: string; functionName: string } }>;
    samples: number[];
    timeDeltas: number[];
  };
  const originOf = new Map<number, string>();
  for (const node of profile.nodes)
    originOf.set(node.id, origin(node.callFrame.url, node.callFrame.functionName));
  const byOrigin: Record<string, number> = {};
  let total = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    total += ms;
    const key = originOf.get(id) ?? '(unknown)';
    byOrigin[key] = (byOrigin[key] ?? 0) + ms;
  });
  const top = Object.entries(byOrigin)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([k, v]) => [k, Math.round(v * 10) / 10]);
  await rm(dir, { recursive: true, force: true });
  return { totalMs: Math.round(total), byOrigin: Object.fromEntries(top) };
}

function origin(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (pkg) return pkg;
  if (url.startsWith('node:')) return '(node internals)';
  const ours = /\/(dist\/)?((?:bin|lib|lambda)\/[^/]+)/.exec(url)?.[2];
  return ours ?? url.split('/').slice(-2).join('/');
}

import { readdirSync, readFileSync } from 'node:fs';
import { HarnessError } from './errors.ts';
import type { TestCluster } from './cluster.ts';

export type Component = 'etcd' | 'kube-apiserver' | 'kube-controller-manager';

/**
 * The pid of one component of a cluster: kube-testenv runs each as a child of its supervisor,
 * started as `kube-testenv <component> ...` (Linux /proc).
 */
export function componentPid(cluster: TestCluster, component: Component): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    let argv: string[];
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // gone meanwhile
    }
    // Fields after the command name in parentheses: state, then the parent pid.
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (parent === cluster.pid && argv[1] === component) return Number(entry);
  }
  throw new HarnessError(
    'COMPONENT_NOT_FOUND',
    `no ${component} process under kube-testenv ${String(cluster.pid)}`,
  );
}

/**
 * Stop a component with SIGSTOP, as a hung process or a frozen VM looks from outside: its
 * sockets still accept connections, and nothing answers. Resolves with a function that sends
 * SIGCONT; call it in a `finally`.
 */
export function pauseComponent(cluster: TestCluster, component: Component): () => void {
  const pid = componentPid(cluster, component);
  process.kill(pid, 'SIGSTOP');
  let resumed = false;
  return () => {
    if (resumed) return;
    resumed = true;
    process.kill(pid, 'SIGCONT');
  };
}

import { KubeConfig } from '@kubernetes/client-node';

export interface KubeFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  allNamespaces?: boolean;
}

/** A user error: printed as one line, exit code 1, never a stack trace. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

/**
 * The cluster and namespace kubectl would use for the same flags: --kubeconfig, else $KUBECONFIG
 * (paths joined by ':'), else ~/.kube/config (or in-cluster); --context, else the current context;
 * -n, else the context's namespace, else "default"; -A: every namespace.
 */
export function kubeContext(flags: KubeFlags): { kc: KubeConfig; namespace: string | undefined } {
  const kc = new KubeConfig();
  if (flags.kubeconfig) kc.loadFromFile(flags.kubeconfig);
  else kc.loadFromDefault();
  if (flags.context) {
    if (!kc.getContextObject(flags.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new CliError(
        `context "${flags.context}" not found in the kubeconfig${known.length ? ` (contexts: ${known.join(', ')})` : ''}`,
      );
    }
    kc.setCurrentContext(flags.context);
  }
  if (!kc.getCurrentCluster())
    throw new CliError('no cluster: set --kubeconfig, $KUBECONFIG or ~/.kube/config, as for kubectl');
  if (flags.allNamespaces) return { kc, namespace: undefined };
  const contextNamespace = kc.getContextObject(kc.getCurrentContext())?.namespace;
  return { kc, namespace: flags.namespace ?? contextNamespace ?? 'default' };
}

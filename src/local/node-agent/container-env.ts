import { ApiException, type CoreV1Api, type V1Container, type V1Pod } from '@kubernetes/client-node';

/**
 * A container that cannot be configured yet (a Secret or ConfigMap it names
 * is missing): the kubelet keeps such a container waiting with reason
 * CreateContainerConfigError and this message, and tries again.
 */
export class ContainerConfigError extends Error {}

type Source = { kind: 'Secret' | 'ConfigMap'; name: string; optional: boolean };

/**
 * A container's environment as the kubelet builds it: envFrom first, then
 * env (later entries win), with valueFrom resolved from the pod's fields,
 * Secrets and ConfigMaps. Messages are the kubelet's.
 */
export async function containerEnv(
  core: CoreV1Api,
  pod: V1Pod,
  container: V1Container,
): Promise<Record<string, string>> {
  const namespace = pod.metadata!.namespace!;
  const cache = new Map<string, Record<string, string> | undefined>();
  const read = async (source: Source): Promise<Record<string, string> | undefined> => {
    const key = `${source.kind}/${source.name}`;
    if (!cache.has(key)) cache.set(key, await readData(core, namespace, source));
    const data = cache.get(key);
    if (!data && !source.optional)
      throw new ContainerConfigError(`${source.kind.toLowerCase()} "${source.name}" not found`);
    return data;
  };
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const source: Source | undefined = from.secretRef
      ? { kind: 'Secret', name: from.secretRef.name!, optional: !!from.secretRef.optional }
      : from.configMapRef
        ? { kind: 'ConfigMap', name: from.configMapRef.name!, optional: !!from.configMapRef.optional }
        : undefined;
    if (!source) continue;
    for (const [name, value] of Object.entries((await read(source)) ?? {})) env[`${from.prefix ?? ''}${name}`] = value;
  }
  for (const variable of container.env ?? []) {
    const from = variable.valueFrom;
    if (!from) {
      env[variable.name] = variable.value ?? '';
      continue;
    }
    if (from.fieldRef) {
      env[variable.name] = fieldOf(pod, from.fieldRef.fieldPath);
      continue;
    }
    const ref = from.secretKeyRef ?? from.configMapKeyRef;
    if (!ref) continue;
    const source: Source = {
      kind: from.secretKeyRef ? 'Secret' : 'ConfigMap',
      name: ref.name!,
      optional: !!ref.optional,
    };
    const data = await read(source);
    const value = data?.[ref.key];
    if (value !== undefined) env[variable.name] = value;
    else if (data && !source.optional)
      throw new ContainerConfigError(`couldn't find key ${ref.key} in ${source.kind} ${namespace}/${ref.name}`);
  }
  return env;
}

async function readData(
  core: CoreV1Api,
  namespace: string,
  source: Source,
): Promise<Record<string, string> | undefined> {
  try {
    if (source.kind === 'ConfigMap')
      return (await core.readNamespacedConfigMap({ name: source.name, namespace })).data ?? {};
    const secret = await core.readNamespacedSecret({ name: source.name, namespace });
    return Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64').toString('utf8')]),
    );
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return undefined;
    throw err;
  }
}

/** The downward API's fieldRef paths a kubelet resolves. */
function fieldOf(pod: V1Pod, path: string): string {
  const meta = pod.metadata ?? {};
  const label = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (label) return (label[1] === 'labels' ? meta.labels : meta.annotations)?.[label[2]!] ?? '';
  const fields: Record<string, string | undefined> = {
    'metadata.name': meta.name,
    'metadata.namespace': meta.namespace,
    'metadata.uid': meta.uid,
    'spec.nodeName': pod.spec?.nodeName,
    'spec.serviceAccountName': pod.spec?.serviceAccountName,
    'status.hostIP': '127.0.0.1',
    'status.podIP': '127.0.0.1',
  };
  return fields[path] ?? '';
}

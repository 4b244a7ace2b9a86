import { RemoteSecretError } from '../errors.ts';
import { plural } from '../text.ts';
import { readerClusterRoleBindingName, readerClusterRoleName } from './istio-reader-rbac.ts';
import type { PlannedObject, RemotePlan, RemotePlanOptions } from './plan.ts';
import { tokenRenewerRoleName } from './renewal.ts';

/** One thing `create` will do on the remote, as a SelfSubjectAccessReview asks about it. */
export interface NeededPermission {
  readonly verb: string;
  /** '' for the core API group. */
  readonly group: string;
  readonly resource: string;
  readonly subresource?: string;
  /** Unset for cluster-scoped resources. */
  readonly namespace?: string;
  /** Unset when the name is not known yet (a list, a generated name). */
  readonly name?: string;
  /** What `create` uses it for, in a few words. */
  readonly why: string;
}

/** What `create` was asked to do, as far as it decides which permissions it needs. */
export interface CreateRequest extends Omit<RemotePlanOptions, 'now'> {
  /** --name was given: the kube-system UID is not read. */
  readonly clusterIdGiven: boolean;
  /** The CA comes from the cluster (a token Secret's ca.crt or kube-root-ca.crt). */
  readonly caFromCluster: boolean;
}

/**
 * The reads `create` makes before it plans anything. With --create-service-account=false it
 * touches nothing cluster-scoped, as istioctl: the ServiceAccount and its token Secret in the
 * namespace (a get of the Secret --secret-name names, else a list of the namespace's token
 * Secrets), and kube-system only without --name.
 */
export function permissionsToRead(request: CreateRequest): NeededPermission[] {
  const { namespace, serviceAccount } = request;
  const needs: NeededPermission[] = [];
  if (!request.clusterIdGiven) {
    needs.push(
      core(
        'get',
        'namespaces',
        { name: 'kube-system' },
        'to read the default cluster ID (pass --name to skip it)',
      ),
    );
  }
  if (request.token.from === 'none') return needs;
  needs.push(
    core('get', 'serviceaccounts', { namespace, name: serviceAccount }, 'to find the ServiceAccount'),
  );
  if (request.createServiceAccount) {
    needs.push(
      core('get', 'namespaces', { name: namespace }, 'to see whether the namespace exists'),
      rbac(
        'get',
        'clusterroles',
        readerClusterRoleName(namespace),
        "to see whether Istio's reader ClusterRole exists",
      ),
      rbac(
        'get',
        'clusterrolebindings',
        readerClusterRoleBindingName(namespace, serviceAccount),
        'to see whether its binding exists',
      ),
    );
  }
  if (request.renew === true) {
    const renewer = tokenRenewerRoleName(serviceAccount);
    needs.push(
      rbac('get', 'roles', renewer, "to see whether the token renewer's Role exists", namespace),
      rbac('get', 'rolebindings', renewer, 'to see whether its binding exists', namespace),
    );
  }
  if (request.token.from === 'named-secret') {
    needs.push(
      core(
        'get',
        'secrets',
        { namespace, name: request.token.name },
        'to read the token Secret --secret-name names',
      ),
    );
  }
  if (listsTokenSecrets(request)) {
    needs.push(core('list', 'secrets', { namespace }, "to find the ServiceAccount's token Secrets"));
  }
  return needs;
}

/**
 * What carrying out `plan` takes: its creates, the token (a get of its Secret, and a watch if
 * the Secret is new; or a TokenRequest), the cluster CA, and deleting retired token Secrets.
 * Without a plan (the reads were refused), what it would take on a remote that has none of
 * the objects yet: every create it might make, each marked `if missing`.
 */
export function permissionsToWrite(request: CreateRequest, plan?: RemotePlan): NeededPermission[] {
  const { namespace, serviceAccount } = request;
  const needs: NeededPermission[] = [];
  const ifMissing = plan === undefined ? ' (if missing)' : '';
  const creates =
    plan?.create.map(({ kind, object }) => ({ kind, name: object.metadata.name })) ??
    worstCaseCreates(request);
  for (const { kind, name } of creates) needs.push(createOf(kind, name, namespace, ifMissing));
  const token = plan?.token ?? worstCaseToken(request);
  switch (token.from) {
    case 'secret':
      if (token.created) {
        needs.push(
          core(
            'list',
            'secrets',
            { namespace },
            'to wait for the token controller to fill the new token Secret',
          ),
          core(
            'watch',
            'secrets',
            { namespace },
            'to wait for the token controller to fill the new token Secret',
          ),
        );
      }
      needs.push(
        core(
          'get',
          'secrets',
          { namespace, ...(token.created ? {} : { name: token.name }) },
          `to read the token${ifMissing}`,
        ),
      );
      break;
    case 'token-request':
      needs.push({
        ...core(
          'create',
          'serviceaccounts',
          { namespace, name: serviceAccount },
          'to mint a token (TokenRequest)',
        ),
        subresource: 'token',
      });
      break;
    case 'none':
      break;
  }
  if (request.caFromCluster && token.from !== 'secret') {
    if (token.from === 'none') {
      needs.push(
        core('get', 'namespaces', { name: namespace }, "to find the cluster's CA (kube-root-ca.crt)"),
      );
    }
    needs.push(
      core('get', 'configmaps', { namespace, name: 'kube-root-ca.crt' }, "to read the cluster's CA"),
    );
  }
  const retire = plan?.retire ?? (request.retireOld ? [undefined] : []);
  for (const name of retire) {
    needs.push(
      core(
        'delete',
        'secrets',
        { namespace, ...(name === undefined ? {} : { name }) },
        'to retire an old token Secret (--retire-old)',
      ),
    );
  }
  return needs;
}

/** "create clusterrolebindings NAME", "get serviceaccounts NAME in namespace NS", and why. */
export function describeNeed(need: NeededPermission): string {
  const resource = need.group === '' ? need.resource : `${need.resource}.${need.group}`;
  const what = `${need.verb} ${resource}${need.subresource === undefined ? '' : `/${need.subresource}`}`;
  const name = need.name === undefined ? '' : ` ${need.name}`;
  const where = need.namespace === undefined ? '' : ` in namespace ${need.namespace}`;
  return `${what}${name}${where}: ${need.why}`;
}

/** Permissions the remote context lacks, checked before anything was created. */
export class MissingPermissionsError extends RemoteSecretError {
  override readonly name = 'MissingPermissionsError';
  declare readonly code: 'missing-permissions';

  constructor(
    readonly context: string,
    readonly missing: readonly NeededPermission[],
    hint: string,
  ) {
    super(
      'missing-permissions',
      [
        `context "${context}" lacks ${plural(missing.length, 'permission')} that create needs on the remote; nothing was created:`,
        ...missing.map((need) => `  - ${describeNeed(need)}`),
      ].join('\n'),
      { hint },
    );
  }
}

function listsTokenSecrets(request: CreateRequest): boolean {
  return (
    request.token.from === 'existing-or-new-secret' ||
    request.token.from === 'new-secret' ||
    request.retireOld
  );
}

type PlannedKind = PlannedObject['kind'];

function worstCaseCreates(request: CreateRequest): { kind: PlannedKind; name: string | undefined }[] {
  const { namespace, serviceAccount } = request;
  if (request.token.from === 'none') return [];
  const creates: { kind: PlannedKind; name: string | undefined }[] = request.createServiceAccount
    ? [
        { kind: 'Namespace', name: namespace },
        { kind: 'ServiceAccount', name: serviceAccount },
        { kind: 'ClusterRole', name: readerClusterRoleName(namespace) },
        { kind: 'ClusterRoleBinding', name: readerClusterRoleBindingName(namespace, serviceAccount) },
      ]
    : [];
  if (request.renew === true) {
    creates.push(
      { kind: 'Role', name: tokenRenewerRoleName(serviceAccount) },
      { kind: 'RoleBinding', name: tokenRenewerRoleName(serviceAccount) },
    );
  }
  if (request.token.from === 'existing-or-new-secret' || request.token.from === 'new-secret') {
    creates.push({ kind: 'Secret', name: undefined });
  }
  return creates;
}

function worstCaseToken(request: CreateRequest): RemotePlan['token'] {
  switch (request.token.from) {
    case 'none':
      return { from: 'none' };
    case 'token-request':
      return { from: 'token-request', seconds: request.token.seconds };
    case 'named-secret':
      return { from: 'secret', name: request.token.name, created: false };
    case 'existing-or-new-secret':
    case 'new-secret':
      return { from: 'secret', name: '', created: true };
  }
}

/** A create is authorized before the object has a name, so the review names none. */
function createOf(
  kind: PlannedKind,
  name: string | undefined,
  namespace: string,
  ifMissing: string,
): NeededPermission {
  switch (kind) {
    case 'Namespace':
      return core('create', 'namespaces', {}, `to create namespace ${name ?? namespace}${ifMissing}`);
    case 'ServiceAccount':
      return core(
        'create',
        'serviceaccounts',
        { namespace },
        `to create ServiceAccount ${name ?? ''}${ifMissing}`,
      );
    case 'ClusterRole':
      return rbac(
        'create',
        'clusterroles',
        undefined,
        `to create Istio's reader ClusterRole ${name ?? ''}${ifMissing}`,
      );
    case 'ClusterRoleBinding':
      return rbac(
        'create',
        'clusterrolebindings',
        undefined,
        `to create the binding ${name ?? ''}${ifMissing}`,
      );
    // RBAC's escalation check also wants the Role's one rule held by whoever creates the Role or
    // binds it; the TokenRequest for the same ServiceAccount, asked for below, is exactly that.
    case 'Role':
      return rbac(
        'create',
        'roles',
        undefined,
        `to create the token renewer's Role ${name ?? ''} (--renew)${ifMissing}`,
        namespace,
      );
    case 'RoleBinding':
      return rbac(
        'create',
        'rolebindings',
        undefined,
        `to create the binding ${name ?? ''} (--renew)${ifMissing}`,
        namespace,
      );
    case 'Secret':
      return core(
        'create',
        'secrets',
        { namespace },
        `to create a token Secret for the ServiceAccount${ifMissing}`,
      );
  }
}

function core(
  verb: string,
  resource: string,
  where: { readonly namespace?: string; readonly name?: string },
  why: string,
): NeededPermission {
  return { verb, group: '', resource, ...where, why };
}

function rbac(
  verb: string,
  resource: string,
  name: string | undefined,
  why: string,
  namespace?: string,
): NeededPermission {
  return {
    verb,
    group: 'rbac.authorization.k8s.io',
    resource,
    ...(namespace === undefined ? {} : { namespace }),
    ...(name === undefined ? {} : { name }),
    why,
  };
}

import type {
  ConfigurationOptions,
  KubeConfig,
  RequestContext,
  ResponseContext,
} from '@kubernetes/client-node';
import type { RequestOptions } from 'node:https';
import type { ClientNodeModule } from './client-node.ts';
import { errorCode } from '../errors.ts';
import { isRecord, stringOrUndefined } from '../json.ts';
import { formatDuration } from '../time/duration.ts';
import { get, type DirectConnection } from './direct.ts';
import { credentialError, KubeError, toKubeError } from './errors.ts';
import { loadOperatorKubeConfig, type OperatorKubeConfig } from './kubeconfig.ts';

export interface KubeClientOptions {
  /** Each API call is abandoned after this long (--request-timeout). */
  readonly requestTimeoutMs: number;
  /** Cancels every call in flight (a shutdown). */
  readonly signal?: AbortSignal | undefined;
  /** The whole command's deadline (--timeout): every call ends when it passes. */
  readonly deadline?: Deadline | undefined;
}

/** When a whole command must be done by, and the flag that said so, for the message. */
export class Deadline {
  readonly signal: AbortSignal;
  private readonly endsAt: number;

  constructor(
    readonly ms: number,
    readonly flag = '--timeout',
  ) {
    this.signal = AbortSignal.timeout(ms);
    this.endsAt = Date.now() + ms;
  }

  /** Milliseconds left, at least 1 (a wait given 0 would never start). */
  get remainingMs(): number {
    return Math.max(1, this.endsAt - Date.now());
  }

  /** The error for a call the deadline cut short. */
  exceeded(action: string, server: string, cause?: unknown): KubeError {
    return new KubeError(
      'timeout',
      `the command did not finish within ${this.flag} ${formatDuration(this.ms)}: it was still trying to ${action} on ${server}`,
      {
        hint: `check that the API server answers (kubectl get --raw /readyz), or raise ${this.flag}`,
        cause,
      },
    );
  }
}

/**
 * One KubeConfig (one context) and the typed APIs made from it. Every call goes through `call`,
 * which bounds it in time and turns whatever client-node throws into a KubeError that names the
 * action and the server.
 */
export class KubeClient {
  readonly server: string;
  /** The kubeconfig's login, run once for every call of this client (see `call`). */
  private credentials: Promise<void> | undefined;
  readonly core: InstanceType<ClientNodeModule['CoreV1Api']>;
  readonly rbac: InstanceType<ClientNodeModule['RbacAuthorizationV1Api']>;
  readonly authentication: InstanceType<ClientNodeModule['AuthenticationV1Api']>;
  readonly authorization: InstanceType<ClientNodeModule['AuthorizationV1Api']>;
  readonly version: InstanceType<ClientNodeModule['VersionApi']>;
  readonly admissionRegistration: InstanceType<ClientNodeModule['AdmissionregistrationV1Api']>;

  constructor(
    readonly k8s: ClientNodeModule,
    readonly kubeConfig: KubeConfig,
    private readonly options: KubeClientOptions,
  ) {
    this.server = kubeConfig.getCurrentCluster()?.server ?? '(no server)';
    this.core = kubeConfig.makeApiClient(k8s.CoreV1Api);
    this.rbac = kubeConfig.makeApiClient(k8s.RbacAuthorizationV1Api);
    this.authentication = kubeConfig.makeApiClient(k8s.AuthenticationV1Api);
    this.authorization = kubeConfig.makeApiClient(k8s.AuthorizationV1Api);
    this.version = kubeConfig.makeApiClient(k8s.VersionApi);
    this.admissionRegistration = kubeConfig.makeApiClient(k8s.AdmissionregistrationV1Api);
  }

  get requestTimeoutMs(): number {
    return this.options.requestTimeoutMs;
  }

  /** The command's deadline, which waits (a watch for a token) must end by too. */
  get deadline(): Deadline | undefined {
    return this.options.deadline;
  }

  /** Run one API call with a deadline; `action` reads "list Secrets in namespace istio-system". */
  async call<T>(
    action: string,
    run: (options: ConfigurationOptions, signal: AbortSignal) => Promise<T>,
    header?: { name: string; value: string },
  ): Promise<T> {
    const { deadline } = this.options;
    const signals = [AbortSignal.timeout(this.options.requestTimeoutMs)];
    if (this.options.signal !== undefined) signals.push(this.options.signal);
    if (deadline !== undefined) signals.push(deadline.signal);
    const signal = AbortSignal.any(signals);
    try {
      await this.login(signal);
      return await run(this.requestOptions(signal, header), signal);
    } catch (error) {
      if (deadline?.signal.aborted === true) throw deadline.exceeded(action, this.server, error);
      throw toKubeError(error, { server: this.server, action, timeoutMs: this.options.requestTimeoutMs });
    }
  }

  /**
   * Run the kubeconfig's login (an exec credential plugin: EKS, GKE, OIDC logins) once, before
   * the first request, so calls made in parallel share its credential instead of each starting
   * the program (client-node caches it only once one has finished). A failed login fails every
   * call with the same `credential-plugin` error, as kubectl reports it.
   */
  private login(signal: AbortSignal): Promise<void> {
    this.credentials ??= this.kubeConfig.applyToHTTPSOptions({}).catch((error: unknown) => {
      const exec: unknown = this.kubeConfig.getCurrentUser()?.exec;
      throw credentialError(error, isRecord(exec) ? stringOrUndefined(exec['command']) : undefined);
    });
    // A login that hangs (waiting for a browser, say) is bounded like the call it is for.
    return new Promise((resolve, reject) => {
      const aborted = (): void => {
        reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      if (signal.aborted) aborted();
      signal.addEventListener('abort', aborted, { once: true });
      this.credentials?.then(resolve, reject).finally(() => {
        signal.removeEventListener('abort', aborted);
      });
    });
  }

  /**
   * GET `path` (with its query) and return the body's bytes, unparsed: for a list that another
   * thread parses. The same credentials, TLS, proxy, deadline and errors as `call`; a non-2xx
   * answer is the KubeError its status means.
   */
  getBytes(action: string, path: string): Promise<Buffer> {
    return this.call(action, async (_options, signal) => {
      const url = new URL(`${this.server.replace(/\/+$/, '')}${path}`);
      const options: RequestOptions = { method: 'GET', headers: { Accept: 'application/json' }, signal };
      await this.kubeConfig.applyToHTTPSOptions(options);
      // The agent carries the kubeconfig's TLS and proxy; plain HTTP (a test server) has none.
      const plain = url.protocol === 'http:';
      if (plain) delete options.agent;
      return get(url, options, plain);
    });
  }

  /**
   * What another thread needs to call this API server itself, without client-node: the server,
   * the headers with the login's current credential, the TLS material. Undefined when the
   * kubeconfig goes through a proxy (proxy-url), which only client-node's agents speak.
   */
  async directConnection(): Promise<DirectConnection | undefined> {
    if ((this.kubeConfig.getCurrentCluster()?.proxyUrl ?? '') !== '') return undefined;
    return this.call('resolve the credentials for the API server', async () => {
      const options: RequestOptions = {};
      await this.kubeConfig.applyToHTTPSOptions(options);
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(options.headers ?? {}))
        if (typeof value === 'string') headers[name] = value;
      const bytes = (value: unknown): Uint8Array | undefined =>
        typeof value === 'string' ? Buffer.from(value) : value instanceof Uint8Array ? value : undefined;
      return {
        server: this.server,
        headers,
        auth: options.auth ?? undefined,
        ca: bytes(options.ca),
        cert: bytes(options.cert),
        key: bytes(options.key),
        servername: options.servername,
        rejectUnauthorized: options.rejectUnauthorized,
        requestTimeoutMs: this.options.requestTimeoutMs,
      };
    });
  }

  /** Like `call`, but a 404 is an answer (undefined), not an error. */
  async read<T>(action: string, run: (options: ConfigurationOptions) => Promise<T>): Promise<T | undefined> {
    try {
      return await this.call(action, run);
    } catch (error) {
      if (errorCode(error) === 'not-found') return undefined;
      throw error;
    }
  }

  /**
   * The same client, whose calls `signal` also cancels (a shutdown, one part's own abort); the
   * per-call timeout stays.
   */
  abortedBy(signal: AbortSignal): KubeClient {
    const signals = this.options.signal === undefined ? [signal] : [this.options.signal, signal];
    return new KubeClient(this.k8s, this.kubeConfig, { ...this.options, signal: AbortSignal.any(signals) });
  }

  /** Request options that abort the fetch with `signal`, plus any extra header (a patch type). */
  private requestOptions(
    signal: AbortSignal,
    header?: { name: string; value: string },
  ): ConfigurationOptions {
    const { Observable } = this.k8s;
    return {
      middleware: [
        {
          pre: (context: RequestContext) => {
            context.setSignal(signal);
            if (header !== undefined) context.setHeaderParam(header.name, header.value);
            return new Observable(Promise.resolve(context));
          },
          post: (response: ResponseContext) => new Observable(Promise.resolve(response)),
        },
      ],
      middlewareMergeStrategy: 'append',
    };
  }
}

/** The flags every command that talks to the operator's cluster has. */
export interface ClusterFlags {
  readonly kubeconfig: string | undefined;
  readonly context: string | undefined;
  /** --request-timeout. */
  readonly requestTimeoutMs: number;
  /** --timeout: the whole command, from now. */
  readonly timeoutMs: number;
}

/**
 * The operator's own kubeconfig, found as kubectl finds it ($KUBECONFIG and the home directory
 * in `env`), and a client for its context bounded by the command's --request-timeout and
 * --timeout: how every command of the plugin starts talking to a cluster.
 */
export function operatorClient(
  k8s: ClientNodeModule,
  flags: ClusterFlags,
  env: { readonly kubeconfig: string | undefined; readonly home: string | undefined },
): { readonly operator: OperatorKubeConfig; readonly client: KubeClient } {
  const operator = loadOperatorKubeConfig(k8s, {
    path: flags.kubeconfig,
    context: flags.context,
    env: env.kubeconfig,
    home: env.home,
  });
  const client = new KubeClient(k8s, operator.kubeConfig, {
    requestTimeoutMs: flags.requestTimeoutMs,
    deadline: new Deadline(flags.timeoutMs),
  });
  return { operator, client };
}

/**
 * A client-node model instance holding a plain manifest's fields. client-node types request
 * bodies as its model classes and serializes them by attribute name; our manifests are plain
 * wire objects with exactly those fields, so copying them onto a new instance is all it takes.
 */
export function asModel<T extends object>(model: new () => T, manifest: object): T {
  return Object.assign(new model(), manifest);
}

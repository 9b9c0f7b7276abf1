// One request as it moves through the core's pipeline (DESIGN.md "Where the next capabilities
// plug in"): what the transport knows about it, what each step found, and the record the reply
// hooks see. fastify's request lifecycle is the model: one object, named steps, hooks between.
import type { Caller, Effect, MethodDecl, ProviderLogger, Selectors } from '../provider-api.js';
import type { WsmanFault, FaultId } from '../soap/faults.js';
import type { XmlNode } from '../soap/xml.js';
import type { WsmanRequest } from './request.js';
import type { Route, Target } from './routes.js';

/** The request's HTTP headers, names in lower case, as node:http gives them. */
export type HttpHeaders = Readonly<Record<string, string | string[] | undefined>>;

export type AuthMethod = 'basic' | 'negotiate' | 'certificate' | 'anonymous';

/** The TLS client certificate of the connection, as the collector and the policy read it. */
export interface PeerCertificate {
  subject: string;
  issuer: string;
  /** SHA-1 of the issuer's certificate (DER), upper-case hex: Windows' IssuerCA thumbprint. */
  issuerThumbprint?: string;
  /** SHA-1 of the certificate itself, upper-case hex. */
  thumbprint: string;
}

/** What the transport hands the core with every request. */
export interface RequestInfo {
  /** The URL path the request was posted to (`/wsman`, `/wsman/SubscriptionManager/WEC`, …). */
  path: string;
  secure: boolean;
  clientAddress: string;
  authMethod: AuthMethod;
  /** Read on demand: building it costs more than most requests' other work. */
  peerCertificate(): PeerCertificate | undefined;
  /** Stable for the life of the TCP connection. */
  connectionId: string;
  /** Lower-cased names, as Node reads them (`machineid`, `wsmanidentify`, …). */
  headers: HttpHeaders;
}

/**
 * What a handler may answer besides a SOAP envelope: a bare HTTP status with an empty body (the
 * collector's 204 to a delivery it stored, 403, 404).
 */
export interface StatusReply {
  status: number;
}

/** The core's answer to the transport. */
export interface Reply {
  status: number;
  /** Empty for a bare status. */
  body: string;
  /** For the transport's request log line. */
  action?: string;
  resourceUri?: string;
  fault?: FaultId;
}

/** The per-request object every pipeline step reads and fills. */
export interface Exchange {
  readonly xml: string;
  readonly info: RequestInfo;
  /** Absent only on the anonymous Identify paths, which answer nothing but Identify. */
  readonly caller?: Caller;
  readonly log: ProviderLogger;
  /** The request's one controller: aborted by the transport when the client goes away, by the core at the OperationTimeout and once the reply is built. */
  readonly work: AbortController;
  readonly started: number;
  envelope?: XmlNode;
  /** Read before anything else can fail, so that every fault can carry wsa:RelatesTo. */
  messageId?: string;
  request?: WsmanRequest;
  target?: Target;
  route?: Route;
  /** For an Invoke: the method the action names, as the class declares it. */
  invoked?: { name: string; decl: MethodDecl };
  /** What the routed operation does (the route's, or the invoked method's), for the policy. */
  effects?: readonly Effect[];
  reply?: Reply;
  fault?: WsmanFault;
  /** Set by the quota step: this exchange holds one of its user's concurrent operations until it ends. */
  holdsQuota?: boolean;
}

/** What the reply hooks (audit trail, metrics) get: one plain record per request. */
export interface RequestRecord {
  user?: string;
  authMethod: AuthMethod;
  clientAddress: string;
  path: string;
  connectionId: string;
  action?: string;
  /** The route's operation: identify, get, put, create, delete, enumerate, pull, release, invoke, or a custom action's name. */
  operation?: string;
  method?: string;
  /** An Invoke's input parameters as the client sent them (text), for the audit trail to redact and keep. */
  params?: Record<string, string>;
  resourceUri?: string;
  selectors?: Selectors;
  status: number;
  fault?: FaultId;
  faultMessage?: string;
  durationMs: number;
}

export interface Hooks {
  /** Before the call: throw a WsmanFault (AccessDenied) to refuse. The policy is one of these. */
  authorize: ((ex: Exchange) => void | Promise<void>)[];
  onReply: ((record: RequestRecord) => void)[];
  onFault: ((record: RequestRecord) => void)[];
}

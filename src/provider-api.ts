// What a provider may import, and nothing else of src/ (test/unit/architecture.test.ts holds
// the rule). A provider sees plain data, never XML and never HTTP (DESIGN.md principles 2 and
// 3): instances in, instances out, errors as ProviderError. Resources that are not CIM classes
// (the WinRS shell, winrm/config) exchange documents: element trees, data with the shape of XML
// elements, which the core reads from and writes to envelopes. This file is a leaf: it imports
// only the URI constants of names.ts, which import nothing.
export * as NAMES from './soap/names.js';

/**
 * Bumped when this interface changes incompatibly; checked when a provider is loaded.
 * 2: raw `resourceUris` became `documents`; requests carry their deadline and envelope size.
 * 3: a document resource's custom actions are a table (`actions`); the Caller lost its privilege
 *    booleans (the access policy decides, from the effects operations declare); the core selects
 *    instances by key, so providers no longer resolve selectors.
 */
export const PROVIDER_API_VERSION = 3;

/** An element with its namespace resolved. Attributes are keyed by local name. */
export interface XmlNode {
  ns: string;
  name: string;
  attrs: Record<string, string>;
  /** Concatenated character data (CDATA included) of this element's own text children. */
  text: string;
  children: XmlNode[];
  /** Set on nodes made by the core's raw(): text is markup to copy verbatim. */
  raw?: boolean;
}

/** A document element: namespace-resolved, attributes by local name, text and child elements. */
export type Element = XmlNode;

export function child(node: XmlNode | undefined, ns: string, name: string): XmlNode | undefined {
  return node?.children.find((c) => c.name === name && c.ns === ns);
}

export function children(node: XmlNode | undefined, ns: string, name: string): XmlNode[] {
  return node ? node.children.filter((c) => c.name === name && c.ns === ns) : [];
}

export function textOf(node: XmlNode | undefined): string | undefined {
  return node?.text.trim();
}

/** Build a node tersely: el(NS.wsman, 'Selector', { Name: 'ShellId' }, 'value'). */
export function el(ns: string, name: string, attrs: Record<string, string> = {}, ...content: (XmlNode | string | undefined)[]): XmlNode {
  const node: XmlNode = { ns, name, attrs, text: '', children: [] };
  for (const c of content) {
    if (c === undefined) continue;
    if (typeof c === 'string') node.text += c;
    else node.children.push(c);
  }
  return node;
}
export { el as element };

/** xs:duration → milliseconds (years and months are refused: their length is not fixed). */
export function parseDuration(text: string): number | undefined {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(text.trim());
  if (!m || text.trim() === 'P' || text.trim().endsWith('T')) return undefined;
  const [, d, h, min, s] = m;
  return ((Number(d ?? 0) * 24 + Number(h ?? 0)) * 60 + Number(min ?? 0)) * 60_000 + Math.round(Number(s ?? 0) * 1000);
}

/** CIM intrinsic types (DSP0004). The serializer renders values by these. */
export const CIM_TYPES = [
  'string', 'char16', 'boolean', 'datetime',
  'uint8', 'uint16', 'uint32', 'uint64',
  'sint8', 'sint16', 'sint32', 'sint64',
  'real32', 'real64',
] as const;
export type CimType = (typeof CIM_TYPES)[number];

/**
 * A property value. Date is a CIM datetime; bigint is allowed for 64-bit integers;
 * an array is rendered as repeated elements (DSP0227 7.2.4); null as xsi:nil.
 */
export type CimScalar = string | number | bigint | boolean | Date;
export type CimValue = CimScalar | CimScalar[] | null;

export interface PropertyDecl {
  type: CimType;
  array?: boolean;
}

/** A CIM class as a provider declares it. Properties are listed in serialization order. */
export interface CimClass {
  name: string;                       // e.g. Win32_Service
  namespace: string;                  // e.g. root/cimv2
  superclass?: string;                // e.g. CIM_Service; enumerating the superclass includes this class
  keys: string[];                     // key properties: the selectors of an EPR
  properties: Record<string, PropertyDecl>;
  methods?: Record<string, MethodDecl>;
}

export interface MethodDecl {
  input: Record<string, PropertyDecl>;
  output: Record<string, PropertyDecl>; // ReturnValue included
  effects?: readonly Effect[];
}

/**
 * What an operation does that the access policy decides on (src/admin/access.ts): providers
 * declare it, the policy alone decides who may (DESIGN.md, the authorize hook).
 * - `runsAsAccount`: starts or signals processes as the caller's runAs account (a root account
 *   needs a grant);
 * - `changesHardware`: changes real hardware state (BMC power, clearing a BMC's event log);
 * - `readsEventLog`: reads the host's journal (a subscription to the EventLog resource), which
 *   holds every service's messages and the auth facilities (Windows: Event Log Readers).
 */
export type Effect = 'runsAsAccount' | 'changesHardware' | 'readsEventLog';

/** One CIM instance: its concrete class name and its property values. */
export interface Instance {
  className: string;
  properties: Record<string, CimValue>;
}

export type Selectors = Record<string, string>;

/** The authenticated caller. There is no default or anonymous caller anywhere. */
export interface Caller {
  user: string;
  /** The Linux account processes started for this caller run as. */
  runAs: string;
  clientAddress: string;
  /** A Windows event forwarder: the collector serves it, and nothing else does (no provider ever sees one). */
  kind?: 'event-source';
}

/** Everything a provider method gets about the request it serves. */
export interface ProviderRequest {
  caller: Caller;
  resourceUri: string;
  /** The class addressed (for CIM resources), resolved from the resource URI. */
  className?: string;
  namespace?: string;
  selectors: Selectors;
  /** WS-Man OptionSet values (w:OptionSet/w:Option). */
  options: Record<string, string>;
  /** Aborted when the caller's OperationTimeout expires or the client goes away. */
  signal: AbortSignal;
  /** When the OperationTimeout runs out (ms since the epoch): a long poll answers before it. */
  deadline: number;
  /** The largest reply the client accepts, in octets (w:MaxEnvelopeSize). */
  maxEnvelopeSize: number;
  log: ProviderLogger;
}

/** A request on a document resource: its action and the first element of its body. */
export interface DocumentRequest extends ProviderRequest {
  action: string;
  body?: Element;
}

/** One item of a document resource's enumeration: its body and the selectors of its EPR. */
export interface DocumentItem {
  selectors: Selectors;
  body: Element;
}

/**
 * A resource whose bodies are documents rather than CIM instances, at one exact resource URI
 * (compared case-insensitively). Get, Put, Create, Delete and Enumerate are the WS-Transfer and
 * WS-Enumeration operations; `actions` is its table of custom actions by action URI (the shell's
 * Command, Send, Receive and Signal, MS-WSMV 3.1.4.11-14), each registered in the core's routing
 * table as it is, whose reply action is the request's plus `Response`. A missing method or
 * action is ActionNotSupported.
 */
export interface DocumentResource {
  uri: string;
  get?(req: DocumentRequest): Promise<Element>;
  put?(req: DocumentRequest): Promise<Element>;
  /** The new resource's selectors, and a body to send beside ResourceCreated if any. */
  create?(req: DocumentRequest): Promise<{ selectors: Selectors; body?: Element }>;
  delete?(req: DocumentRequest): Promise<void>;
  enumerate?(req: DocumentRequest): AsyncIterable<DocumentItem>;
  actions?: Record<string, (req: DocumentRequest) => Promise<Element | undefined>>;
  /** What each action (a custom action's URI, or the WS-Transfer Create action) does, for the access policy. */
  effects?: Record<string, readonly Effect[]>;
}

export interface InvokeRequest extends ProviderRequest {
  method: string;
  /** The method's input parameters by name (`<Method>_INPUT` children). */
  input: Record<string, CimValue>;
}

export interface ProviderLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

/** What the server hands a provider at load time. */
export interface ProviderContext {
  log: ProviderLogger;
  /** The provider's own section of the configuration, if any. */
  config: Record<string, unknown>;
}

/**
 * One table of optional methods (DESIGN.md principle 3). The core supplies the defaults:
 * get falls back to a filtered enumerate, whose instances the core selects by key (selector
 * names resolved to the declared keys, values compared case-insensitively); a missing method is
 * ActionNotSupported.
 */
export interface Provider {
  apiVersion: number;
  name: string;
  /** CIM classes served; the core derives their WMI and DMTF resource URIs. */
  classes?: CimClass[];
  /** Resources served besides the classes (the shell, winrm/config). */
  documents?: DocumentResource[];

  load?(ctx: ProviderContext): Promise<void>;
  unload?(): Promise<void>;
  /** A direct lookup by every key; undefined where the class has none (the core then selects from enumerate). */
  get?(req: ProviderRequest): Promise<Instance | undefined>;
  enumerate?(req: ProviderRequest): AsyncIterable<Instance>;
  put?(req: ProviderRequest, instance: Instance): Promise<Instance>;
  create?(req: ProviderRequest, instance: Instance): Promise<Selectors>;
  delete?(req: ProviderRequest): Promise<void>;
  invoke?(req: InvokeRequest): Promise<Record<string, CimValue>>;
  /**
   * The user was removed, or their password changed: end everything of theirs still running
   * (shells, the processes they started). Their connections are refused by then.
   */
  endUser?(user: string): Promise<void>;
}

/** CIM status codes (DSP0200 / DSP0004) a provider throws; one table maps them to faults. */
export type ProviderErrorCode =
  | 'FAILED'
  | 'ACCESS_DENIED'
  | 'INVALID_NAMESPACE'
  | 'INVALID_PARAMETER'
  | 'INVALID_CLASS'
  | 'NOT_FOUND'
  | 'NOT_SUPPORTED'
  | 'ALREADY_EXISTS'
  | 'METHOD_NOT_AVAILABLE'
  | 'QUOTA_EXCEEDED'
  | 'TIMED_OUT'
  /** The device behind the resource (a BMC) refused the service or broke its protocol. */
  | 'UNAVAILABLE'
  | 'INVALID_SELECTORS';

export class ProviderError extends Error {
  constructor(
    readonly code: ProviderErrorCode,
    message: string,
    /**
     * The Windows error code for WSManFault/@Code where clients branch on a more precise one
     * than the fault's own (e.g. 2150858843, the shell was not found).
     */
    readonly windowsCode?: number,
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

// What a provider may import. A provider sees plain data, never XML and never HTTP
// (DESIGN.md principles 2 and 3): instances in, instances out, errors as ProviderError.
// Resources that are not CIM classes (the WinRS shell, winrm/config) exchange documents: element
// trees, data with the shape of XML elements, which the core reads from and writes to envelopes.
import type { XmlNode } from './soap/xml.js';

export { child, children, el as element, textOf } from './soap/xml.js';
export { parseDuration } from './wsman/request.js';

/**
 * Bumped when this interface changes incompatibly; checked when a provider is loaded.
 * 2: raw `resourceUris` became `documents`; requests carry their deadline and envelope size.
 */
export const PROVIDER_API_VERSION = 2;

/** A document element: namespace-resolved, attributes by local name, text and child elements. */
export type Element = XmlNode;

/** CIM intrinsic types (DSP0004). The serializer renders values by these. */
export type CimType =
  | 'string' | 'char16' | 'boolean' | 'datetime'
  | 'uint8' | 'uint16' | 'uint32' | 'uint64'
  | 'sint8' | 'sint16' | 'sint32' | 'sint64'
  | 'real32' | 'real64';

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
}

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
  /** Whether runAs may resolve to uid 0 (config: security.rootRunAsUsers). */
  allowRoot: boolean;
  /** Whether this caller may change hardware state, e.g. BMC power (config: security.hardwareControlUsers). */
  hardwareControl: boolean;
  clientAddress: string;
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
 * WS-Enumeration operations; `action` serves every other action on the URI (the shell's Command,
 * Send, Receive and Signal, MS-WSMV 3.1.4.11-14), whose reply action is the request's plus
 * `Response`. A missing method is ActionNotSupported.
 */
export interface DocumentResource {
  uri: string;
  get?(req: DocumentRequest): Promise<Element>;
  put?(req: DocumentRequest): Promise<Element>;
  /** The new resource's selectors, and a body to send beside ResourceCreated if any. */
  create?(req: DocumentRequest): Promise<{ selectors: Selectors; body?: Element }>;
  delete?(req: DocumentRequest): Promise<void>;
  enumerate?(req: DocumentRequest): AsyncIterable<DocumentItem>;
  action?(req: DocumentRequest): Promise<Element | undefined>;
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
 * get falls back to a filtered enumerate; a missing method is ActionNotSupported.
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
  get?(req: ProviderRequest): Promise<Instance>;
  enumerate?(req: ProviderRequest): AsyncIterable<Instance>;
  put?(req: ProviderRequest, instance: Instance): Promise<Instance>;
  create?(req: ProviderRequest, instance: Instance): Promise<Selectors>;
  delete?(req: ProviderRequest): Promise<void>;
  invoke?(req: InvokeRequest): Promise<Record<string, CimValue>>;
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

// The fault catalogue, as data (DESIGN.md principle 5). Every entry has a stable id, appears in
// the README's fault table (a unit test holds them together) and is provoked by an integration test.
// Subcodes and actions: DSP0226 Annex A / Table 29 (WS-Management), WS-Addressing 1.0 §6.4,
// WS-Enumeration §5. Numeric codes: Windows' ERROR_WSMAN_* values (winerror.h), so that clients
// that branch on them (pywinrm, the Go client: 2150858793 on Receive) behave as with Windows.
import { ACTION, EVENTING, NS } from './names.js';

export interface FaultSpec {
  /** SOAP 1.2 fault code (§5.4.6): the sender's mistake, ours, or a header not understood. */
  code: 'Sender' | 'Receiver' | 'MustUnderstand';
  /** The subcode's namespace and local name; MustUnderstand has none. */
  subcode?: [ns: string, name: string];
  action: string;
  /** WSManFault/@Code: a Windows ERROR_WSMAN_* or Win32 error code. */
  wsmanCode: number;
  http: number;
  reason: string;
}

const CATALOGUE = {
  DestinationUnreachable: {
    code: 'Sender', subcode: [NS.wsa, 'DestinationUnreachable'], action: ACTION.wsaFault,
    wsmanCode: 2150858752, http: 500, // ERROR_WSMAN_RESOURCE_NOT_FOUND; what Windows answers for a missing WMI instance
    reason: 'The WS-Management service cannot process the request. The service cannot find the resource identified by the resource URI and selectors.',
  },
  ActionNotSupported: {
    code: 'Sender', subcode: [NS.wsa, 'ActionNotSupported'], action: ACTION.wsaFault,
    wsmanCode: 2150858771, http: 500, // ERROR_WSMAN_ACTION_NOT_SUPPORTED
    reason: 'The action is not supported by the service.',
  },
  InvalidMessageInformationHeader: {
    code: 'Sender', subcode: [NS.wsa, 'InvalidMessageInformationHeader'], action: ACTION.wsaFault,
    wsmanCode: 2150858767, http: 500, // ERROR_WSMAN_INVALID_MESSAGE_INFORMATION_HEADER
    reason: 'A message information header is missing, repeated or invalid.',
  },
  MessageInformationHeaderRequired: {
    code: 'Sender', subcode: [NS.wsa, 'MessageInformationHeaderRequired'], action: ACTION.wsaFault,
    wsmanCode: 2150858769, http: 500, // ERROR_WSMAN_MESSAGE_INFORMATION_HEADER_REQUIRED
    reason: 'A required message information header is missing.',
  },
  MustUnderstand: {
    code: 'MustUnderstand', action: ACTION.wsaFault,
    wsmanCode: 2150858768, http: 500, // ERROR_WSMAN_SOAP_FAULT_MUST_UNDERSTAND
    reason: 'A header marked mustUnderstand is not understood by the service.',
  },
  InvalidSelectors: {
    code: 'Sender', subcode: [NS.wsman, 'InvalidSelectors'], action: ACTION.wsmanFault,
    wsmanCode: 2150858813, http: 500, // ERROR_WSMAN_INVALID_SELECTORS
    reason: 'The WS-Management service cannot process the request because the request contained invalid selectors for the resource.',
  },
  InvalidEnumerationContext: {
    code: 'Receiver', subcode: [NS.wsen, 'InvalidEnumerationContext'], action: ACTION.wsenFault,
    wsmanCode: 2150858779, http: 500, // ERROR_WSMAN_ENUMERATE_INVALID_ENUMERATION_CONTEXT
    reason: 'The enumeration context supplied in the message is not valid: it is unknown, released, expired or owned by another user.',
  },
  CannotProcessFilter: {
    code: 'Sender', subcode: [NS.wsen, 'CannotProcessFilter'], action: ACTION.wsenFault,
    wsmanCode: 2150858778, http: 500, // ERROR_WSMAN_ENUMERATE_CANNOT_PROCESS_FILTER
    reason: 'The service cannot process the filter.',
  },
  FilterDialectRequestedUnavailable: {
    code: 'Sender', subcode: [NS.wsen, 'FilterDialectRequestedUnavailable'], action: ACTION.wsenFault,
    wsmanCode: 2150858777, http: 500, // ERROR_WSMAN_ENUMERATE_FILTER_DIALECT_REQUESTED_UNAVAILABLE
    reason: 'The requested filter dialect is not supported.',
  },
  EncodingLimit: {
    code: 'Sender', subcode: [NS.wsman, 'EncodingLimit'], action: ACTION.wsmanFault,
    wsmanCode: 2150858805, http: 500, // ERROR_WSMAN_ENCODING_LIMIT
    reason: 'The request or the reply exceeds an encoding limit (MaxEnvelopeSize, nesting or attribute bounds).',
  },
  SchemaValidationError: {
    code: 'Sender', subcode: [NS.wsman, 'SchemaValidationError'], action: ACTION.wsmanFault,
    wsmanCode: 2150858817, http: 500, // ERROR_WSMAN_SCHEMA_VALIDATION_ERROR
    reason: 'The SOAP XML in the message does not match the corresponding XML schema definition.',
  },
  AlreadyExists: {
    code: 'Sender', subcode: [NS.wsman, 'AlreadyExists'], action: ACTION.wsmanFault,
    wsmanCode: 183, http: 500, // ERROR_ALREADY_EXISTS (Win32)
    reason: 'The sender attempted to create a resource which already exists.',
  },
  InvalidParameter: {
    code: 'Sender', subcode: [NS.wsman, 'InvalidParameter'], action: ACTION.wsmanFault,
    wsmanCode: 2150858810, http: 500, // ERROR_WSMAN_INVALID_PARAMETER
    reason: 'An operation parameter is not valid.',
  },
  QuotaLimit: {
    code: 'Sender', subcode: [NS.wsman, 'QuotaLimit'], action: ACTION.wsmanFault,
    wsmanCode: 2150858815, http: 500, // ERROR_WSMAN_QUOTA_LIMIT
    reason: 'The WS-Management service cannot process the request because a quota was exceeded.',
  },
  AccessDenied: {
    code: 'Sender', subcode: [NS.wsman, 'AccessDenied'], action: ACTION.wsmanFault,
    wsmanCode: 5, http: 500, // ERROR_ACCESS_DENIED, as Windows reports it
    reason: 'Access is denied.',
  },
  TimedOut: {
    code: 'Receiver', subcode: [NS.wsman, 'TimedOut'], action: ACTION.wsmanFault,
    wsmanCode: 2150858793, http: 500, // ERROR_WSMAN_OPERATION_TIMEDOUT: both clients retry a Receive on it
    reason: 'The WS-Management service cannot complete the operation within the time specified in OperationTimeout.',
  },
  EndpointUnavailable: {
    code: 'Receiver', subcode: [NS.wsa, 'EndpointUnavailable'], action: ACTION.wsaFault,
    wsmanCode: 21, http: 500, // ERROR_NOT_READY: the device a provider manages cannot be used now
    reason: 'The device the resource represents cannot be reached or refused the service.',
  },
  // WS-Eventing (W3C submission 2004/08 §4; DSP0226 §10, Table 29); codes ERROR_WSMAN_EVENTING_*.
  DeliveryModeRequestedUnavailable: {
    code: 'Sender', subcode: [NS.wse, 'DeliveryModeRequestedUnavailable'], action: EVENTING.fault,
    wsmanCode: 2150858782, http: 500, // 0x8033801E
    reason: 'The event source does not support the requested delivery mode.',
  },
  InvalidExpirationTime: {
    code: 'Sender', subcode: [NS.wse, 'InvalidExpirationTime'], action: EVENTING.fault,
    wsmanCode: 2150858783, http: 500, // 0x8033801F
    reason: 'The expiration time of the subscription is invalid: zero, or in the past.',
  },
  UnsupportedExpirationType: {
    code: 'Sender', subcode: [NS.wse, 'UnsupportedExpirationType'], action: EVENTING.fault,
    wsmanCode: 2150858784, http: 500, // 0x80338020
    reason: 'The expiration is neither an xs:duration nor an xs:dateTime.',
  },
  FilteringNotSupported: {
    code: 'Sender', subcode: [NS.wse, 'FilteringNotSupported'], action: EVENTING.fault,
    wsmanCode: 2150858785, http: 500, // 0x80338021
    reason: 'The event source does not filter this resource: remove the filter.',
  },
  FilteringRequestedUnavailable: {
    code: 'Sender', subcode: [NS.wse, 'FilteringRequestedUnavailable'], action: EVENTING.fault,
    wsmanCode: 2150858786, http: 500, // 0x80338022
    reason: 'The event source does not support the requested filter dialect.',
  },
  EventSourceUnableToProcess: {
    code: 'Receiver', subcode: [NS.wse, 'EventSourceUnableToProcess'], action: EVENTING.fault,
    wsmanCode: 2150858787, http: 500, // 0x80338023
    reason: 'The event source cannot process the subscription.',
  },
  UnableToRenew: {
    code: 'Receiver', subcode: [NS.wse, 'UnableToRenew'], action: EVENTING.fault,
    wsmanCode: 2150858788, http: 500, // 0x80338024
    reason: 'The subscription cannot be renewed: it is unknown, ended or expired. Create a new subscription.',
  },
  EventDeliverToUnusable: {
    code: 'Sender', subcode: [NS.wsman, 'EventDeliverToUnusable'], action: ACTION.wsmanFault,
    wsmanCode: 2150858901, http: 500, // 0x80338095, Windows' "unusable address" for a NotifyTo it cannot use
    reason: 'The event source cannot deliver to the NotifyTo or EndTo address.',
  },
  InvalidBookmark: {
    code: 'Sender', subcode: [NS.wsman, 'InvalidBookmark'], action: ACTION.wsmanFault,
    wsmanCode: 2150858808, http: 500, // 0x80338038 ERROR_WSMAN_INVALID_BOOKMARK
    reason: 'The bookmark in the subscription is invalid: expired, corrupted or not from this event source.',
  },
  InternalError: {
    code: 'Receiver', subcode: [NS.wsman, 'InternalError'], action: ACTION.wsmanFault,
    wsmanCode: 1359, http: 500, // ERROR_INTERNAL_ERROR (Win32): Windows reports the failing component's own code here
    reason: 'The service cannot comply with the request due to internal processing errors.',
  },
} satisfies Record<string, FaultSpec>;

export type FaultId = keyof typeof CATALOGUE;
export const FAULTS: Record<FaultId, FaultSpec> = CATALOGUE;

/** Whether a name is the id of a fault of the catalogue (the lab's injected faults name them). */
export const isFaultId = (id: string): id is FaultId => Object.hasOwn(FAULTS, id);

/** A fault on its way to the one fault boundary, which renders it (DESIGN.md principle 4). */
export class WsmanFault extends Error {
  constructor(
    readonly id: FaultId,
    /** Shown to the client in f:Message; never a stack trace or an internal detail. */
    readonly detailMessage?: string,
    /** A DSP0226 FaultDetail URI, where one applies. */
    readonly faultDetail?: string,
    /** MustUnderstand only: the header that was not understood. */
    readonly notUnderstood?: { ns: string; name: string },
    /** A more precise WSManFault/@Code than the catalogue's, where Windows has one. */
    readonly windowsCode?: number,
  ) {
    // A fault is an answer, not a bug: capturing a stack trace would be most of its cost.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(detailMessage ?? FAULTS[id].reason);
    Error.stackTraceLimit = limit;
    this.name = 'WsmanFault';
  }
}


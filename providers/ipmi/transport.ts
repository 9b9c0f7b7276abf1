// What the IPMI provider needs from a way of reaching a BMC: one request, one response.
// Two transports implement it: native RMCP+ (lanplus/) and ipmitool (ipmitool.ts). Everything
// above (the SDR walk, the SEL, chassis control, the cache) is written once against this.

/** An IPMI request message (IPMI 2.0 §5.1): network function, command, data. */
export interface IpmiRequest {
  netFn: number;
  cmd: number;
  data?: Uint8Array;
  /** The responder's LUN (0 unless an SDR says otherwise). */
  lun?: number;
}

/** A response: its completion code (IPMI 2.0 §5.2) and the data after it. */
export interface IpmiResponse {
  cc: number;
  data: Buffer;
}

export interface IpmiTransport {
  /**
   * Sends one request and resolves with the BMC's response, whatever its completion code.
   * Rejects with an IpmiError when no response could be had: the BMC did not answer, refused
   * the credentials, or broke the protocol. A transport sends one request at a time; callers
   * may still call concurrently and are queued.
   */
  request(req: IpmiRequest, signal?: AbortSignal): Promise<IpmiResponse>;
  /** Ends the session (Close Session where there is one) and releases the socket or process. */
  close(): Promise<void>;
}

export type IpmiErrorKind =
  /** No answer within the transport's timeout and retries. */
  | 'timeout'
  /** The BMC refused the user, the password, the privilege level or the cipher suite. */
  | 'auth'
  /** A malformed or unexpected packet, or an integrity check that failed. */
  | 'protocol'
  /** The transport was closed or the request aborted. */
  | 'closed';

export class IpmiError extends Error {
  constructor(readonly kind: IpmiErrorKind, message: string) {
    super(message);
    this.name = 'IpmiError';
  }
}

/** Completion codes (IPMI 2.0 table 5-2) that the provider names in its messages. */
export const COMPLETION_CODE: Record<number, string> = {
  0x00: 'success',
  0xc0: 'node busy',
  0xc1: 'invalid command',
  0xc3: 'timeout',
  0xc5: 'reservation cancelled or invalid',
  0xc9: 'parameter out of range',
  0xca: 'cannot return the number of requested bytes',
  0xcb: 'requested sensor, data or record not present',
  0xcc: 'invalid data field',
  0xcd: 'command illegal for this sensor or record type',
  0xce: 'response could not be provided',
  0xd3: 'destination unavailable',
  0xd4: 'insufficient privilege level',
  0xd5: 'not supported in the present state',
  0xff: 'unspecified error',
};

export function completionCodeText(cc: number): string {
  return `${COMPLETION_CODE[cc] ?? 'completion code'} (0x${cc.toString(16).padStart(2, '0')})`;
}

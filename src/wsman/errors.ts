// Provider errors (CIM status codes) → WS-Management faults: the one table (DESIGN.md principle 4).
// The pairs follow DSP0227 §10 (CIM_ERR_* to WS-Management faults) and what Windows' WMI plugin
// answers, e.g. a missing instance is wsa:DestinationUnreachable / 2150858752.
import { ProviderError, type ProviderErrorCode } from '../provider-api.js';
import { WsmanFault, type FaultId } from '../soap/faults.js';

const PROVIDER_FAULTS: Record<ProviderErrorCode, FaultId> = {
  FAILED: 'InternalError',
  ACCESS_DENIED: 'AccessDenied',
  INVALID_NAMESPACE: 'DestinationUnreachable',
  INVALID_PARAMETER: 'InvalidParameter',
  INVALID_CLASS: 'DestinationUnreachable',
  NOT_FOUND: 'DestinationUnreachable',
  NOT_SUPPORTED: 'ActionNotSupported',
  ALREADY_EXISTS: 'AlreadyExists',
  METHOD_NOT_AVAILABLE: 'ActionNotSupported',
  QUOTA_EXCEEDED: 'QuotaLimit',
  TIMED_OUT: 'TimedOut',
  UNAVAILABLE: 'EndpointUnavailable',
  INVALID_SELECTORS: 'InvalidSelectors',
};

/** Any thrown value → the fault to answer with. Unknown errors become InternalError, message hidden. */
export function toFault(err: unknown): WsmanFault {
  if (err instanceof WsmanFault) return err;
  if (err instanceof ProviderError) {
    const id = PROVIDER_FAULTS[err.code];
    // FAILED is a provider's own unexpected failure: its text stays in the log only.
    return new WsmanFault(id, id === 'InternalError' ? undefined : err.message, undefined, undefined, err.windowsCode);
  }
  return new WsmanFault('InternalError');
}

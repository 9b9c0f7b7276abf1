// Every namespace, action and dialect URI of winrmd lives here (DESIGN.md principle 6).

export const NS = {
  soap: 'http://www.w3.org/2003/05/soap-envelope',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
  xml: 'http://www.w3.org/XML/1998/namespace',
  xmlns: 'http://www.w3.org/2000/xmlns/',
  wsa: 'http://schemas.xmlsoap.org/ws/2004/08/addressing',
  wsman: 'http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd',
  wsmv: 'http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd',
  wsen: 'http://schemas.xmlsoap.org/ws/2004/09/enumeration',
  wxf: 'http://schemas.xmlsoap.org/ws/2004/09/transfer',
  wsmid: 'http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd',
  wsmanfault: 'http://schemas.microsoft.com/wbem/wsman/1/wsmanfault',
  cim: 'http://schemas.dmtf.org/wbem/wscim/1/common',
  rsp: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell',
  /** WS-Eventing (2004/08), which DSP0226 §10 builds on. */
  wse: 'http://schemas.xmlsoap.org/ws/2004/08/eventing',
  /** MS-WSMV 2.2.4.41: the m:Subscription elements a Windows event forwarder enumerates. */
  subscription: 'http://schemas.microsoft.com/wbem/wsman/1/subscription',
  /** The m:MachineID header a forwarder sends (MS-WSMV 2.2.4.30). */
  machineId: 'http://schemas.microsoft.com/wbem/wsman/1/machineid',
  /** WS-Policy (2002/12): the c:Policy of a subscription's NotifyTo (MS-WSMV 3.1.4.1.30.3). */
  policy: 'http://schemas.xmlsoap.org/ws/2002/12/policy',
  /** Where Windows writes the NotifyTo policy's authentication elements (MS-WSMV 2.2.4.1 shows them in w:). */
  authentication: 'http://schemas.microsoft.com/wbem/wsman/1/authentication',
  /** The Windows event schema. */
  event: 'http://schemas.microsoft.com/win/2004/08/events/event',
} as const;

/**
 * winrm/config (MS-WSMV 3.1.4.1.29, the Get table of 3.1.4.2): the whole tree and its parts. Each
 * part's resource URI is also the namespace of its reply element (`cfg:Service` in
 * `…/config/service`), as Windows answers and as PowerShell's own cmdlets read it.
 */
const CFG = 'http://schemas.microsoft.com/wbem/wsman/1/config';
export const CONFIG = {
  root: CFG,
  client: `${CFG}/client`,
  clientAuth: `${CFG}/client/auth`,
  clientDefaultPorts: `${CFG}/client/defaultports`,
  service: `${CFG}/service`,
  serviceAuth: `${CFG}/service/auth`,
  serviceDefaultPorts: `${CFG}/service/defaultports`,
  winrs: `${CFG}/winrs`,
  listener: `${CFG}/listener`,
} as const;

/** Preferred prefixes when winrmd writes XML (the ones Windows uses). */
export const PREFIX: Record<string, string> = {
  [NS.soap]: 's',
  [NS.xsi]: 'xsi',
  [NS.wsa]: 'a',
  [NS.wsman]: 'w',
  [NS.wsmv]: 'p',
  [NS.wsen]: 'n',
  [NS.wxf]: 'x',
  [NS.wsmid]: 'wsmid',
  [NS.wsmanfault]: 'f',
  [NS.cim]: 'cim',
  [NS.rsp]: 'rsp',
  [NS.wse]: 'e',
  [NS.subscription]: 'm',
  [NS.machineId]: 'm',
  [NS.policy]: 'c',
  [NS.authentication]: 'auth',
  ...Object.fromEntries(Object.values(CONFIG).map((ns) => [ns, 'cfg'])),
};

export const ACTION = {
  get: `${NS.wxf}/Get`,
  getResponse: `${NS.wxf}/GetResponse`,
  put: `${NS.wxf}/Put`,
  putResponse: `${NS.wxf}/PutResponse`,
  create: `${NS.wxf}/Create`,
  createResponse: `${NS.wxf}/CreateResponse`,
  delete: `${NS.wxf}/Delete`,
  deleteResponse: `${NS.wxf}/DeleteResponse`,
  enumerate: `${NS.wsen}/Enumerate`,
  enumerateResponse: `${NS.wsen}/EnumerateResponse`,
  pull: `${NS.wsen}/Pull`,
  pullResponse: `${NS.wsen}/PullResponse`,
  release: `${NS.wsen}/Release`,
  releaseResponse: `${NS.wsen}/ReleaseResponse`,
  // DSP0226 Annex A: the fault actions, one per specification family.
  wsaFault: `${NS.wsa}/fault`,
  wsmanFault: 'http://schemas.dmtf.org/wbem/wsman/1/wsman/fault',
  wsenFault: `${NS.wsen}/fault`,
} as const;

export const ANONYMOUS = `${NS.wsa}/role/anonymous`;

export const DIALECT = {
  wql: 'http://schemas.microsoft.com/wbem/wsman/1/WQL',
  /** The event log query dialect, the only one Windows subscriptions use (MS-WSMV 3.1.4.1.30.5). */
  eventQuery: 'http://schemas.microsoft.com/win/2004/08/events/eventquery',
  selector: 'http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter',
} as const;

/** Resource URI roots. A WMI class URI is `${wmi}/<namespace>/<Class>` (MS-WSMV 2.2.4.x). */
export const RESOURCE = {
  wmi: 'http://schemas.microsoft.com/wbem/wsman/1/wmi',
  dmtfCim: 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2',
} as const;

/** Source-initiated event forwarding (MS-WSMV 3.1.4.1.30, DSP0226 §10): actions, resources and modes. */
const WSMAN_URI = 'http://schemas.dmtf.org/wbem/wsman/1/wsman';
export const EVENTING = {
  subscribe: `${NS.wse}/Subscribe`,
  subscribeResponse: `${NS.wse}/SubscribeResponse`,
  renew: `${NS.wse}/Renew`,
  renewResponse: `${NS.wse}/RenewResponse`,
  getStatus: `${NS.wse}/GetStatus`,
  getStatusResponse: `${NS.wse}/GetStatusResponse`,
  unsubscribe: `${NS.wse}/Unsubscribe`,
  unsubscribeResponse: `${NS.wse}/UnsubscribeResponse`,
  subscriptionEnd: `${NS.wse}/SubscriptionEnd`,
  /** WS-Eventing's fault action (W3C submission 2004/08 §4). */
  fault: `${NS.wse}/fault`,
  /** Delivery modes (DSP0226 §10.2.9): one event per message, one acknowledged, batches, and pulled through an enumeration context. */
  pushMode: `${NS.wse}/DeliveryModes/Push`,
  pushWithAckMode: `${WSMAN_URI}/PushWithAck`,
  pullMode: `${WSMAN_URI}/Pull`,
  /** SubscriptionEnd statuses (WS-Eventing §3.5). */
  deliveryFailure: `${NS.wse}/DeliveryFailure`,
  sourceShuttingDown: `${NS.wse}/SourceShuttingDown`,
  sourceCancelling: `${NS.wse}/SourceCancelling`,
  /** The BMCs' event log and sensors (MS-WSMV 3.1.4.1.34.3.3, the SEL plugin). */
  sel: 'http://schemas.microsoft.com/wbem/wsman/1/logrecord/sel',
  /** A batch of events, w:Events (DSP0226 §10.2.9.4); one event within it. */
  events: `${WSMAN_URI}/Events`,
  event: `${WSMAN_URI}/Event`,
  heartbeat: `${WSMAN_URI}/Heartbeat`,
  ack: `${WSMAN_URI}/Ack`,
  droppedEvents: `${WSMAN_URI}/DroppedEvents`,
  /** The delivery mode of Windows subscriptions (batched, acknowledged). */
  eventsMode: `${WSMAN_URI}/Events`,
  bookmarkEarliest: `${WSMAN_URI}/bookmark/earliest`,
  /** MS-WSMV 3.1.4.19: a forwarder's End of its full-duplex connection. */
  end: 'http://schemas.microsoft.com/wbem/wsman/1/wsman/End',
  fullDuplex: 'http://schemas.microsoft.com/wbem/wsman/1/wsman/FullDuplex',
  /** What a forwarder enumerates on the Server= address of its Group Policy. */
  subscriptionManager: 'http://schemas.microsoft.com/wbem/wsman/1/SubscriptionManager/Subscription',
  /** The resource a Windows subscription reads (the inner Subscribe's ResourceURI). */
  eventLog: 'http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog',
} as const;

/** The WinRS remote shell (MS-WSMV 2.2.4.37 Shell, 3.1.4.11-14 Command/Send/Receive/Signal). */
const RSP = NS.rsp;
export const SHELL = {
  /** The namespace of rsp:Shell, rsp:CommandLine, …; also the URI that enumerates every shell. */
  ns: RSP,
  /** The cmd shell's resource URI. */
  cmd: `${RSP}/cmd`,
  command: `${RSP}/Command`,
  send: `${RSP}/Send`,
  receive: `${RSP}/Receive`,
  signal: `${RSP}/Signal`,
  signalTerminate: `${RSP}/signal/terminate`,
  signalCtrlC: `${RSP}/signal/ctrl_c`,
  signalCtrlBreak: `${RSP}/signal/ctrl_break`,
  stateRunning: `${RSP}/CommandState/Running`,
  stateDone: `${RSP}/CommandState/Done`,
} as const;

/**
 * PowerShell remoting (MS-PSRP): each session configuration is a shell resource
 * `<ns>/<configuration name>`; pypsrp, Ansible's psrp connection, evil-winrm and New-PSSession
 * use Microsoft.PowerShell unless told otherwise.
 */
const PSRP = 'http://schemas.microsoft.com/powershell';
export const POWERSHELL = {
  ns: PSRP,
  default: `${PSRP}/Microsoft.PowerShell`,
  /** The configurations Enable-PSRemoting registers, and pwsh's Install-PowerShellRemoting. */
  configurations: ['Microsoft.PowerShell', 'Microsoft.PowerShell32', 'Microsoft.PowerShell.Workflow', 'Microsoft.Windows.ServerManagerWorkflows', 'PowerShell.7'].map((name) => `${PSRP}/${name}`),
} as const;

/** The selector naming the CIM namespace for DMTF resource URIs (DSP0227 7.1). */
export const CIM_NAMESPACE_SELECTOR = '__cimnamespace';

export const SECURITY_PROFILE = {
  httpBasic: 'http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/basic',
  httpsBasic: 'http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/basic',
  // Negotiate (NTLM now, Kerberos later) is advertised under the SPNEGO profiles, as Windows does.
  httpSpnego: 'http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos',
  httpsSpnego: 'http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/spnego-kerberos',
  httpsMutual: 'http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual',
} as const;

export const WSMAN_PROTOCOL_VERSION = 'http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd';

/** DSP0226 fault detail URIs. */
const FAULT_DETAIL_URI = 'http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail';
export const FAULT_DETAIL = {
  maxEnvelopeSize: `${FAULT_DETAIL_URI}/MaxEnvelopeSize`,
  expirationTime: `${FAULT_DETAIL_URI}/ExpirationTime`,
  heartbeats: `${FAULT_DETAIL_URI}/Heartbeats`,
  deliveryRetries: `${FAULT_DETAIL_URI}/DeliveryRetries`,
  unusableAddress: `${FAULT_DETAIL_URI}/UnusableAddress`,
  maxElements: `${FAULT_DETAIL_URI}/MaxElements`,
  maxTime: `${FAULT_DETAIL_URI}/MaxTime`,
} as const;

/** Response action for a custom method: `<resourceUri>/<Method>Response` (MS-WSMV 3.1.4.16). */
export function methodResponseAction(action: string): string {
  return `${action}Response`;
}

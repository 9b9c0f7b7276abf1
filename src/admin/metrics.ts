// Prometheus metrics (issue 16 item 6) with prom-client, loaded only when `metrics.enabled`
// (it costs about 12 MB of resident memory, measured: half of an idle winrmd's own). Fed by the
// reply hooks (requests), the authentication callback, the named events providers and the
// collector log (the same tap the audit trail reads), and gauges read when scraped. Labels are
// bounded: an unrouted request is `unrouted`, not its action; a resource is its class or
// document's last path segment, only for requests that reached a route.
import type { AuthMethod, RequestRecord } from '../wsman/exchange.js';

export interface MetricsSources {
  openEnumerations(): number;
  subscriptions(): number;
}

export interface Metrics {
  onRequest(r: RequestRecord): void;
  onAuthentication(e: { ok: boolean; method?: AuthMethod; reason?: string }): void;
  /** A named event from the log tap. */
  onEvent(event: string, fields: Record<string, unknown>): void;
  render(): Promise<{ contentType: string; body: string }>;
}

/** A refusal's reason, as a bounded label. */
export function authFailureReason(reason = ''): string {
  if (/locked out/.test(reason)) return 'locked_out';
  if (/unsupported scheme/.test(reason)) return 'unsupported_scheme';
  if (/certificate/i.test(reason)) return 'certificate';
  if (/password|credential|unknown user|NTLM|Kerberos|token|signature/i.test(reason)) return 'bad_credentials';
  if (/unencrypted|HTTP/i.test(reason)) return 'transport';
  return 'other';
}

const resourceLabel = (r: RequestRecord) => {
  if (!r.operation) return 'unrouted';
  const uri = (r.resourceUri ?? '').split('?')[0]!;
  return uri.slice(uri.lastIndexOf('/') + 1) || 'none';
};

export async function createMetrics(sources: MetricsSources): Promise<Metrics> {
  const prom = await import('prom-client');
  const registry = new prom.Registry();
  const counter = (name: string, help: string, labelNames: string[] = []) => new prom.Counter({ name, help, labelNames, registers: [registry] });
  const gauge = (name: string, help: string, labelNames: string[] = [], collect?: (this: import('prom-client').Gauge) => void) =>
    new prom.Gauge({ name, help, labelNames, registers: [registry], ...(collect ? { collect } : {}) });

  const requests = counter('winrmd_requests_total', 'Requests by operation, resource and status.', ['operation', 'resource', 'status', 'fault']);
  const latency = new prom.Histogram({
    name: 'winrmd_request_duration_seconds', help: 'Request latency in the core, by operation.', labelNames: ['operation'], registers: [registry],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60],
  });
  const authFailures = counter('winrmd_auth_failures_total', 'Refused credentials, by reason.', ['reason']);
  const authentications = counter('winrmd_authentications_total', 'Connections authenticated, by method.', ['method']);
  const lockouts = counter('winrmd_lockouts_total', 'Refusals because a user or an address is locked out.');
  const shells = gauge('winrmd_open_shells', 'Remote shells open.');
  const commands = gauge('winrmd_running_commands', 'Shell commands running.');
  gauge('winrmd_enumeration_contexts', 'Open enumeration contexts (pull subscriptions included).', [], function collect() {
    this.set(sources.openEnumerations());
  });
  gauge('winrmd_event_subscriptions', 'Open WS-Eventing subscriptions to this server.', [], function collect() {
    this.set(sources.subscriptions());
  });
  const received = counter('winrmd_collector_events_total', 'Events the collector stored and acknowledged, by subscription.', ['subscription']);
  const deliveries = counter('winrmd_collector_deliveries_total', 'Deliveries the collector answered, by subscription and kind.', ['subscription', 'kind']);
  const outputFailures = counter('winrmd_collector_output_failures_total', 'Batches an output could not store (not acknowledged), by subscription.', ['subscription']);
  const polled = new Map<string, number>();
  gauge('winrmd_bmc_poll_age_seconds', 'Seconds since each BMC was last read successfully.', ['bmc'], function collect() {
    for (const [bmc, at] of polled) this.set({ bmc }, (Date.now() - at) / 1000);
  });
  const bmcFailures = counter('winrmd_bmc_poll_failures_total', 'Times a BMC stopped answering its poll (each run of failures once).', ['bmc']);

  return {
    onRequest(r) {
      requests.inc({ operation: r.operation ?? 'unrouted', resource: resourceLabel(r), status: String(r.status), fault: r.fault ?? '' });
      latency.observe({ operation: r.operation ?? 'unrouted' }, r.durationMs / 1000);
    },
    onAuthentication(e) {
      if (e.ok) return void authentications.inc({ method: e.method ?? 'unknown' });
      const reason = authFailureReason(e.reason);
      authFailures.inc({ reason });
      if (reason === 'locked_out') lockouts.inc();
    },
    onEvent(event, f) {
      switch (event) {
        case 'shell_created': return void shells.inc();
        case 'shell_closed': return void shells.dec();
        case 'command_started': return void commands.inc();
        case 'command_exited': return void commands.dec();
        case 'collector_delivery':
          deliveries.inc({ subscription: String(f.subscription), kind: String(f.kind) });
          if (Number(f.events) > 0) received.inc({ subscription: String(f.subscription) }, Number(f.events));
          return;
        case 'output_failed': return void outputFailures.inc({ subscription: String(f.subscription) });
        case 'bmc_polled': return void polled.set(String(f.bmc), Date.now());
        case 'bmc_poll_failed': return void bmcFailures.inc({ bmc: String(f.bmc) });
      }
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

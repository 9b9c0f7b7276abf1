// HTML for the dashboard, made on the server: no script runs in the page (the Content-Security-
// Policy allows none), so every value reaches the markup through this escaping template, and
// charts are SVG drawn here and styled by the one stylesheet.

/** Markup that is already safe: made by `html` or by this file. */
export class Safe {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escape = (s: string): string => s.replace(/[&<>"']/g, (c) => ENTITIES[c]!);

type Value = Safe | string | number | boolean | null | undefined | Value[];

function render(v: Value): string {
  if (v === null || v === undefined || v === false) return '';
  if (Array.isArray(v)) return v.map(render).join('');
  if (v instanceof Safe) return v.text;
  return escape(String(v));
}

/** A template whose interpolations are escaped (arrays joined, null/undefined/false left out). */
export function html(strings: TemplateStringsArray, ...values: Value[]): Safe {
  let out = strings[0]!;
  values.forEach((v, i) => (out += render(v) + strings[i + 1]!));
  return new Safe(out);
}

/** A table: headings, rows of cells, and what to say when there are none. */
export function table(headings: string[], rows: Value[][], empty: string, id?: string): Safe {
  if (rows.length === 0) return html`<p class="empty"${id ? html` id="${id}"` : ''}>${empty}</p>`;
  const head = headings.some(Boolean) ? html`<thead><tr>${headings.map((h) => html`<th>${h}</th>`)}</tr></thead>` : '';
  return html`<table${id ? html` id="${id}"` : ''}>${head}<tbody>${rows.map((r) => html`<tr>${r.map((c) => html`<td>${c}</td>`)}</tr>`)}</tbody></table>`;
}

/** A form posting one action with its CSRF token: a button, and hidden fields. */
export function action(path: string, label: string, csrf: string, fields: Record<string, string>, kind = ''): Safe {
  return html`<form method="post" action="${path}" class="inline"><input type="hidden" name="csrf" value="${csrf}">${Object.entries(fields).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}<button type="submit"${kind ? html` class="${kind}"` : ''}>${label}</button></form>`;
}

/** Bars of per-minute counts, oldest on the left, with a second series (errors) drawn over them. */
export function chart(title: string, series: { label: string; cls: string; points: number[] }[], id: string): Safe {
  const W = 600;
  const H = 120;
  const n = Math.max(...series.map((s) => s.points.length), 1);
  const max = Math.max(1, ...series.flatMap((s) => s.points));
  const bw = W / n;
  const bars = series.map((s) => s.points.map((p, i) => {
    const h = (p / max) * (H - 14);
    return html`<rect class="${s.cls}" x="${(i * bw).toFixed(1)}" y="${(H - h).toFixed(1)}" width="${Math.max(1, bw - 1).toFixed(1)}" height="${h.toFixed(1)}"><title>${s.label}: ${p} (${n - i} min ago)</title></rect>`;
  }));
  // Stretched to the page's width: bars scale, and no text is drawn inside the SVG to be distorted.
  return html`<figure id="${id}"><figcaption>${title} <span class="legend">${series.map((s) => html`<span class="${s.cls}">■</span> ${s.label} (${s.points.reduce((a, b) => a + b, 0)}) `)} · peak ${max}/min</span></figcaption><svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label="${title}">${bars}<line x1="0" y1="${H}" x2="${W}" y2="${H}" class="axis"/></svg></figure>`;
}

/** A time as the page shows it: ISO in UTC without milliseconds. */
export const when = (t: string | number | Date | undefined): string => (t === undefined ? '' : new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z'));

/** A span of seconds as a person reads it. */
export function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}

// A small HTTPS client for the dashboard's tests: keeps its cookie as a browser does (one sign-in
// per client), sends forms urlencoded, and trusts the test server's self-signed certificate.
import https from 'node:https';

export interface WebReply { status: number; headers: Record<string, string | string[] | undefined>; text: string }

export class WebClient {
  cookie = '';
  constructor(readonly base: string) {}

  request(method: string, path: string, o: { form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<WebReply> {
    const body = o.form ? new URLSearchParams(o.form).toString() : undefined;
    const headers: Record<string, string> = { ...(this.cookie ? { Cookie: this.cookie } : {}), ...(body !== undefined ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}), ...o.headers };
    return new Promise((resolve, reject) => {
      const req = https.request(`${this.base}${path}`, { method, headers, rejectUnauthorized: false, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          const set = res.headers['set-cookie']?.[0];
          if (set) this.cookie = /Max-Age=0/.test(set) ? '' : set.split(';')[0]!;
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  get(path: string, headers?: Record<string, string>) {
    return this.request('GET', path, { headers });
  }

  post(path: string, form: Record<string, string>, headers?: Record<string, string>) {
    return this.request('POST', path, { form, headers });
  }

  /** Signs in; the reply is the redirect to the first page the user may see. */
  signIn(user: string, password: string) {
    return this.post('/dashboard/login', { user, password });
  }

  /** The CSRF token of the sign-in, as its pages' forms carry it. */
  async csrf(page = '/dashboard'): Promise<string> {
    const res = await this.get(page);
    return /name="csrf" value="([^"]+)"/.exec(res.text)?.[1] ?? '';
  }
}

// A throw-away PKI for client-certificate (HTTPS) tests, made at test time with the openssl CLI
// (OpenSSL 3.0). Keys are never committed: each test run writes its own into a folder it owns.
//
// Keys are P-256 EC, not RSA 2048: eight RSA keys cost ~1.8 s of CPU here, eight EC keys ~40 ms,
// and Node, Go and Python TLS clients all accept ECDSA client certificates.
//
// How Node 20.20 shows the client cert's SAN, observed both in X509Certificate.subjectAltName and
// in the TLS peer certificate's `subjectaltname` — the string the server has to parse:
//   othername:UPN:alice@winrmd.test, email:alice@winrmd.test
// Node names OID 1.3.6.1.4.1.311.20.2.3 "UPN" and uses ONE colon before the value (the openssl
// CLI's -text prints "othername: UPN::alice@…" instead). Entries are joined by ", "; per Node's docs
// (not exercised here) a value with a comma or other special characters comes JSON-quoted.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface CertPair { cert: string; key: string; certPem: string; keyPem: string } // file paths + PEM text

export interface TestPki {
  dir: string;
  ca: CertPair; // self-signed "CN=winrmd test CA"
  caThumbprint: string; // SHA-1 of the CA cert: 40 lowercase hex chars, no colons
  server: CertPair; // CN=localhost, SAN DNS:localhost + IP:127.0.0.1, serverAuth
  client: CertPair; // CN=alice, SAN UPN + email alice@winrmd.test, clientAuth
  clientUpnOnly: CertPair; // CN=Bob Smith, SAN UPN bob@winrmd.test only (CN ≠ user name on purpose)
  unmapped: CertPair; // CN=mallory, SAN UPN mallory@winrmd.test: a user nobody maps
  expired: CertPair; // like client, but notBefore/notAfter both in 2020
  untrusted: CertPair; // like client, but issued by a second CA that is not `ca`
  source: CertPair; // CN=ws01.example.test: a Windows event forwarder's machine certificate
  source2: CertPair; // CN=ws02.example.test
  rogueSource: CertPair; // CN=ws01.example.test, issued by the rogue CA
}

const UPN = 'otherName:1.3.6.1.4.1.311.20.2.3;UTF8:';
const leaf = (eku: string, san: string) => `basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = ${eku}
subjectAltName = ${san}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
`;
const caExt = `basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
`;

// One config for every command. Paths in it are relative because openssl runs with cwd = dir:
// config values undergo $-expansion, so an absolute temp path must not be pasted in.
// The [ca]/[signer] part exists only for `openssl ca`, the one 3.0 command that takes explicit
// -startdate/-enddate (x509/req learnt -not_before/-not_after only in 3.4), which `expired` needs.
const CONFIG = `[req]
distinguished_name = dn
[dn]
[ca]
default_ca = signer
[signer]
database = ca-db/index.txt
new_certs_dir = ca-db
serial = ca-db/serial
default_md = sha256
policy = policy_any
unique_subject = no
[policy_any]
commonName = supplied
[ca_ext]
${caExt}
[server_ext]
${leaf('serverAuth', 'DNS:localhost,IP:127.0.0.1')}
[alice_ext]
${leaf('clientAuth', `${UPN}alice@winrmd.test,email:alice@winrmd.test`)}
[bob_ext]
${leaf('clientAuth', `${UPN}bob@winrmd.test`)}
[mallory_ext]
${leaf('clientAuth', `${UPN}mallory@winrmd.test`)}
[machine_ext]
${leaf('clientAuth', 'DNS:ws.example.test')}
`;

export function makeTestPki(dir: string): TestPki {
  dir = resolve(dir);
  mkdirSync(join(dir, 'ca-db'), { recursive: true });
  writeFileSync(join(dir, 'openssl.cnf'), CONFIG);
  // Reset the `openssl ca` database on every call so a second call on the same folder works.
  writeFileSync(join(dir, 'ca-db/index.txt'), '');
  writeFileSync(join(dir, 'ca-db/serial'), '1000\n');

  const openssl = (...args: string[]) =>
    execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-sha256'];
  const pair = (name: string): CertPair => {
    const cert = join(dir, `${name}.pem`), key = join(dir, `${name}.key`);
    return { cert, key, certPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8') };
  };
  // New key + certificate in one `req -x509` call; with -CA it is signed by that CA (random serial).
  const issue = (name: string, subj: string, ext: string, ca?: string) => {
    const signer = ca ? ['-CA', `${ca}.pem`, '-CAkey', `${ca}.key`] : [];
    openssl('req', '-x509', '-config', 'openssl.cnf', '-extensions', ext, ...newKey, ...signer,
      '-subj', subj, '-days', '30', '-keyout', `${name}.key`, '-out', `${name}.pem`);
    return pair(name);
  };

  const ca = issue('ca', '/CN=winrmd test CA', 'ca_ext');
  issue('rogue-ca', '/CN=winrmd rogue CA', 'ca_ext');

  // expired: CSR, then `openssl ca` with both dates in the past.
  openssl('req', '-new', '-config', 'openssl.cnf', ...newKey, '-subj', '/CN=alice',
    '-keyout', 'expired.key', '-out', 'expired.csr');
  openssl('ca', '-batch', '-config', 'openssl.cnf', '-extensions', 'alice_ext', '-notext',
    '-cert', 'ca.pem', '-keyfile', 'ca.key', '-in', 'expired.csr', '-out', 'expired.pem',
    '-startdate', '20200101000000Z', '-enddate', '20200102000000Z');

  const fp = openssl('x509', '-in', 'ca.pem', '-noout', '-fingerprint', '-sha1'); // "SHA1 Fingerprint=AB:CD:…"
  return {
    dir,
    ca,
    caThumbprint: fp.slice(fp.indexOf('=') + 1).trim().replaceAll(':', '').toLowerCase(),
    server: issue('server', '/CN=localhost', 'server_ext', 'ca'),
    client: issue('client', '/CN=alice', 'alice_ext', 'ca'),
    clientUpnOnly: issue('client-upn-only', '/CN=Bob Smith', 'bob_ext', 'ca'),
    unmapped: issue('unmapped', '/CN=mallory', 'mallory_ext', 'ca'),
    expired: pair('expired'),
    untrusted: issue('untrusted', '/CN=alice', 'alice_ext', 'rogue-ca'),
    source: issue('source', '/CN=ws01.example.test', 'machine_ext', 'ca'),
    source2: issue('source2', '/CN=ws02.example.test', 'machine_ext', 'ca'),
    rogueSource: issue('rogue-source', '/CN=ws01.example.test', 'machine_ext', 'rogue-ca'),
  };
}

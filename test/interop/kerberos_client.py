#!/usr/bin/python3
"""A real Kerberos initiator for winrmd's interop tests: MIT GSS-API (Debian's python3-gssapi) with
the credential cache KRB5CCNAME names, over one HTTP connection (http.client).

Reads one JSON job on stdin:

    {"endpoint": "http://127.0.0.1:5985/wsman", "service": "HTTP@collector.winrmd.test",
     "scheme": "Kerberos" | "Negotiate", "mech": "krb5" | "spnego", "iov": true,
     "protocol": "application/HTTP-Kerberos-session-encrypted", "empty_first": true,
     "messages": ["<s:Envelope ...>" | {"b64": "<bytes>", "type": "<OriginalContent type>",
                   "content_encoding": "SLDC"}, ...], "tamper": false, "replay": false}

does the handshake (the token in Authorization; with empty_first the request has no body, as a
Windows event forwarder sends it), feeds the reply's token (the AP-REP, mutual authentication) to
the context, then sends each message sealed in MS-WSMV 2.2.9.1.2's multipart/encrypted framing:
with iov, wrap_iov(HEADER, DATA, PADDING) as Windows writes it (the header in front, the data as
long as the plaintext); else one gss_wrap token cut the same way. Replies are opened with a plain
gss_unwrap of header + data. `tamper` flips a byte of the first sealed message; `replay` sends the
first sealed message twice.

Prints {"results": [{"legs": [...], "complete": bool, "replies": [...], "error": "..."}]}.
"""
import base64
import hashlib
import ssl
import http.client
import json
import re
import struct
import sys
import urllib.parse

import gssapi
import gssapi.raw
from gssapi.raw import IOV, IOVBufferType

KRB5 = gssapi.OID.from_int_seq('1.2.840.113554.1.2.2')
SPNEGO = gssapi.OID.from_int_seq('1.3.6.1.5.5.2')
BOUNDARY = 'Encrypted Boundary'


def seal(ctx, plaintext, protocol, iov, soap):
    if iov:
        buffers = IOV(IOVBufferType.header, plaintext, IOVBufferType.padding, std_layout=False)
        gssapi.raw.wrap_iov(ctx, buffers, confidential=True)
        header, data = buffers[0].value, buffers[1].value
        padding = buffers[2].value or b''
        data = data + padding
    else:
        token = ctx.wrap(plaintext, True).message
        header, data = token[:len(token) - len(plaintext)], token[len(token) - len(plaintext):]
    return (('--%s\r\n\tContent-Type: %s\r\n\tOriginalContent: type=%s;Length=%d\r\n'
             '--%s\r\n\tContent-Type: application/octet-stream\r\n') % (BOUNDARY, protocol, soap, len(plaintext), BOUNDARY)).encode('latin-1') \
        + struct.pack('<I', len(header)) + header + data + ('--%s--\r\n' % BOUNDARY).encode('latin-1')


def unseal(ctx, body):
    marker = ('--%s\r\n' % BOUNDARY).encode('latin-1')
    parts = body.split(marker)
    original = re.search(rb'OriginalContent:\s*([^\r\n]*)', parts[1]).group(1).decode('latin-1')
    protocol = re.search(rb'Content-Type:\s*([^\r\n]*)', parts[1]).group(1).decode('latin-1')
    payload = parts[2][parts[2].index(b'\r\n') + 2:parts[2].rindex(('--%s--' % BOUNDARY).encode('latin-1'))]
    length = struct.unpack('<I', payload[:4])[0]
    signature, sealed = payload[4:4 + length], payload[4 + length:]
    return original, protocol, len(signature), ctx.unwrap(signature + sealed).message


def run(job, result):
    url = urllib.parse.urlsplit(job['endpoint'])
    scheme = job.get('scheme', 'Kerberos')
    protocol = job.get('protocol', 'application/HTTP-Kerberos-session-encrypted')
    soap = job.get('soap', 'application/soap+xml;charset=UTF-8')
    target = gssapi.Name(job['service'], gssapi.NameType.hostbased_service)
    flags = gssapi.RequirementFlag.integrity | gssapi.RequirementFlag.confidentiality | gssapi.RequirementFlag.mutual_authentication \
        | gssapi.RequirementFlag.out_of_sequence_detection | gssapi.RequirementFlag.replay_detection
    mech = SPNEGO if job.get('mech') == 'spnego' else KRB5
    bindings = None
    if url.scheme == 'https':
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(url.hostname, url.port, timeout=15, context=context)
        conn.connect()
        if job.get('cbt'):
            # RFC 5929 tls-server-end-point: the hash of the server's certificate (SHA-256 for
            # SHA-1/MD5/SHA-256 signatures), as Windows and pywinrm's NTLM send it.
            cert = conn.sock.getpeercert(binary_form=True)
            bindings = gssapi.raw.ChannelBindings(application_data=b'tls-server-end-point:' + hashlib.sha256(cert).digest())
    else:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=15)
    ctx = gssapi.SecurityContext(name=target, usage='initiate', mech=mech, flags=flags, channel_bindings=bindings)

    token = ctx.step()
    body = b'' if job.get('empty_first', True) else None
    conn.request('POST', url.path, body=body or b'', headers={'Authorization': '%s %s' % (scheme, base64.b64encode(token).decode('ascii')), 'Content-Type': soap})
    response = conn.getresponse()
    response.read()
    values = response.msg.get_all('WWW-Authenticate') or []
    result['legs'].append({'sent': base64.b64encode(token).decode('ascii'), 'status': response.status, 'www_authenticate': values})
    if response.status != 200:
        raise RuntimeError('handshake refused: %d' % response.status)
    answer = None
    for value in values:
        got, _, rest = value.partition(' ')
        if got.lower() == scheme.lower() and rest.strip():
            answer = base64.b64decode(rest.strip())
    if answer is None:
        raise RuntimeError('no %s token in the 200 (no mutual authentication)' % scheme)
    ctx.step(answer)
    result['complete'] = ctx.complete

    sealed = []
    for message in job.get('messages', []):
        if isinstance(message, dict):
            sealed.append((seal(ctx, base64.b64decode(message['b64']), protocol, job.get('iov', True), message.get('type', soap)), message.get('content_encoding')))
        else:
            sealed.append((seal(ctx, message.encode('utf-8'), protocol, job.get('iov', True), soap), None))
    if job.get('tamper') and sealed:
        b = bytearray(sealed[0][0])
        b[-40] ^= 1
        sealed[0] = (bytes(b), sealed[0][1])
    if job.get('replay') and sealed:
        sealed.insert(1, sealed[0])
    for body, encoding in sealed:
        headers = {'Content-Type': 'multipart/encrypted;protocol="%s";boundary="%s"' % (protocol, BOUNDARY)}
        if encoding:
            headers['Content-Encoding'] = encoding
        conn.request('POST', url.path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        reply = {'status': response.status, 'content_type': response.getheader('Content-Type')}
        result['replies'].append(reply)
        if (reply['content_type'] or '').startswith('multipart/encrypted'):
            reply['original_content'], reply['protocol'], reply['signature_length'], plaintext = unseal(ctx, data)
            reply['plaintext'] = plaintext[2:].decode('utf-16-le') if plaintext[:2] == b'\xff\xfe' else plaintext.decode('utf-8')
        else:
            reply['plaintext'] = data.decode('utf-8', 'replace')
    conn.close()


def main():
    job = json.load(sys.stdin)
    result = {'legs': [], 'complete': False, 'replies': []}
    try:
        run(job, result)
    except Exception as e:  # reported, for the test to assert on
        result['error'] = '%s: %s' % (type(e).__name__, e)
    json.dump({'results': [result]}, sys.stdout)


if __name__ == '__main__':
    main()

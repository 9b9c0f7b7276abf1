#!/usr/bin/python3
"""A real SPNEGO initiator for winrmd's interop tests: MIT GSS-API (python3-gssapi) with the
gss-ntlmssp mechanism, limited to NTLM inside SPNEGO, over one HTTP connection (http.client).

Reads one JSON job on stdin:

    {"endpoint": "http://127.0.0.1:5985/wsman", "username": "alice", "password": "...",
     "messages": ["<s:Envelope ...>", ...]}

does the Negotiate handshake (RFC 4559: each leg's token in Authorization, the server's in
WWW-Authenticate, until a reply is not a 401), feeds the success reply's WWW-Authenticate token
(SPNEGO's accept-completed NegTokenResp with the mechListMIC) to the context, then sends each
message sealed with gss_wrap in MS-WSMV 2.2.9.1.1's multipart/encrypted framing, as pywinrm's
encryption.py frames it, and opens each reply with gss_unwrap.

Prints one JSON document on stdout: {"results": [RESULT]} with RESULT
    {"legs": [{"sent": "<base64 token>", "status": 401, "www_authenticate": ["Negotiate ..."]}, ...],
     "complete": true, "replies": [{"status": 200, "content_type": "...", "original_content": "...",
     "plaintext": "<the reply's SOAP>"}, ...],
     "error": "<exception class: message>"   (only when a step failed; what came before stays)}
"""
import base64
import http.client
import json
import re
import struct
import sys
import urllib.parse

import gssapi
import gssapi.raw

SPNEGO = gssapi.OID.from_int_seq('1.3.6.1.5.5.2')
NTLM = gssapi.OID.from_int_seq('1.3.6.1.4.1.311.2.2.10')
PROTOCOL = 'application/HTTP-SPNEGO-session-encrypted'
BOUNDARY = 'Encrypted Boundary'
CONTENT_TYPE = 'multipart/encrypted;protocol="%s";boundary="%s"' % (PROTOCOL, BOUNDARY)
SOAP = 'application/soap+xml;charset=UTF-8'


def negotiate_tokens(response):
    """The WWW-Authenticate values, and the Negotiate token among them (None when there is none)."""
    values = response.msg.get_all('WWW-Authenticate') or []
    token = None
    for value in values:
        scheme, _, rest = value.partition(' ')
        if scheme.lower() == 'negotiate' and rest.strip():
            token = base64.b64decode(rest.strip())
    return values, token


def seal(ctx, plaintext):
    """MS-WSMV 2.2.9.1.1: <uint32 LE signature length><signature><sealed>. gss-ntlmssp's gss_wrap
    (1.2.0) yields the 16-byte NTLM signature first, then the sealed message, as Windows does."""
    wrapped = ctx.wrap(plaintext, True).message
    signature, sealed = wrapped[:16], wrapped[16:]
    return (('--%s\r\n\tContent-Type: %s\r\n\tOriginalContent: type=%s;Length=%d\r\n'
             '--%s\r\n\tContent-Type: application/octet-stream\r\n') % (BOUNDARY, PROTOCOL, SOAP, len(plaintext), BOUNDARY)).encode('latin-1') \
        + struct.pack('<I', len(signature)) + signature + sealed + ('--%s--\r\n' % BOUNDARY).encode('latin-1')


def unseal(ctx, body):
    marker = ('--%s\r\n' % BOUNDARY).encode('latin-1')
    parts = body.split(marker)
    original = re.search(rb'OriginalContent:\s*([^\r\n]*)', parts[1]).group(1).decode('latin-1')
    payload = parts[2][parts[2].index(b'\r\n') + 2:parts[2].rindex(('--%s--' % BOUNDARY).encode('latin-1'))]
    length = struct.unpack('<I', payload[:4])[0]
    signature, sealed = payload[4:4 + length], payload[4 + length:]
    return original, ctx.unwrap(signature + sealed).message


def run(job, result):
    url = urllib.parse.urlsplit(job['endpoint'])
    name = gssapi.Name(job['username'], gssapi.NameType.user)
    creds = gssapi.raw.acquire_cred_with_password(name, job['password'].encode('utf-8'), usage='initiate', mechs=[SPNEGO]).creds
    gssapi.raw.set_neg_mechs(creds, [NTLM])  # SPNEGO, offering NTLM only
    target = gssapi.Name('HTTP@%s' % url.hostname, gssapi.NameType.hostbased_service)
    flags = gssapi.RequirementFlag.integrity | gssapi.RequirementFlag.confidentiality | gssapi.RequirementFlag.mutual_authentication
    ctx = gssapi.SecurityContext(name=target, creds=creds, usage='initiate', mech=SPNEGO, flags=flags)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=15)

    token = ctx.step()
    while True:
        conn.request('POST', url.path, body=b'', headers={'Authorization': 'Negotiate ' + base64.b64encode(token).decode('ascii'), 'Content-Type': SOAP})
        response = conn.getresponse()
        response.read()
        values, answer = negotiate_tokens(response)
        result['legs'].append({'sent': base64.b64encode(token).decode('ascii'), 'status': response.status, 'www_authenticate': values})
        if response.status != 401:
            break
        if answer is None:
            raise RuntimeError('401 without a Negotiate token: refused')
        token = ctx.step(answer)
    if answer is not None and not ctx.complete:
        ctx.step(answer)  # RFC 4178 §5: the acceptor's mechListMIC
    result['complete'] = ctx.complete

    for message in job.get('messages', []):
        conn.request('POST', url.path, body=seal(ctx, message.encode('utf-8')), headers={'Content-Type': CONTENT_TYPE})
        response = conn.getresponse()
        body = response.read()
        reply = {'status': response.status, 'content_type': response.getheader('Content-Type')}
        result['replies'].append(reply)
        if (reply['content_type'] or '').startswith('multipart/encrypted'):
            reply['original_content'], plaintext = unseal(ctx, body)
            reply['plaintext'] = plaintext.decode('utf-8')
        else:
            reply['plaintext'] = body.decode('utf-8', 'replace')
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

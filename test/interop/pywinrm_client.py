#!/usr/bin/python3
"""A real WinRM client for winrmd's interop tests: Debian's pywinrm (0.3.0) driving the server.

Reads one JSON job on stdin:

    {"endpoint": "http://127.0.0.1:5985/wsman", "transport": "plaintext" | "ssl",
     "username": "alice", "password": "...", "operation_timeout_sec": 10, "read_timeout_sec": 15,
     "steps": [STEP, ...]}

and prints one JSON document on stdout: {"results": [RESULT, ...]}, one RESULT per STEP, either
{"ok": true, "reply": "<the last reply's XML>", ...values parsed here...} or
{"ok": false, "error": "<exception class>", "message": "<str(exception)>", ...}.

A STEP is either a raw envelope (a string, or {"kind": "raw", "xml": "..."}), sent as is with
Protocol.send_message, or a named scenario whose envelopes are built here, the way pywinrm builds
its own (Protocol._get_soap_header + xmltodict, a fresh uuid4 MessageID each time):

    {"kind": "identify"}
    {"kind": "get", "resource_uri": "...", "selectors": {"Handle": "1"}}
    {"kind": "enumerate_all", "resource_uri": "...", "wql": "SELECT ...", "max_elements": 5,
     "optimize": true, "mode": "EnumerateObjectAndEPR", "max_pulls": 1000}
    {"kind": "invoke", "resource_uri": "...", "method": "Create", "selectors": {...}, "params": {...}}
    {"kind": "unauthenticated_post"}   (a bare requests POST, no Authorization header)

Replies are parsed with xml.etree.ElementTree, here, in the client's language: RelatesTo must equal
the MessageID sent and the reply Action must be the expected one, or the step fails with
ProtocolCheckError; the values the tests look at (ProductVendor, instance properties, enumerated
items, method output) are returned already parsed.
"""
import json
import sys
import traceback
import uuid
import xml.etree.ElementTree as ET

import requests
import xmltodict
from winrm.exceptions import WinRMTransportError
from winrm.protocol import Protocol

NS = {
    's': 'http://www.w3.org/2003/05/soap-envelope',
    'a': 'http://schemas.xmlsoap.org/ws/2004/08/addressing',
    'w': 'http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd',
    'n': 'http://schemas.xmlsoap.org/ws/2004/09/enumeration',
    'x': 'http://schemas.xmlsoap.org/ws/2004/09/transfer',
    'wsmid': 'http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd',
    'xsi': 'http://www.w3.org/2001/XMLSchema-instance',
}
XSI_NIL = '{%s}nil' % NS['xsi']
WQL = 'http://schemas.microsoft.com/wbem/wsman/1/WQL'
ACTION = {
    'get': 'http://schemas.xmlsoap.org/ws/2004/09/transfer/Get',
    'getResponse': 'http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse',
    'enumerate': 'http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate',
    'enumerateResponse': 'http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse',
    'pull': 'http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull',
    'pullResponse': 'http://schemas.xmlsoap.org/ws/2004/09/enumeration/PullResponse',
}
IDENTIFY = ('<s:Envelope xmlns:s="%s" xmlns:wsmid="%s"><s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>'
            % (NS['s'], NS['wsmid']))


class ProtocolCheckError(Exception):
    """The reply was delivered but is not what a WS-Management client may accept."""


def local(tag):
    return tag.rsplit('}', 1)[-1]


def text(root, path):
    node = root.find(path, NS)
    return None if node is None else (node.text or '')


def value_of(node):
    """A CIM property element: None for xsi:nil, the text, or {child: text} for structured values (cim:Datetime)."""
    if node.get(XSI_NIL) == 'true':
        return None
    kids = list(node)
    if kids:
        return {local(k.tag): value_of(k) for k in kids}
    return node.text or ''


def properties(node):
    """Child elements by local name; a repeated element (a CIM array) becomes a list."""
    out = {}
    for child in node:
        name = local(child.tag)
        v = value_of(child)
        if name in out:
            out[name] = out[name] if isinstance(out[name], list) else [out[name]]
            out[name].append(v)
        else:
            out[name] = v
    return out


class Client(object):
    def __init__(self, job):
        self.job = job
        self.protocol = Protocol(
            endpoint=job['endpoint'],
            transport=job.get('transport', 'plaintext'),
            username=job['username'],
            password=job['password'],
            server_cert_validation='ignore',
            operation_timeout_sec=job.get('operation_timeout_sec', 10),
            read_timeout_sec=job.get('read_timeout_sec', 15),
        )

    # -- envelopes, built as pywinrm builds its own -------------------------------------------------

    def envelope(self, action, resource_uri, body, selectors=None, options=None):
        message_id = uuid.uuid4()
        env = self.protocol._get_soap_header(action=action, resource_uri=resource_uri, message_id=message_id)
        header = env['env:Header']
        if selectors:
            header['w:SelectorSet'] = {'w:Selector': [{'@Name': k, '#text': str(v)} for k, v in selectors.items()]}
        if options:
            header['w:OptionSet'] = {'w:Option': [{'@Name': k, '#text': str(v)} for k, v in options.items()]}
        env['env:Body'] = body if body is not None else {}
        return 'uuid:%s' % message_id, xmltodict.unparse({'env:Envelope': env})

    def exchange(self, action, resource_uri, body, expect_action, selectors=None):
        """Send one request; check RelatesTo and Action; return (root, reply text)."""
        message_id, xml = self.envelope(action, resource_uri, body, selectors)
        reply = self.protocol.send_message(xml)
        if reply is None:
            # pywinrm 0.3.0 returns None for an HTTP error whose XML body holds no s:Fault.
            raise ProtocolCheckError('HTTP error without a SOAP fault')
        root = ET.fromstring(reply)
        relates_to = text(root, 's:Header/a:RelatesTo')
        if relates_to != message_id:
            raise ProtocolCheckError('RelatesTo %r is not the MessageID %r' % (relates_to, message_id))
        got_action = text(root, 's:Header/a:Action')
        if got_action != expect_action:
            raise ProtocolCheckError('Action %r, expected %r' % (got_action, expect_action))
        self.relates_to_checked += 1
        return root, reply

    # -- scenarios ----------------------------------------------------------------------------------

    def raw(self, step):
        xml = step if isinstance(step, str) else step['xml']
        reply = self.protocol.send_message(xml)
        return {'reply': reply.decode('utf-8') if isinstance(reply, bytes) else reply}

    def identify(self, step):
        reply = self.protocol.send_message(IDENTIFY)
        root = ET.fromstring(reply)
        ident = root.find('s:Body/wsmid:IdentifyResponse', NS)
        if ident is None:
            raise ProtocolCheckError('no wsmid:IdentifyResponse in the reply')
        return {
            'reply': reply.decode('utf-8'),
            'ProtocolVersion': text(ident, 'wsmid:ProtocolVersion'),
            'ProductVendor': text(ident, 'wsmid:ProductVendor'),
            'ProductVersion': text(ident, 'wsmid:ProductVersion'),
            'SecurityProfiles': [n.text for n in ident.findall('wsmid:SecurityProfiles/wsmid:SecurityProfileName', NS)],
        }

    def get(self, step):
        root, reply = self.exchange(ACTION['get'], step['resource_uri'], None, ACTION['getResponse'], step.get('selectors'))
        body = list(root.find('s:Body', NS))
        if len(body) != 1:
            raise ProtocolCheckError('a GetResponse body holds one instance, not %d elements' % len(body))
        return {'reply': reply.decode('utf-8'), 'class': local(body[0].tag),
                'namespace': body[0].tag[1:].split('}')[0] if body[0].tag.startswith('{') else '',
                'properties': properties(body[0])}

    def enumerate_all(self, step):
        """Enumerate, then Pull with the returned context until EndOfSequence."""
        enum = {}
        if step.get('optimize'):
            enum['w:OptimizeEnumeration'] = None
        if step.get('max_elements'):
            enum['w:MaxElements'] = str(step['max_elements'])
        if step.get('mode'):
            enum['w:EnumerationMode'] = step['mode']
        if step.get('wql') is not None:
            enum['w:Filter'] = {'@Dialect': step.get('dialect', WQL), '#text': step['wql']}
        uri = step['resource_uri']
        root, reply = self.exchange(ACTION['enumerate'], uri, {'n:Enumerate': enum}, ACTION['enumerateResponse'])
        resp = root.find('s:Body/n:EnumerateResponse', NS)
        if resp is None:
            raise ProtocolCheckError('no n:EnumerateResponse in the reply')
        items = []
        pages = []  # items per reply, Enumerate's (when optimized) first

        def take(container):
            page = 0
            if container is not None:
                for item in container:
                    items.append({'element': local(item.tag), 'properties': properties(item)})
                    page += 1
            pages.append(page)

        if step.get('optimize'):
            take(resp.find('w:Items', NS))
        end = resp.find('w:EndOfSequence', NS) is not None
        context = text(resp, 'n:EnumerationContext')
        pulls = 0
        while not end:
            if not context:
                raise ProtocolCheckError('no EnumerationContext and no EndOfSequence')
            pulls += 1
            if pulls > step.get('max_pulls', 1000):
                raise ProtocolCheckError('still no EndOfSequence after %d Pulls' % (pulls - 1))
            pull = {'n:EnumerationContext': context}
            if step.get('max_elements'):
                pull['n:MaxElements'] = str(step['max_elements'])
            root, reply = self.exchange(ACTION['pull'], uri, {'n:Pull': pull}, ACTION['pullResponse'])
            resp = root.find('s:Body/n:PullResponse', NS)
            if resp is None:
                raise ProtocolCheckError('no n:PullResponse in the reply')
            take(resp.find('n:Items', NS))
            end = resp.find('n:EndOfSequence', NS) is not None
            if not end:
                context = text(resp, 'n:EnumerationContext')
            if step.get('max_elements') and pages[-1] > int(step['max_elements']):
                raise ProtocolCheckError('a Pull returned %d items, more than MaxElements' % pages[-1])
        return {'reply': reply.decode('utf-8'), 'items': items, 'pulls': pulls, 'pages': pages}

    def invoke(self, step):
        uri, method = step['resource_uri'], step['method']
        action = '%s/%s' % (uri, method)
        params = {'@xmlns:p': uri}
        for k, v in (step.get('params') or {}).items():
            params['p:%s' % k] = str(v)
        root, reply = self.exchange(action, uri, {'p:%s_INPUT' % method: params}, action + 'Response', step.get('selectors'))
        out = root.find('{%s}Body/{%s}%s_OUTPUT' % (NS['s'], uri, method))
        if out is None:
            raise ProtocolCheckError('no %s_OUTPUT in the %s namespace' % (method, uri))
        return {'reply': reply.decode('utf-8'), 'output': properties(out)}

    def unauthenticated_post(self, step):
        r = requests.post(self.job['endpoint'], data=IDENTIFY.encode('utf-8'), verify=False, timeout=10,
                          headers={'Content-Type': 'application/soap+xml;charset=UTF-8'})
        return {'reply': r.text, 'status': r.status_code,
                'www_authenticate': r.headers.get('WWW-Authenticate')}

    def run(self, step):
        self.relates_to_checked = 0
        kind = 'raw' if isinstance(step, str) else step.get('kind', 'raw')
        handler = getattr(self, kind, None) if not kind.startswith('_') and kind not in ('run', 'envelope', 'exchange') else None
        if handler is None:
            raise ValueError('unknown step kind %r' % kind)
        result = handler(step)
        result['relates_to_checked'] = self.relates_to_checked
        return result


def main():
    import warnings
    warnings.simplefilter('ignore')  # InsecureRequestWarning on the unauthenticated HTTPS post
    job = json.load(sys.stdin)
    client = Client(job)
    results = []
    for step in job['steps']:
        try:
            result = client.run(step)
            result['ok'] = True
        except Exception as e:  # the test asserts on the class name and message
            result = {'ok': False, 'error': type(e).__name__, 'message': str(e)}
            if isinstance(e, WinRMTransportError):
                result['code'] = e.code
                rt = e.response_text
                result['response_text'] = rt.decode('utf-8', 'replace') if isinstance(rt, bytes) else rt
            if type(e).__name__ not in ('WinRMError', 'InvalidCredentialsError', 'WinRMTransportError', 'ProtocolCheckError'):
                result['traceback'] = traceback.format_exc()
        results.append(result)
    json.dump({'results': results}, sys.stdout)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()

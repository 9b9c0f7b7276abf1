#!/usr/bin/python3
"""A real WinRM client for winrmd's interop tests: Debian's pywinrm (0.3.0) driving the server.

Reads one JSON job on stdin:

    {"endpoint": "http://127.0.0.1:5985/wsman", "transport": "plaintext" | "ssl" | "ntlm" | "certificate",
     "username": "alice", "password": "...", "operation_timeout_sec": 10, "read_timeout_sec": 15,
     "message_encryption": "auto" | "always" | "never", "send_cbt": true,
     "cert_pem": "/path/client.pem", "cert_key_pem": "/path/client.key", "record_wire": false,
     "kerberos_hostname_override": "host.example.com",
     "steps": [STEP, ...]}

username/password may be left out for "certificate". message_encryption, send_cbt, cert_pem and
cert_key_pem are pywinrm's own Protocol/Session keyword arguments, passed only when present in the
job (pywinrm's defaults otherwise: 'auto', True, None, None), to every Protocol and Session made.
With "record_wire": true every RESULT also carries "wire": one entry per HTTP exchange the step
caused, in order, handshake legs included (see WireRecorder).

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

Remote-shell steps go through pywinrm's own API, unmodified, exactly as its users call it (no
envelope is built here and no RelatesTo is checked here; pywinrm asserts RelatesTo itself in
close_shell and cleanup_command only):

    {"kind": "run_cmd", "command": "ls", "args": ["-la", "/"]}    winrm.Session(...).run_cmd
    {"kind": "run_ps", "script": "..."}                            winrm.Session(...).run_ps
    {"kind": "shell_run", "command": "...", "args": [...], SHELL_OPTIONS..., "console_mode_stdin": true,
     "skip_cmd_shell": false, "keep_shell": false, "skip_cleanup": false}
        Protocol: open_shell, run_command, get_command_output, cleanup_command, close_shell
    {"kind": "open_shell", SHELL_OPTIONS...}                       -> shell_id
    {"kind": "run_command", "shell_id": "...", "command": "...", "args": [...],
     "console_mode_stdin": true, "skip_cmd_shell": false}          -> command_id
    {"kind": "get_command_output", "shell_id": "...", "command_id": "..."}   (loops until Done)
    {"kind": "receive_once", "shell_id": "...", "command_id": "..."}  one Receive
        (Protocol._raw_get_command_output): stdout/stderr of that reply, command_done, status_code
    {"kind": "cleanup_command", "shell_id": "...", "command_id": "..."}   (Signal terminate)
    {"kind": "close_shell", "shell_id": "..."}                     (Delete)

SHELL_OPTIONS are open_shell's own keyword arguments, passed only when present in the step:
working_directory, env_vars, noprofile, codepage, idle_timeout, lifetime, i_stream, o_stream.
Every shell step may also carry "username"/"password" (default: the job's) and
"operation_timeout_sec"/"read_timeout_sec" (default: the job's, else pywinrm's own 20/30). Steps with
the same credentials and timeouts share one Protocol (one requests session), as a user's code would.
"shell_id": "$N" / "command_id": "$N" stand for that value in step N's result (0-based).

Shell results carry shell_id/command_id when known, status_code, std_out_b64/std_err_b64 (base64
of the exact bytes pywinrm returned) and ms (wall time of the step). A failed shell step still
reports what it got before failing (shell_id, command_id, the output, and "stage": the pywinrm call
that raised); pywinrm's WinRMError messages are also parsed into "fault_data" (http_status_code,
wsmanfault_code, fault_code, fault_subcode) when they carry it.
"""
import ast
import base64
import json
import re
import ssl
import sys
import time
import traceback
import uuid
import xml.etree.ElementTree as ET

import requests
import requests.adapters
import winrm
import xmltodict
from winrm.exceptions import WinRMError, WinRMTransportError
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


class StepReferenceError(Exception):
    """A "$N" reference names a step that has not run or has no such value."""


SHELL_OPTIONS = ('working_directory', 'env_vars', 'noprofile', 'codepage', 'idle_timeout', 'lifetime',
                 'i_stream', 'o_stream')
COMMAND_OPTIONS = ('console_mode_stdin', 'skip_cmd_shell')


def b64(data):
    return base64.b64encode(data).decode('ascii')


def elapsed_ms(t0):
    return int(round((time.monotonic() - t0) * 1000))


def picked(step, names):
    """The step's values for pywinrm keyword arguments, only those present (pywinrm's defaults otherwise)."""
    return {k: step[k] for k in names if k in step}


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


AUTH_OPTIONS = ('message_encryption', 'send_cbt', 'cert_pem', 'cert_key_pem', 'kerberos_hostname_override')


def auth_options(job):
    """The job's transport and pywinrm's authentication keyword arguments, for Protocol and Session alike."""
    out = picked(job, AUTH_OPTIONS)
    out['transport'] = job.get('transport', 'plaintext')
    return out


ORIGINAL_CONTENT = re.compile(rb'OriginalContent: *([^\r\n]*)')


class WireRecorder(object):
    """Records every HTTP exchange requests makes, at HTTPAdapter.send: the one place both a
    Session's own requests and requests_ntlm's handshake legs (response.connection.send) go
    through. Behaviour is unchanged: the response is not read here (requests_ntlm still reads the
    server certificate for channel bindings off the unread response's socket), only described once
    the step is over and the bodies have been read by their consumers.

    Each entry: method; request_content_type; auth_scheme (the Authorization header's scheme, or
    the whole value for the mutual-certificate profile; Basic credentials are never recorded);
    ntlm_token (the base64 NTLMSSP token of an NTLM/Negotiate header); request_length;
    request_plain_soap (the request body holds the bytes "Envelope", i.e. SOAP in clear);
    request_original_content (OriginalContent of a multipart/encrypted body); status;
    response_content_type; www_authenticate (each WWW-Authenticate header, as sent);
    connection (the response's Connection header); response_length; response_plain_soap;
    response_original_content; local_port (the client's end of the TCP connection: the same port
    means the same connection); tls (the TLS version, or null over plain HTTP)."""

    def __init__(self):
        self.exchanges = []
        real_send = requests.adapters.HTTPAdapter.send
        recorder = self

        def send(adapter, request, **kwargs):
            try:
                response = real_send(adapter, request, **kwargs)
            except Exception as e:
                recorder.exchanges.append((request, None, {'error': '%s: %s' % (type(e).__name__, e)}))
                raise
            recorder.exchanges.append((request, response, recorder._socket_facts(response)))
            return response
        requests.adapters.HTTPAdapter.send = send

    @staticmethod
    def _socket_facts(response):
        try:
            sock = response.raw._fp.fp.raw._sock  # where requests_ntlm reads the peer certificate too
            return {'local_port': sock.getsockname()[1],
                    'tls': sock.version() if isinstance(sock, ssl.SSLSocket) else None}
        except Exception as e:  # described, not fatal: the exchange itself went through
            return {'socket_error': '%s: %s' % (type(e).__name__, e)}

    @staticmethod
    def _original_content(body):
        m = ORIGINAL_CONTENT.search(body[:512]) if body else None
        return m.group(1).decode('latin1').strip() if m else None

    def _describe(self, request, response, facts):
        body = request.body or b''
        if isinstance(body, str):
            body = body.encode('utf-8')
        auth = request.headers.get('Authorization')
        scheme = None if auth is None else auth.split(' ', 1)[0]
        entry = {
            'method': request.method,
            'request_content_type': request.headers.get('Content-Type'),
            'auth_scheme': scheme,
            'ntlm_token': auth.split(' ', 1)[1] if scheme in ('NTLM', 'Negotiate') and ' ' in auth else None,
            'request_length': len(body),
            'request_plain_soap': b'Envelope' in body,
            'request_original_content': self._original_content(body),
        }
        entry.update(facts)
        if response is not None:
            content = response._content if response._content_consumed and response._content else b''
            entry.update({
                'status': response.status_code,
                'response_content_type': response.headers.get('Content-Type'),
                'www_authenticate': response.raw.headers.getlist('WWW-Authenticate'),
                'connection': response.headers.get('Connection'),
                'response_length': len(content),
                'response_plain_soap': b'Envelope' in content,
                'response_original_content': self._original_content(content),
            })
        return entry

    def take(self):
        """The exchanges since the last take, described."""
        taken, self.exchanges = self.exchanges, []
        return [self._describe(*x) for x in taken]


class Client(object):
    def __init__(self, job):
        self.job = job
        self.protocol = Protocol(
            endpoint=job['endpoint'],
            username=job.get('username'),
            password=job.get('password'),
            server_cert_validation='ignore',
            operation_timeout_sec=job.get('operation_timeout_sec', 10),
            read_timeout_sec=job.get('read_timeout_sec', 15),
            **auth_options(job)
        )
        self.protocols = {}  # the shell steps' Protocols, by credentials and timeouts
        self.results = []  # the results so far, for "$N" references (main appends to it)

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
        root, reply = self.exchange(ACTION['enumerate'], uri, {'n:Enumerate': enum}, ACTION['enumerateResponse'], step.get('selectors'))
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

    # -- the remote shell, through pywinrm's own API ------------------------------------------------

    def _credentials(self, step):
        """(username, password, timeout kwargs): the step's, else the job's; timeouts set by neither are
        left to pywinrm (Protocol.DEFAULT_OPERATION_TIMEOUT_SEC 20, DEFAULT_READ_TIMEOUT_SEC 30)."""
        timeouts = {}
        for k in ('operation_timeout_sec', 'read_timeout_sec'):
            v = step.get(k, self.job.get(k))
            if v is not None:
                timeouts[k] = v
        return step.get('username', self.job.get('username')), step.get('password', self.job.get('password')), timeouts

    def _protocol(self, step):
        username, password, timeouts = self._credentials(step)
        key = (username, password, tuple(sorted(timeouts.items())))
        if key not in self.protocols:
            self.protocols[key] = Protocol(
                self.job['endpoint'],
                username=username,
                password=password,
                server_cert_validation='ignore',
                **dict(auth_options(self.job), **timeouts))
        return self.protocols[key]

    def _ref(self, step, key):
        """step[key], or for "$N" the value of key in step N's result."""
        v = step.get(key)
        if isinstance(v, str) and len(v) > 1 and v[0] == '$' and v[1:].isdigit():
            n = int(v[1:])
            if n >= len(self.results):
                raise StepReferenceError('%s %r: step %d has not run yet' % (key, v, n))
            prior = self.results[n]
            if prior.get(key) is None:
                raise StepReferenceError('%s %r: step %d has no %s (%s: %s)'
                                         % (key, v, n, key, prior.get('error'), prior.get('message')))
            return prior[key]
        if v is None:
            raise StepReferenceError('the step has no %s' % key)
        return v

    @staticmethod
    def _output(out, std_out, std_err, code):
        out.update(status_code=code, std_out_b64=b64(std_out), std_err_b64=b64(std_err))

    @staticmethod
    def _failing(e, out, t0):
        """Attach what the step got before e to e, for main to report; then re-raise."""
        out['ms'] = elapsed_ms(t0)
        e.partial = out
        raise e

    def _session_step(self, step, call):
        """winrm.Session as users build it; call(session) runs run_cmd or run_ps. The Session's protocol
        and run_cmd are observed (wrapped on the instance, behaviour unchanged) to report the shell and
        command ids and the output even when run_ps raises after the command ran."""
        t0 = time.monotonic()
        out = {}
        try:
            username, password, timeouts = self._credentials(step)
            session = winrm.Session(self.job['endpoint'], auth=(username, password),
                                    server_cert_validation='ignore', **dict(auth_options(self.job), **timeouts))
            proto = session.protocol

            def observed(name, record=None):
                real = getattr(proto, name)

                def call_through(*a, **kw):
                    out['stage'] = name
                    value = real(*a, **kw)
                    if record:
                        out[record] = value
                    return value
                setattr(proto, name, call_through)

            for name, record in (('open_shell', 'shell_id'), ('run_command', 'command_id'), ('get_command_output', None),
                                 ('cleanup_command', None), ('close_shell', None)):
                observed(name, record)
            real_run_cmd = session.run_cmd

            def run_cmd(command, args=()):
                out['command'] = command
                out['args'] = None if args is None else list(args)
                rs = real_run_cmd(command, args)
                self._output(out, rs.std_out, rs.std_err, rs.status_code)
                out['stage'] = '_clean_error_msg'  # only run_ps does more after run_cmd
                return rs

            session.run_cmd = run_cmd
            rs = call(session)
        except Exception as e:
            self._failing(e, out, t0)
        out.pop('stage', None)
        # run_ps may have replaced std_err by its cleaned-up text; report what the call returned
        std_err = rs.std_err if isinstance(rs.std_err, bytes) else rs.std_err.encode('utf-8')
        self._output(out, rs.std_out, std_err, rs.status_code)
        out['ms'] = elapsed_ms(t0)
        return out

    def run_cmd(self, step):
        return self._session_step(step, lambda session: session.run_cmd(step['command'], step.get('args', ())))

    def run_ps(self, step):
        return self._session_step(step, lambda session: session.run_ps(step['script']))

    def shell_run(self, step):
        """Protocol.open_shell, run_command, get_command_output, cleanup_command, close_shell, as
        Session.run_cmd does them, with the step's options."""
        t0 = time.monotonic()
        out = {}
        try:
            p = self._protocol(step)
            out['stage'] = 'open_shell'
            shell_id = out['shell_id'] = p.open_shell(**picked(step, SHELL_OPTIONS))
            out['stage'] = 'run_command'
            command_id = out['command_id'] = p.run_command(shell_id, step['command'], step.get('args', ()),
                                                           **picked(step, COMMAND_OPTIONS))
            out['stage'] = 'get_command_output'
            std_out, std_err, code = p.get_command_output(shell_id, command_id)
            self._output(out, std_out, std_err, code)
            if not step.get('skip_cleanup'):
                out['stage'] = 'cleanup_command'
                p.cleanup_command(shell_id, command_id)
            if not step.get('keep_shell'):
                out['stage'] = 'close_shell'
                p.close_shell(shell_id)
        except Exception as e:
            self._failing(e, out, t0)
        del out['stage']
        out['ms'] = elapsed_ms(t0)
        return out

    def open_shell(self, step):
        t0 = time.monotonic()
        shell_id = self._protocol(step).open_shell(**picked(step, SHELL_OPTIONS))
        return {'shell_id': shell_id, 'ms': elapsed_ms(t0)}

    def close_shell(self, step):
        t0 = time.monotonic()
        out = {}
        try:
            out['shell_id'] = self._ref(step, 'shell_id')
            self._protocol(step).close_shell(out['shell_id'])
        except Exception as e:
            self._failing(e, out, t0)
        out['ms'] = elapsed_ms(t0)
        return out

    def run_command(self, step):
        t0 = time.monotonic()
        out = {}
        try:
            out['shell_id'] = self._ref(step, 'shell_id')
            out['command_id'] = self._protocol(step).run_command(
                out['shell_id'], step['command'], step.get('args', ()), **picked(step, COMMAND_OPTIONS))
        except Exception as e:
            self._failing(e, out, t0)
        out['ms'] = elapsed_ms(t0)
        return out

    def _with_command(self, step, call):
        t0 = time.monotonic()
        out = {}
        try:
            out['shell_id'] = self._ref(step, 'shell_id')
            out['command_id'] = self._ref(step, 'command_id')
            call(self._protocol(step), out)
        except Exception as e:
            self._failing(e, out, t0)
        out['ms'] = elapsed_ms(t0)
        return out

    def get_command_output(self, step):
        def call(p, out):
            self._output(out, *p.get_command_output(out['shell_id'], out['command_id']))
        return self._with_command(step, call)

    def receive_once(self, step):
        def call(p, out):
            std_out, std_err, code, done = p._raw_get_command_output(out['shell_id'], out['command_id'])
            self._output(out, std_out, std_err, code)
            out['command_done'] = done
        return self._with_command(step, call)

    def cleanup_command(self, step):
        return self._with_command(step, lambda p, out: p.cleanup_command(out['shell_id'], out['command_id']))

    def run(self, step):
        self.relates_to_checked = 0
        kind = 'raw' if isinstance(step, str) else step.get('kind', 'raw')
        handler = getattr(self, kind, None) if not kind.startswith('_') and kind not in ('run', 'envelope', 'exchange') else None
        if handler is None:
            raise ValueError('unknown step kind %r' % kind)
        result = handler(step)
        result['relates_to_checked'] = self.relates_to_checked
        return result


def parse_fault_data(message):
    """The dict Protocol.send_message appends to a SOAP fault's Reason text:
    '<Reason> (extended fault data: {...})'; None when the message has none."""
    marker = ' (extended fault data: '
    if marker not in message or not message.endswith(')'):
        return None
    try:
        data = ast.literal_eval(message.rsplit(marker, 1)[1][:-1])
    except (ValueError, SyntaxError):
        return None
    return data if isinstance(data, dict) else None


def main():
    import warnings
    warnings.simplefilter('ignore')  # InsecureRequestWarning on the unauthenticated HTTPS post
    job = json.load(sys.stdin)
    recorder = WireRecorder() if job.get('record_wire') else None
    client = Client(job)
    results = client.results
    for step in job['steps']:
        try:
            result = client.run(step)
            result['ok'] = True
        except Exception as e:  # the test asserts on the class name and message
            result = dict(getattr(e, 'partial', None) or {})  # what a shell step got before failing
            result.update({'ok': False, 'error': type(e).__name__, 'message': str(e)})
            if isinstance(e, WinRMTransportError):
                result['code'] = e.code
                rt = e.response_text
                result['response_text'] = rt.decode('utf-8', 'replace') if isinstance(rt, bytes) else rt
            elif isinstance(e, WinRMError):
                fault_data = parse_fault_data(str(e))
                if fault_data is not None:
                    result['fault_data'] = fault_data
            if type(e).__name__ not in ('WinRMError', 'InvalidCredentialsError', 'WinRMTransportError',
                                        'ProtocolCheckError', 'StepReferenceError'):
                result['traceback'] = traceback.format_exc()
        if recorder is not None:
            result['wire'] = recorder.take()
        results.append(result)
    json.dump({'results': results}, sys.stdout)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()

#!/usr/bin/python3
"""pywinrm (Debian's python3-winrm, unmodified) against a fleet of winrmd lab hosts at once.

Reads one JSON job on stdin:
    {"hosts": [{"endpoint": "http://127.0.40.1:5985/wsman"}, ...], "username": "...", "password": "...",
     "threads": 50, "command": "hostname"}
and prints {"results": [RESULT, ...]}, one per host in the job's order:
    {"ok": true, "status_code": 0, "std_out": "...", "caption": "<Win32_OperatingSystem CSName>"}
    or {"ok": false, "error": "<class>", "message": "..."}.
Each host gets its own Session (its own HTTP connection pool), as a tool managing a fleet does;
requests go over plain HTTP with Basic (transport 'plaintext'), which the lab allows.
"""
import json
import sys
from concurrent.futures import ThreadPoolExecutor

import winrm
import xml.etree.ElementTree as ET

GET_OS = """<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">
<s:Header><a:To>{to}</a:To><w:ResourceURI s:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_OperatingSystem</w:ResourceURI>
<a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>
<a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action>
<w:MaxEnvelopeSize s:mustUnderstand="true">153600</w:MaxEnvelopeSize><a:MessageID>uuid:{id}</a:MessageID><w:OperationTimeout>PT20S</w:OperationTimeout></s:Header><s:Body/></s:Envelope>"""


def one(job, host):
    import uuid
    try:
        session = winrm.Session(host["endpoint"], auth=(job["username"], job["password"]), transport="plaintext")
        r = session.run_cmd(job.get("command", "hostname"))
        reply = session.protocol.send_message(GET_OS.format(to=host["endpoint"], id=uuid.uuid4()))
        root = ET.fromstring(reply)
        names = [e.text for e in root.iter() if e.tag.endswith("}CSName")]
        return {"ok": True, "status_code": r.status_code, "std_out": r.std_out.decode("utf-8"), "caption": names[0] if names else None}
    except Exception as e:  # reported per host: one failing host must not hide the others
        return {"ok": False, "error": type(e).__name__, "message": str(e)}


def main():
    job = json.load(sys.stdin)
    with ThreadPoolExecutor(max_workers=job.get("threads", 50)) as pool:
        results = list(pool.map(lambda h: one(job, h), job["hosts"]))
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()

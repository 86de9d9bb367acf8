"""STS in front of a moto that enforces IAM: takes unsigned web identity calls, as AWS does.

Real STS takes AssumeRoleWithWebIdentity unsigned (the OIDC token is the proof); moto with auth
on wants every request signed and answers an unsigned one with a 500. This gateway records each
call and forwards it signed with moto's admin keys; what comes back is still the role's own
temporary credentials (ASIA...), holding only the role's policies.
"""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from prism_dagster_tests.support.moto_iam import REGION, IamMoto
from prism_dagster_tests.support.process import HOST


@dataclass
class StsGateway:
    """Point AWS_ENDPOINT_URL_STS at ``url``; ``calls`` holds each request's form fields."""

    url: str
    calls: list[dict[str, str]] = field(default_factory=list)


@contextmanager
def sts_gateway(moto: IamMoto) -> Iterator[StsGateway]:
    """Serve on a free port until the block ends."""
    gateway = StsGateway(url="")
    admin = Credentials(*moto.admin)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            gateway.calls.append(dict(urllib.parse.parse_qsl(body.decode())))
            request = AWSRequest(
                method="POST",
                url=f"{moto.endpoint_url}{self.path}",
                data=body,
                headers={"Content-Type": self.headers.get("Content-Type", "")},
            )
            SigV4Auth(admin, "sts", REGION).add_auth(request)
            reply = requests.post(request.url, data=body, headers=dict(request.headers))
            self.send_response(reply.status_code)
            self.send_header("Content-Type", reply.headers.get("Content-Type", "text/xml"))
            self.send_header("Content-Length", str(len(reply.content)))
            self.end_headers()
            self.wfile.write(reply.content)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer((HOST, 0), Handler)
    gateway.url = f"http://{HOST}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gateway
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

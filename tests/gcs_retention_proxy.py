"""A GCS bucket retention policy in front of the GCS emulator, which has none.

The proxy forwards every request to the emulator. For a bucket created with a ``retentionPolicy``
(as GCS's JSON API takes it) it answers as GCS does for objects younger than the policy, which in a
test is every object: a delete is refused (403), an upload onto an existing name is refused (403;
412 when it asked ``ifGenerationMatch=0``), and a copy, rewrite or compose onto an existing name is
refused (403). It also honours ``ifGenerationMatch=0`` on any upload, which the emulator ignores,
atomically as GCS does: uploads pass the proxy one at a time, from the check to the emulator's answer,
and a resumable upload started with the condition is checked again when its bytes arrive. Every
refusal is counted, so a test can say that nothing tried to replace or delete.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import httpx

_OBJECT = re.compile(r"^/storage/v1/b/(?P<bucket>[^/]+)/o/(?P<name>[^/]+)$")
_UPLOAD = re.compile(r"^/upload/storage/v1/b/(?P<bucket>[^/]+)/o$")
_ONTO = re.compile(
    r"^/storage/v1/b/[^/]+/o/[^/]+/(?:copyTo|rewriteTo)/b/(?P<bucket>[^/]+)/o/(?P<name>[^/]+)$"
    r"|^/storage/v1/b/(?P<cbucket>[^/]+)/o/(?P<cname>[^/]+)/compose$"
)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"}


class RetentionProxy:
    """The proxy server: ``url`` for clients, ``refused`` lists what it refused as (method, path, status)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.locked: set[str] = set()
        self.refused: list[tuple[str, str, int]] = []
        self._client = httpx.Client(timeout=30)
        self._lock = threading.Lock()
        #: Held from an upload's check to the emulator's answer, so two exclusive creates cannot both pass.
        self._upload_lock = threading.Lock()
        #: Resumable uploads started with ifGenerationMatch=0: upload id -> (bucket, object name).
        self._exclusive_uploads: dict[str, tuple[str, str]] = {}
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                proxy.handle(self)

            do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> RetentionProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        parts = urlsplit(request.path)
        query = parse_qs(parts.query)
        if request.command in ("POST", "PUT") and _UPLOAD.match(parts.path):
            with self._upload_lock:
                self._handle(request, parts.path, query, body)
        else:
            self._handle(request, parts.path, query, body)

    def _handle(self, request: BaseHTTPRequestHandler, path: str, query: dict[str, list[str]], body: bytes) -> None:
        refusal = self._refusal(request.command, path, query, body)
        if refusal is not None:
            status, reason = refusal
            if status != 499:
                with self._lock:
                    self.refused.append((request.command, unquote(path), status))
            payload = json.dumps({"error": {"code": status, "message": reason, "errors": [{"reason": reason}]}})
            self._answer(request, status, {"Content-Type": "application/json"}, payload.encode())
            return
        if request.command == "POST" and path == "/storage/v1/b":
            self._remember_policy(body)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        answer = self._client.request(request.command, self.upstream + request.path, headers=headers, content=body)
        out = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
        if "location" in {k.lower() for k in out}:  # resumable uploads continue through the proxy
            out = {k: (v.replace(self.upstream, self.url) if k.lower() == "location" else v) for k, v in out.items()}
            self._remember_exclusive_upload(path, query, body, answer.headers.get("location", ""))
        self._answer(request, answer.status_code, out, answer.content)

    def _remember_exclusive_upload(self, path: str, query: dict[str, list[str]], body: bytes, location: str) -> None:
        match = _UPLOAD.match(path)
        upload_id = parse_qs(urlsplit(location).query).get("upload_id", [None])[0]
        if match and upload_id and query.get("ifGenerationMatch") == ["0"]:
            name = query.get("name", [None])[0] or _name_in_metadata(body)
            if name is not None:
                self._exclusive_uploads[upload_id] = (match["bucket"], name)

    def _answer(self, request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> None:
        request.send_response(status)
        for key, value in headers.items():
            request.send_header(key, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(body)

    def _remember_policy(self, body: bytes) -> None:
        try:
            bucket = json.loads(body or b"{}")
        except ValueError:
            return
        if bucket.get("retentionPolicy"):
            with self._lock:
                self.locked.add(bucket["name"])

    def _refusal(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> tuple[int, str] | None:
        if method == "DELETE" and _UPLOAD.match(path) and "upload_id" in query:
            # Cancelling a resumable upload, which the emulator does not know: GCS answers 499.
            return 499, "the resumable upload was cancelled"
        if match := _OBJECT.match(path):
            if method == "DELETE" and match["bucket"] in self.locked:
                return 403, "retentionPolicyNotMet: the object is under the bucket's retention policy"
            return None
        if method == "PUT" and _UPLOAD.match(path) and "upload_id" in query:
            target = self._exclusive_uploads.get(query["upload_id"][0])
            if target is not None and self._exists(*target):
                return 412, "conditionNotMet: the object exists"
            return None
        if method == "POST" and (match := _UPLOAD.match(path)):
            name = query.get("name", [None])[0] or _name_in_metadata(body)
            if name is None or not self._exists(match["bucket"], name):
                return None
            if query.get("ifGenerationMatch") == ["0"]:
                return 412, "conditionNotMet: the object exists"
            if match["bucket"] in self.locked:
                return 403, "retentionPolicyNotMet: an object under retention cannot be replaced"
            return None
        if method == "POST" and (match := _ONTO.match(path)):
            bucket, name = match["bucket"] or match["cbucket"], match["name"] or match["cname"]
            if bucket in self.locked and self._exists(bucket, unquote(name)):
                return 403, "retentionPolicyNotMet: an object under retention cannot be replaced"
        return None

    def _exists(self, bucket: str, name: str) -> bool:
        answer = self._client.get(f"{self.upstream}/storage/v1/b/{bucket}/o/{quote(name, safe='')}")
        return answer.status_code == 200


def _name_in_metadata(body: bytes) -> str | None:
    """The object name in a multipart upload's JSON metadata part."""
    match = re.search(rb'"name"\s*:\s*"((?:[^"\\]|\\.)*)"', body[:65536])
    return json.loads(b'"' + match.group(1) + b'"') if match else None

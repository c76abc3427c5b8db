"""HTTP plumbing on the standard library: JSON conversion, multipart bodies, one request call."""

import io
import json
import mimetypes
import numbers
import os
import socket
import ssl
import uuid
import http.client
import urllib.parse
import urllib.request
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from .errors import InferboxConnectionError, InferboxError, InferboxTimeoutError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_CHUNK = 1 << 20


# ---------------------------------------------------------------------------------------------
# JSON


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: numpy arrays and scalars (anything with ``.tolist()``) and
    pandas objects (``.to_numpy()``) become lists and numbers; dicts, lists and tuples are walked.
    """
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError("bytes cannot be sent as JSON; send a file with files={...} instead")
    to_numpy = getattr(value, "to_numpy", None)  # pandas DataFrame / Series
    if callable(to_numpy):
        return to_jsonable(to_numpy())
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars, array.array
    if callable(tolist):
        return to_jsonable(tolist())
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError("cannot send a {} as JSON: use lists, dicts, numbers, strings or numpy arrays".format(type(value).__name__))


def dumps(value: Any) -> str:
    """Compact JSON; NaN and infinities are refused (JSON has no such numbers)."""
    return json.dumps(to_jsonable(value), separators=(",", ":"), allow_nan=False)


# ---------------------------------------------------------------------------------------------
# Files and multipart bodies


class FilePart:
    """One file to upload: its name as the server sees it and its bytes (in memory or on disk)."""

    def __init__(self, filename: str, data: Optional[bytes] = None, path: Optional[str] = None, content_type: Optional[str] = None) -> None:
        if (data is None) == (path is None):
            raise ValueError("a FilePart has either data or path")
        self.filename = filename
        self.data = data
        self.path = path
        self.content_type = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"

    def size(self) -> int:
        return len(self.data) if self.data is not None else os.path.getsize(self.path)  # type: ignore[arg-type]

    def chunks(self) -> Iterator[bytes]:
        if self.data is not None:
            yield self.data
            return
        with open(self.path, "rb") as f:  # type: ignore[arg-type]
            while True:
                chunk = f.read(_CHUNK)
                if not chunk:
                    return
                yield chunk

    def __repr__(self) -> str:
        return "FilePart({!r}, {} bytes)".format(self.filename, self.size())


def name_for_bytes(head: bytes, default: str = "model") -> str:
    """A file name whose extension fits the first bytes (the server tells formats by their bytes;
    the name only breaks ties): HDF5 -> .h5, zip -> .zip, JSON -> .json, PNG -> .png, else as given."""
    if head.startswith(HDF5_SIGNATURE):
        return default + ".h5"
    if head.startswith(ZIP_SIGNATURE):
        return default + ".zip"
    if head.lstrip()[:1] == b"{":
        return default + ".json"
    if head.startswith(PNG_SIGNATURE):
        return default + ".png"
    if head.startswith(b"\xff\xd8\xff"):
        return default + ".jpg"
    return default


def file_part(value: Any, default_name: str) -> FilePart:
    """A FilePart from a path, bytes, a binary file object or a ``(filename, bytes|file[, type])`` tuple."""
    if isinstance(value, FilePart):
        return value
    if isinstance(value, tuple) and 2 <= len(value) <= 3:
        filename, content = value[0], value[1]
        content_type = value[2] if len(value) == 3 else None
        part = file_part(content, str(filename))
        return FilePart(str(filename), data=part.data, path=part.path, content_type=content_type)
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if not os.path.isfile(path):
            raise FileNotFoundError("no such file: {}".format(path))
        return FilePart(os.path.basename(path), path=path)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return FilePart(name_for_bytes(data[:16], default_name), data=data)
    read = getattr(value, "read", None)
    if callable(read):
        data = read()
        if isinstance(data, str):
            data = data.encode("utf-8")
        name = getattr(value, "name", None)
        filename = os.path.basename(name) if isinstance(name, str) and name and not name.startswith("<") else name_for_bytes(data[:16], default_name)
        return FilePart(filename, data=data)
    raise TypeError("cannot upload a {}: give a path, bytes, a binary file object or (filename, bytes)".format(type(value).__name__))


def _quote(value: str) -> str:
    # RFC 7578 section 4.2, as browsers do it.
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class Multipart:
    """A multipart/form-data body of text fields and files, streamed from disk, with its length known."""

    def __init__(self, fields: Sequence[Tuple[str, str]] = (), files: Sequence[Tuple[str, FilePart]] = ()) -> None:
        self.boundary = "inferbox-" + uuid.uuid4().hex
        self.fields = list(fields)
        self.files = list(files)

    @property
    def content_type(self) -> str:
        return "multipart/form-data; boundary=" + self.boundary

    def _pieces(self) -> List[Union[bytes, FilePart]]:
        dash = "--" + self.boundary
        pieces: List[Union[bytes, FilePart]] = []
        for name, value in self.fields:
            head = '{}\r\nContent-Disposition: form-data; name="{}"\r\n\r\n'.format(dash, _quote(name))
            pieces.append(head.encode("utf-8") + value.encode("utf-8") + b"\r\n")
        for name, part in self.files:
            head = '{}\r\nContent-Disposition: form-data; name="{}"; filename="{}"\r\nContent-Type: {}\r\n\r\n'.format(
                dash, _quote(name), _quote(part.filename), part.content_type
            )
            pieces.append(head.encode("utf-8"))
            pieces.append(part)
            pieces.append(b"\r\n")
        pieces.append("{}--\r\n".format(dash).encode("utf-8"))
        return pieces

    def length(self) -> int:
        return sum(p.size() if isinstance(p, FilePart) else len(p) for p in self._pieces())

    def __iter__(self) -> Iterator[bytes]:
        for piece in self._pieces():
            if isinstance(piece, FilePart):
                yield from piece.chunks()
            else:
                yield piece

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        for chunk in self:
            out.write(chunk)
        return out.getvalue()


# ---------------------------------------------------------------------------------------------
# One request


class Response:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def parsed(self) -> Any:
        if self.status == 204 or not self.body:
            return None
        content_type = self.headers.get("Content-Type", "") if self.headers is not None else ""
        if "json" in content_type:
            return json.loads(self.body.decode("utf-8"))
        return self.body.decode("utf-8")


def _is_timeout(err: BaseException) -> bool:
    return isinstance(err, (socket.timeout, TimeoutError))


def _connection(url: str, timeout: Optional[float], verify: Union[bool, str]) -> Tuple[http.client.HTTPConnection, str]:
    """A connection for ``url`` and the request target to send on it, through the proxy the
    environment names (``http_proxy``/``https_proxy``, ``no_proxy``) as urllib would."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an http(s) URL: {!r}".format(url))
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    proxy = None if urllib.request.proxy_bypass(parts.netloc) else urllib.request.getproxies().get(parts.scheme)
    proxied = urllib.parse.urlsplit(proxy) if proxy else None
    if parts.scheme == "http":
        if proxied is not None and proxied.hostname:
            return http.client.HTTPConnection(proxied.hostname, proxied.port or 80, timeout=timeout), url
        return http.client.HTTPConnection(host, port, timeout=timeout), target
    if verify is False:
        context = ssl._create_unverified_context()
    else:
        context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if proxied is not None and proxied.hostname:
        conn = http.client.HTTPSConnection(proxied.hostname, proxied.port or 80, timeout=timeout, context=context)
        conn.set_tunnel(host, port)
        return conn, target
    return http.client.HTTPSConnection(host, port, timeout=timeout, context=context), target


def send(
    method: str,
    url: str,
    headers: Dict[str, str],
    body: Union[None, bytes, Multipart],
    timeout: Optional[float],
    verify: Union[bool, str] = True,
) -> Response:
    """Sends one request; answers any HTTP status as a Response, raises InferboxConnectionError
    (InferboxTimeoutError after ``timeout`` seconds without an answer) when there is none.

    The connection stays keep-alive while the body goes, so that a server refusing a large upload
    early (a wrong token) reads the rest and answers, instead of closing on it; if sending fails
    anyway, the answer the server already wrote is read."""
    headers = dict(headers)
    if isinstance(body, Multipart):
        headers["Content-Type"] = body.content_type
        headers["Content-Length"] = str(body.length())
    elif body is not None:
        headers["Content-Length"] = str(len(body))
    elif method in ("POST", "PUT", "PATCH"):
        headers["Content-Length"] = "0"
    conn, target = _connection(url, timeout, verify)
    try:
        try:
            conn.putrequest(method, target, skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders()
            send_failed: Optional[BaseException] = None
            try:
                if isinstance(body, Multipart):
                    for chunk in body:
                        conn.send(chunk)
                elif body is not None:
                    conn.send(body)
            except (BrokenPipeError, ConnectionResetError) as err:
                send_failed = err
            try:
                res = conn.getresponse()
            except (OSError, http.client.HTTPException):
                if send_failed is not None:
                    raise send_failed
                raise
            return Response(res.status, res.headers, res.read())
        except (OSError, http.client.HTTPException) as err:
            if _is_timeout(err):
                raise InferboxTimeoutError("{} {}: no answer within {} s".format(method, url, timeout), err) from err
            raise InferboxConnectionError("{} {}: cannot reach the server ({})".format(method, url, err), err) from err
    finally:
        conn.close()


def error_from(res: Response) -> InferboxError:
    """The InferboxError of an error answer, from the server's error body when it has one."""
    request_id = res.headers.get("X-Request-Id") if res.headers is not None else None
    retry = res.headers.get("Retry-After") if res.headers is not None else None
    retry_after: Optional[float] = None
    if retry is not None:
        try:
            retry_after = float(retry)
        except ValueError:
            retry_after = None
    try:
        parsed = json.loads(res.body.decode("utf-8")) if res.body else None
    except ValueError:
        parsed = None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        return InferboxError(
            res.status,
            error["code"],
            str(error.get("message", "")),
            error.get("details"),
            parsed.get("requestId", request_id),  # type: ignore[union-attr]
            retry_after,
        )
    text = res.body.decode("utf-8", "replace").strip()[:200] if res.body else ""
    message = "HTTP {}{}".format(res.status, ": " + text if text else "")
    return InferboxError(res.status, "HTTP_ERROR", message, None, request_id, retry_after)

"""Errors raised by the inferbox client."""

from typing import Any, Dict, Optional


class InferboxError(Exception):
    """The server refused a call: an answer with an HTTP error status.

    The server's body is ``{"error": {"code", "message", "details"?}, "requestId"}``
    (docs/errors.md); its fields are kept here. Match on ``code``, not on ``message``.

    Attributes:
        status: the HTTP status (``None`` for connection failures).
        code: the server's error code, e.g. ``"INPUT_SHAPE_MISMATCH"``; ``"HTTP_ERROR"`` when the
            answer was not an inferbox error body (a proxy's page, for instance).
        message: the server's sentence for a human.
        details: the server's ``details`` object, or ``None``.
        request_id: the ``requestId`` of the answer (also its ``X-Request-Id`` header).
        retry_after: the ``Retry-After`` header in seconds, for codes worth retrying, else ``None``.
    """

    def __init__(
        self,
        status: Optional[int],
        code: str,
        message: str,
        details: Optional[Dict[str, Any]] = None,
        request_id: Optional[str] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.request_id = request_id
        self.retry_after = retry_after

    def __str__(self) -> str:
        head = "[{}]".format(self.code) if self.status is None else "{} [{}]".format(self.status, self.code)
        tail = " (request {})".format(self.request_id) if self.request_id else ""
        return "{} {}{}".format(head, self.message, tail)

    def __repr__(self) -> str:
        return "{}(status={!r}, code={!r}, message={!r})".format(type(self).__name__, self.status, self.code, self.message)


class InferboxConnectionError(InferboxError):
    """No answer from the server: it could not be reached, or the connection broke.

    ``status`` is ``None`` and ``code`` is ``"CONNECTION_FAILED"``; ``reason`` is the underlying
    exception (an ``OSError`` or ``http.client.HTTPException``).
    """

    def __init__(self, message: str, reason: Optional[BaseException] = None, code: str = "CONNECTION_FAILED") -> None:
        super().__init__(None, code, message)
        self.reason = reason


class InferboxTimeoutError(InferboxConnectionError):
    """The server did not answer within the client's ``timeout`` (``code`` is ``"TIMEOUT"``)."""

    def __init__(self, message: str, reason: Optional[BaseException] = None) -> None:
        super().__init__(message, reason, code="TIMEOUT")

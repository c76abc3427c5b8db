"""The inferbox REST API as Python calls, in the shape of DaaS-client (publish, test, deploy)."""

import json as _json
import os
import shutil
import tempfile
import urllib.parse
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ._version import __version__
from ._http import HDF5_SIGNATURE, ZIP_SIGNATURE, FilePart, Multipart, dumps, error_from, file_part, send, to_jsonable

_UNSET: Any = object()


def _q(segment: Any) -> str:
    return urllib.parse.quote(str(segment), safe="")


def _zero(dtype: Optional[str]) -> Any:
    return False if dtype == "bool" else "" if dtype == "string" else 0


def _filled(shape: Sequence[int], dtype: Optional[str]) -> Any:
    if not shape:
        return _zero(dtype)
    return [_filled(shape[1:], dtype) for _ in range(shape[0])]


def example_record(inputs: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """One record of zeros that fits a version's inputs, as the server makes a deployment's payload
    when no sample was stored: free dimensions as 1, a leading batch dimension of 1 left out."""
    record = {}
    for spec in inputs:
        raw = spec.get("shape")
        shape = [1 if d == -1 else d for d in (raw if raw is not None else [1])]
        leading_batch = raw is not None and len(raw) > 1 and raw[0] in (-1, 1)
        record[spec["name"]] = _filled(shape[1:] if leading_batch else shape, spec.get("dtype"))
    return record


def _set_limits(body: Dict[str, Any], **limits: Optional[int]) -> None:
    """The deployment limits given (not None) into a create or PATCH body, under their API names."""
    for key, value in limits.items():
        if value is not None:
            body[key] = value


def _script_text(script: Any) -> str:
    """A script given as text, or as the path of a .js/.ts file."""
    if isinstance(script, os.PathLike) or (isinstance(script, str) and "\n" not in script and os.path.isfile(script)):
        with open(os.fspath(script), "r", encoding="utf-8") as f:
            return f.read()
    if isinstance(script, str):
        return script
    raise TypeError("script must be the script text or the path of a file, not {}".format(type(script).__name__))


def _head(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read(8)


def _save_model_object(model: Any, folder: str) -> List[FilePart]:
    """A Keras model (anything with ``save(path)``) saved into ``folder``: ``model.keras`` first,
    ``model.h5`` when that fails or writes a folder (a TensorFlow SavedModel, which inferbox does
    not serve). The upload is named after what the bytes are (HDF5 -> .h5), whatever the extension."""
    problems = []
    for filename in ("model.keras", "model.h5"):
        path = os.path.join(folder, filename)
        try:
            model.save(path)
        except Exception as err:  # noqa: BLE001 - whatever Keras raises, try the next format
            problems.append("{}: {}: {}".format(filename, type(err).__name__, err))
            continue
        if os.path.isfile(path):
            head = _head(path)
            name = "model.h5" if head.startswith(HDF5_SIGNATURE) else "model.keras" if head.startswith(ZIP_SIGNATURE) else filename
            return [FilePart(name, path=path)]
        problems.append("{}: save() wrote {}".format(filename, "a folder (a SavedModel?)" if os.path.isdir(path) else "nothing"))
        shutil.rmtree(path, ignore_errors=True)
    raise ValueError("could not save the {} as a .keras or .h5 file ({})".format(type(model).__name__, "; ".join(problems)))


def _folder_files(folder: str) -> List[FilePart]:
    """Every file under ``folder`` (hidden files and macOS litter left out), named by its path inside it."""
    parts = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__MACOSX")
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = os.path.join(root, name)
            parts.append(FilePart(os.path.relpath(path, folder).replace(os.sep, "/"), path=path))
    if not parts:
        raise ValueError("the folder {} holds no files".format(folder))
    return parts


def _is_named_content(value: Any) -> bool:
    """A ``(filename, bytes or file object[, content type])`` tuple."""
    return (
        isinstance(value, tuple)
        and len(value) in (2, 3)
        and isinstance(value[0], str)
        and (isinstance(value[1], (bytes, bytearray, memoryview)) or callable(getattr(value[1], "read", None)))
    )


def _model_files(model: Any, folder: str) -> List[FilePart]:
    """The parts of a publish upload from whatever ``publish`` was given."""
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if os.path.isdir(path):
            return _folder_files(path)
        return [file_part(path, "model")]
    if _is_named_content(model):
        return [file_part(model, "model")]
    if isinstance(model, (list, tuple)):
        parts: List[FilePart] = []
        for item in model:
            parts.extend(_model_files(item, folder))
        if not parts:
            raise ValueError("publish got an empty list of files")
        return parts
    if isinstance(model, (bytes, bytearray, memoryview, FilePart)) or callable(getattr(model, "read", None)):
        return [file_part(model, "model")]
    serialize = getattr(model, "SerializeToString", None)  # an onnx.ModelProto
    if callable(serialize) and hasattr(model, "graph"):
        return [FilePart("model.onnx", data=serialize())]
    if callable(getattr(model, "save", None)):
        return _save_model_object(model, folder)
    raise TypeError(
        "cannot publish a {}: give a file path, a list of paths, a folder, bytes, a file object or a Keras model".format(type(model).__name__)
    )


class Client:
    """A connection to an inferbox server.

    ``url`` defaults to ``$INFERBOX_URL`` (else ``http://localhost:8080``) and ``token`` to
    ``$INFERBOX_TOKEN``: the admin token for everything, or a deployment's token for ``predict``
    alone. ``timeout`` is the seconds to wait for the server on each call (``publish`` and
    ``predict`` take their own ``timeout=`` too). ``verify`` checks an https server's certificate:
    ``True`` against the system's CAs, a path against that CA bundle, ``False`` not at all.
    Every call raises ``InferboxError`` when the server refuses it and ``InferboxConnectionError``
    when there is no answer.
    """

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, timeout: Optional[float] = 60.0, verify: Union[bool, str] = True) -> None:
        self.url = (url or os.environ.get("INFERBOX_URL") or "http://localhost:8080").rstrip("/")
        self.token = token if token is not None else os.environ.get("INFERBOX_TOKEN") or None
        self.timeout = timeout
        self.verify = verify
        #: deployment name -> the access token deploy() or rotate_token() answered in this client
        self.deployment_tokens: Dict[str, str] = {}

    def __repr__(self) -> str:
        return "Client(url={!r})".format(self.url)

    # -- plumbing ---------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        json: Any = _UNSET,
        form: Optional[Multipart] = None,
        text: Optional[str] = None,
        token: Any = _UNSET,
        timeout: Any = _UNSET,
    ) -> Any:
        """One call to ``path`` (``/api/v1/...``); answers the parsed JSON body (text for text
        answers, ``None`` for 204). ``json``, ``form`` (a Multipart) or ``text`` is the body."""
        token = self.token if token is _UNSET else token
        headers = {"Accept": "application/json", "User-Agent": "inferbox-python/" + __version__}
        if token:
            headers["Authorization"] = "Bearer " + token
        body: Union[None, bytes, Multipart] = None
        if form is not None:
            body = form
        elif text is not None:
            headers["Content-Type"] = "application/javascript; charset=utf-8"
            body = text.encode("utf-8")
        elif json is not _UNSET:
            headers["Content-Type"] = "application/json"
            body = dumps(json).encode("utf-8")
        res = send(method, self.url + path, headers, body, self.timeout if timeout is _UNSET or timeout is None else timeout, self.verify)
        if res.status >= 400:
            raise error_from(res)
        return res.parsed()

    @staticmethod
    def _args_form(args: Dict[str, Any], files: Dict[str, Any], extra: Sequence[Tuple[str, str]] = ()) -> Multipart:
        """A multipart call: control fields, ``X`` and the other args as JSON text, then the files."""
        fields = list(extra)
        rest = {k: v for k, v in args.items() if k != "X"}
        if "X" in args and args["X"] is not None:
            fields.append(("X", dumps(args["X"])))
        if rest:
            fields.append(("args", dumps(rest)))
        parts = [(str(field), file_part(value, str(field))) for field, value in files.items()]
        return Multipart(fields, parts)

    # -- models -----------------------------------------------------------------------------------

    def publish(
        self,
        model: Any,
        name: str,
        mining_function: Optional[str] = None,
        x_test: Any = None,
        y_test: Any = None,
        description: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Dict[str, str]:
        """Publishes a model as a new version of ``name``; answers ``{'model_name', 'model_version'}``.

        ``model`` is a file path (``.onnx``, ``.h5``, ``.keras``, ``.zip``, a TF.js ``model.json``),
        a list of paths (``model.json`` with its weight shards), a folder (every file in it), bytes,
        a binary file object, or a Keras model: anything with a ``save(path)`` method is saved to a
        temporary ``.keras`` (``.h5`` when that fails) and uploaded. ``x_test`` is records
        (``[{'input_name': value}]``), a split table (``{'columns', 'data'}``) or plain rows (a numpy
        matrix: each row the single input's value, or one value per input in input order); every row
        runs through the model at publish and its first row becomes the version's sample. ``y_test``
        is labels, one-hot rows or probabilities; the answer then carries ``evaluation``.
        ``x_test``/``y_test`` may be numpy arrays or pandas objects.
        """
        folder = tempfile.mkdtemp(prefix="inferbox-publish-")
        try:
            files = _model_files(model, folder)
            fields = [("name", name)]
            if description is not None:
                fields.append(("description", description))
            if mining_function is not None:
                fields.append(("mining_function", mining_function))
            if x_test is not None:
                fields.append(("x_test", x_test if isinstance(x_test, str) else dumps(x_test)))
            if y_test is not None:
                fields.append(("y_test", y_test if isinstance(y_test, str) else dumps(y_test)))
            form = Multipart(fields, [("file", part) for part in files])
            return self.request("POST", "/api/v1/models", form=form, timeout=timeout)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def models(self) -> List[Dict[str, Any]]:
        """Every model: ``[{'model_name', 'latest_version', 'versions', 'format', ...}]``."""
        return self.request("GET", "/api/v1/models")

    def model(self, name: str) -> Dict[str, Any]:
        """One model with every version's metadata: ``{'model_name', ..., 'versions': [{...}]}``."""
        return self.request("GET", "/api/v1/models/" + _q(name))

    def versions(self, name: str) -> List[Dict[str, Any]]:
        """The metadata of every version of ``name``, oldest first."""
        return self.model(name)["versions"]

    def version(self, name: str, model_version: Any = "latest") -> Dict[str, Any]:
        """One version's metadata: ``model_version``, ``inputs``, ``outputs``, ``sample``, ``evaluation``, ``files``, ..."""
        return self.request("GET", "/api/v1/models/{}/versions/{}".format(_q(name), _q(model_version)))

    def delete_model(self, name: str) -> None:
        """Deletes the model with all its versions (``InferboxError`` ``MODEL_IN_USE`` while deployed)."""
        self.request("DELETE", "/api/v1/models/" + _q(name))

    def delete_version(self, name: str, model_version: Any) -> None:
        """Deletes one version (``InferboxError`` ``MODEL_IN_USE`` while deployed)."""
        self.request("DELETE", "/api/v1/models/{}/versions/{}".format(_q(name), _q(model_version)))

    # -- test -------------------------------------------------------------------------------------

    def _test_rows(self, meta: Dict[str, Any], X: Any) -> Any:
        if X is not None:
            return to_jsonable(X)
        sample = meta.get("sample")
        return [sample if sample is not None else example_record(meta.get("inputs") or [])]

    def test(self, name: str, model_version: Any = "latest", X: Any = None) -> Dict[str, Any]:
        """The DaaS test call, ready to send: ``{'access_token', 'endpoint_url', 'payload'}`` where
        ``payload`` is ``{'args': {'X': [sample], 'model_name', 'model_version'}}``. ``X`` defaults to
        the version's stored sample (zeros of the inputs' shapes when it has none). Nothing runs:
        POST the payload to ``endpoint_url`` with the token, or call ``run_test``."""
        meta = self.version(name, model_version)
        return {
            "access_token": self.token,
            "endpoint_url": self.url + "/api/v1/test",
            "payload": {"args": {"X": self._test_rows(meta, X), "model_name": meta["model_name"], "model_version": meta["model_version"]}},
        }

    def run_test(
        self,
        name: str,
        X: Any = None,
        model_version: Any = "latest",
        files: Optional[Dict[str, Any]] = None,
        args: Optional[Dict[str, Any]] = None,
        timeout: Optional[float] = None,
    ) -> Dict[str, Any]:
        """Runs a version on ``X`` (default: its sample) or on uploaded ``files`` without deploying
        it; answers ``{'result', 'stdout', 'stderr'}``."""
        call: Dict[str, Any] = dict(args or {})
        if files:
            if X is not None:
                call["X"] = X
            form = self._args_form(call, files, [("model_name", name), ("model_version", str(model_version))])
            return self.request("POST", "/api/v1/test", form=form, timeout=timeout)
        if X is None and "X" not in call:
            payload = self.test(name, model_version)["payload"]
            call.update(payload["args"])
        else:
            if X is not None:
                call["X"] = X
            call.update({"model_name": name, "model_version": str(model_version)})
        return self.request("POST", "/api/v1/test", json={"args": call}, timeout=timeout)

    # -- scripts ----------------------------------------------------------------------------------

    def script_template(self, name: str, model_version: Any = "latest") -> str:
        """A starting script for the version (JavaScript text), naming its inputs and outputs."""
        return self.request("GET", "/api/v1/models/{}/versions/{}/script-template".format(_q(name), _q(model_version)))

    def get_script(self, name: str, model_version: Any = "latest") -> str:
        """The version's saved script (``InferboxError`` ``SCRIPT_NOT_FOUND`` when it has none)."""
        return self.request("GET", "/api/v1/models/{}/versions/{}/script".format(_q(name), _q(model_version)))

    def save_script(self, name: str, script: Any, model_version: Any = "latest") -> Dict[str, Any]:
        """Checks and saves the version's script (text, or the path of a file); answers
        ``{'model_name', 'model_version', 'functions', 'bytes'}``."""
        return self.request("PUT", "/api/v1/models/{}/versions/{}/script".format(_q(name), _q(model_version)), text=_script_text(script))

    def test_script(
        self,
        name: str,
        X: Any = None,
        model_version: Any = "latest",
        script: Any = None,
        function: str = "predict",
        files: Optional[Dict[str, Any]] = None,
        args: Optional[Dict[str, Any]] = None,
        timeout: Optional[float] = None,
    ) -> Dict[str, Any]:
        """Runs a script once (``script`` text or path; default the saved one) without deploying it;
        answers ``{'result', 'stdout', 'stderr'}``. ``X``/``args`` as for ``predict``."""
        call: Dict[str, Any] = dict(args or {})
        if X is not None:
            call["X"] = X
        path = "/api/v1/models/{}/versions/{}/script/test".format(_q(name), _q(model_version))
        if files:
            extra = [("function", function)]
            if script is not None:
                extra.append(("script", _script_text(script)))
            return self.request("POST", path, form=self._args_form(call, files, extra), timeout=timeout)
        body: Dict[str, Any] = {"function": function, "args": call}
        if script is not None:
            body["script"] = _script_text(script)
        return self.request("POST", path, json=body, timeout=timeout)

    # -- deployments ------------------------------------------------------------------------------

    def deploy(
        self,
        model_name: str,
        deployment_name: str,
        model_version: Any = "latest",
        replicas: int = 1,
        script: Any = None,
        timeout_ms: Optional[int] = None,
        memory_limit_mb: Optional[int] = None,
        max_result_bytes: Optional[int] = None,
        max_records: Optional[int] = None,
        max_elements: Optional[int] = None,
        labels: Any = None,
        top_k: Optional[int] = None,
        scores: Optional[str] = None,
        preprocess: Optional[Dict[str, Dict[str, Any]]] = None,
        request_timeout_ms: Optional[int] = None,
        max_queue: Optional[int] = None,
        max_batch_size: Optional[int] = None,
        max_delay_us: Optional[int] = None,
    ) -> Dict[str, Any]:
        """Deploys a version as a named service; answers the server's deployment with
        ``access_token`` (shown only here), ``endpoint_url`` and a ``payload`` to send it.

        ``script``: ``True`` runs the version's saved script, text (or a file path) runs that
        script, ``None`` none. ``labels``: class names (a list, or ``{output: [...]}``), so the
        output answers its ``top_k`` best ``{'label', 'score'}``; without a script only. ``scores``:
        ``'auto'`` (detected), ``'softmax'``, ``'sigmoid'`` or ``'probabilities'``.
        ``preprocess``: the declarative image preprocessing per image input, e.g.
        ``{'input': {'scale': 1 / 255}}``; ``None`` takes the block the version implies, if any.
        ``request_timeout_ms``: each call's deadline (504 past it); ``max_queue``: calls that may
        wait for a worker (503 beyond). ``max_batch_size`` above 1 turns on dynamic batching
        (``max_delay_us``: how long a run may wait for more calls). The token is remembered for ``predict`` in this client."""
        body: Dict[str, Any] = {"model_name": model_name, "deployment_name": deployment_name, "model_version": str(model_version), "replicas": replicas}
        if script is not None:
            body["script"] = script if isinstance(script, bool) else _script_text(script)
        _set_limits(body, timeout_ms=timeout_ms, memory_limit_mb=memory_limit_mb, max_result_bytes=max_result_bytes, max_records=max_records, max_elements=max_elements, request_timeout_ms=request_timeout_ms, max_queue=max_queue, max_batch_size=max_batch_size, max_delay_us=max_delay_us)
        if labels is not None:
            body["labels"] = labels
        if top_k is not None:
            body["top_k"] = top_k
        if scores is not None:
            body["scores"] = scores
        if preprocess is not None:
            body["preprocess"] = preprocess
        answer = self.request("POST", "/api/v1/deployments", json=body)
        if isinstance(answer, dict) and answer.get("access_token"):
            self.deployment_tokens[deployment_name] = answer["access_token"]
        return answer

    def deployments(self) -> List[Dict[str, Any]]:
        """Every deployment (without tokens): ``[{'deployment_name', 'model_name', 'model_version', 'endpoint_url', ...}]``."""
        return self.request("GET", "/api/v1/deployments")

    def deployment(self, name: str) -> Dict[str, Any]:
        """One deployment, as ``deployments()`` lists it."""
        return self.request("GET", "/api/v1/deployments/" + _q(name))

    def update_deployment(
        self,
        name: str,
        model_version: Any = None,
        replicas: Optional[int] = None,
        script: Any = None,
        timeout_ms: Optional[int] = None,
        memory_limit_mb: Optional[int] = None,
        max_result_bytes: Optional[int] = None,
        max_records: Optional[int] = None,
        max_elements: Optional[int] = None,
        labels: Any = None,
        top_k: Optional[int] = None,
        scores: Optional[str] = None,
        preprocess: Any = None,
        request_timeout_ms: Optional[int] = None,
        max_queue: Optional[int] = None,
        max_batch_size: Optional[int] = None,
        max_delay_us: Optional[int] = None,
    ) -> Dict[str, Any]:
        """Changes a deployment (PATCH); arguments left ``None`` keep their value, ``script=False``
        removes the script, ``labels=False`` the labels, ``preprocess=False`` the preprocess block
        (a dict replaces it). Answers the deployment. The token does not change."""
        body: Dict[str, Any] = {}
        if model_version is not None:
            body["model_version"] = str(model_version)
        if replicas is not None:
            body["replicas"] = replicas
        if script is not None:
            body["script"] = script if isinstance(script, bool) else _script_text(script)
        _set_limits(body, timeout_ms=timeout_ms, memory_limit_mb=memory_limit_mb, max_result_bytes=max_result_bytes, max_records=max_records, max_elements=max_elements, request_timeout_ms=request_timeout_ms, max_queue=max_queue, max_batch_size=max_batch_size, max_delay_us=max_delay_us)
        if labels is not None:
            body["labels"] = None if labels is False else labels
        if top_k is not None:
            body["top_k"] = top_k
        if scores is not None:
            body["scores"] = scores
        if preprocess is not None:
            body["preprocess"] = None if preprocess is False else preprocess
        return self.request("PATCH", "/api/v1/deployments/" + _q(name), json=body)

    def put_labels(self, name: str, labels: Any, output: Optional[str] = None, top_k: Optional[int] = None, scores: Optional[str] = None) -> Dict[str, Any]:
        """Sets a deployment's labels from a label file: the path of a text file (one label per
        line) or of TorchServe's ``index_to_name.json``, or such a dict or a list. ``output`` names
        the output when the model has several. Answers the deployment."""
        query = urllib.parse.urlencode({k: v for k, v in (("output", output), ("top_k", top_k), ("scores", scores)) if v is not None})
        path = "/api/v1/deployments/{}/labels{}".format(_q(name), "?" + query if query else "")
        if isinstance(labels, (str, os.PathLike)):
            with open(os.fspath(labels), "r", encoding="utf-8") as f:
                content = f.read()
            if os.fspath(labels).lower().endswith(".json"):
                return self.request("PUT", path, json=_json.loads(content))
            return self.request("PUT", path, text=content)
        return self.request("PUT", path, json=labels)

    def deployment_script(self, name: str) -> str:
        """The script text a deployment runs (``InferboxError`` ``SCRIPT_NOT_FOUND`` without one)."""
        return self.request("GET", "/api/v1/deployments/{}/script".format(_q(name)))

    def rotate_token(self, deployment: str) -> Dict[str, str]:
        """Replaces the deployment's token: answers ``{'deployment_name', 'access_token'}``; the old
        token is refused (``AUTH_INVALID_TOKEN``) from now on. The new one is remembered for ``predict``."""
        answer = self.request("POST", "/api/v1/deployments/{}/token".format(_q(deployment)))
        self.deployment_tokens[deployment] = answer["access_token"]
        return answer

    def stats(self, deployment: str) -> Dict[str, Any]:
        """Calls per function since the server started and the sandboxes' state:
        ``{'deployment_name', 'since', 'sandboxes', 'functions': [{'function', 'count', 'errors', 'latency_ms', ...}]}``."""
        return self.request("GET", "/api/v1/deployments/{}/stats".format(_q(deployment)))

    def delete_deployment(self, name: str) -> None:
        """Deletes a deployment; its token stops working at once."""
        self.request("DELETE", "/api/v1/deployments/" + _q(name))
        self.deployment_tokens.pop(name, None)

    # -- calling a deployment ---------------------------------------------------------------------

    def predict(
        self,
        deployment: str,
        X: Any = None,
        files: Optional[Dict[str, Any]] = None,
        function: str = "predict",
        debug: bool = False,
        token: Optional[str] = None,
        args: Optional[Dict[str, Any]] = None,
        timeout: Optional[float] = None,
    ) -> Dict[str, Any]:
        """Calls a deployment: ``POST /api/v1/svc/{deployment}/{function}``. Answers
        ``{'result': ...}``, with ``'stdout'`` and ``'stderr'`` when ``debug``.

        ``X`` is records or a split table (numpy arrays are converted); ``args`` other arguments
        for a script's function; ``files`` ``{'field': path | bytes | file object | (filename, bytes)}``
        sends a multipart form. The token is ``token``, else the one ``deploy``/``rotate_token``
        answered in this client, else the client's token (the admin token works on every deployment)."""
        call: Dict[str, Any] = dict(args or {})
        if X is not None:
            call["X"] = X
        path = "/api/v1/svc/{}/{}{}".format(_q(deployment), _q(function), "?debug=true" if debug else "")
        use = token or self.deployment_tokens.get(deployment) or self.token
        if files:
            return self.request("POST", path, form=self._args_form(call, files), token=use, timeout=timeout)
        return self.request("POST", path, json={"args": call}, token=use, timeout=timeout)

    # -- server -----------------------------------------------------------------------------------

    def health(self) -> Dict[str, Any]:
        """``GET /healthz``: liveness, versions, workers (no token needed)."""
        return self.request("GET", "/healthz")

"""Checks of the client that need no inferbox server: JSON conversion, multipart bodies, model
files, errors, tokens. A small local HTTP server stands in where a request must be seen.

    python3 -m unittest discover -s clients/python/tests

test/integration/python-client.test.ts runs these, then the seed's notebook against a real server.
"""

import ast
import email.parser
import email.policy
import http.server
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import unittest
from array import array

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from inferbox import Client, InferboxConnectionError, InferboxError, InferboxTimeoutError  # noqa: E402
from inferbox._http import FilePart, Multipart, dumps, error_from, Response, to_jsonable  # noqa: E402
from inferbox.client import _model_files, example_record  # noqa: E402

H5 = b"\x89HDF\r\n\x1a\n" + b"\0" * 32
ZIP = b"PK\x03\x04" + b"\0" * 32


class FakeArray:
    """What numpy arrays look like to the client: an object with tolist()."""

    def __init__(self, rows):
        self.rows = rows

    def tolist(self):
        return self.rows


class FakeFrame:
    """What pandas DataFrames look like: to_numpy() gives an array."""

    def __init__(self, rows):
        self.rows = rows

    def to_numpy(self):
        return FakeArray(self.rows)


def parse_multipart(content_type, body):
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    parts = []
    for part in message.iter_parts():
        parts.append((part.get_param("name", header="content-disposition"), part.get_filename(), part.get_content_type(), part.get_payload(decode=True)))
    return parts


class JsonTest(unittest.TestCase):
    def test_numpy_and_pandas_like_objects_become_lists(self):
        self.assertEqual(to_jsonable({"X": FakeArray([[1.5, 2.0]]), "y": (1, 2)}), {"X": [[1.5, 2.0]], "y": [1, 2]})
        self.assertEqual(to_jsonable(FakeFrame([[1, 2], [3, 4]])), [[1, 2], [3, 4]])
        self.assertEqual(to_jsonable(array("d", [0.5, 1.5])), [0.5, 1.5])
        self.assertEqual(dumps([{"a": [1, 2]}]), '[{"a":[1,2]}]')

    def test_real_numpy_values_when_numpy_is_installed(self):
        try:
            import numpy as np
        except ImportError:
            self.skipTest("numpy is not installed (it is optional)")
        X = np.array([[5.1, 3.5, 1.4, 0.2]], dtype=np.float32)
        self.assertEqual(
            json.loads(dumps({"X": [{"float_input": X[0]}], "y": np.array([0, 2]), "n": np.int64(3), "f": np.float32(0.5)})),
            {"X": [{"float_input": [float(v) for v in X[0]]}], "y": [0, 2], "n": 3, "f": 0.5},
        )

    def test_nan_and_bytes_are_refused(self):
        with self.assertRaises(ValueError):
            dumps([float("nan")])
        with self.assertRaises(TypeError):
            to_jsonable(b"x")
        with self.assertRaises(TypeError):
            to_jsonable(object())

    def test_example_record_follows_the_server(self):
        inputs = [
            {"name": "float_input", "dtype": "float32", "shape": [1, 4]},
            {"name": "img", "dtype": "float32", "shape": [-1, 2, 3]},
            {"name": "flag", "dtype": "bool", "shape": [2]},
            {"name": "free", "dtype": "string", "shape": None},
        ]
        self.assertEqual(
            example_record(inputs),
            {"float_input": [0, 0, 0, 0], "img": [[0, 0, 0], [0, 0, 0]], "flag": [False, False], "free": [""]},
        )


class MultipartTest(unittest.TestCase):
    def test_fields_and_files_round_trip_with_the_announced_length(self):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.onnx")
            with open(path, "wb") as f:
                f.write(b"\x08\x07onnx" * 1000)
            form = Multipart(
                [("name", "iris"), ("x_test", '[{"a":"é"}]')],
                [("file", FilePart("model.onnx", path=path)), ("file", FilePart('we"ird.bin', data=b"\r\n--x\r\n"))],
            )
            body = form.to_bytes()
            self.assertEqual(len(body), form.length())
            parts = parse_multipart(form.content_type, body)
        self.assertEqual([p[0] for p in parts], ["name", "x_test", "file", "file"])
        self.assertEqual(parts[0][3], b"iris")
        self.assertEqual(parts[1][3].decode("utf-8"), '[{"a":"é"}]')
        self.assertEqual(parts[2][1:], ("model.onnx", "application/octet-stream", b"\x08\x07onnx" * 1000))
        self.assertEqual(parts[3][1], "we%22ird.bin")
        self.assertEqual(parts[3][3], b"\r\n--x\r\n")


class ModelFilesTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def write(self, relative, data):
        path = os.path.join(self.tmp, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def test_a_folder_is_every_file_in_it_by_relative_name(self):
        self.write("web/model.json", b"{}")
        self.write("web/group1-shard1of1.bin", b"w")
        self.write("web/.DS_Store", b"x")
        self.write("web/sub/extra.bin", b"e")
        parts = _model_files(os.path.join(self.tmp, "web"), self.tmp)
        self.assertEqual([p.filename for p in parts], ["group1-shard1of1.bin", "model.json", "sub/extra.bin"])

    def test_lists_bytes_and_named_bytes(self):
        a = self.write("model.json", b"{}")
        b = self.write("weights.bin", b"w")
        self.assertEqual([p.filename for p in _model_files([a, b], self.tmp)], ["model.json", "weights.bin"])
        self.assertEqual(_model_files(H5, self.tmp)[0].filename, "model.h5")
        self.assertEqual(_model_files(("iris.onnx", b"\x08\x07"), self.tmp)[0].filename, "iris.onnx")
        with self.assertRaises(FileNotFoundError):
            _model_files(os.path.join(self.tmp, "missing.onnx"), self.tmp)
        with self.assertRaises(TypeError):
            _model_files(42, self.tmp)

    def test_a_keras_like_object_is_saved_and_named_after_its_bytes(self):
        class Keras2:  # standalone Keras 2 writes HDF5 whatever the extension
            def save(self, path):
                with open(path, "wb") as f:
                    f.write(H5)

        class Keras3:
            def save(self, path):
                with open(path, "wb") as f:
                    f.write(ZIP)

        class OldTensorFlow:  # tf.keras before 2.12: a SavedModel folder for ".keras", HDF5 for ".h5"
            def save(self, path):
                if path.endswith(".h5"):
                    with open(path, "wb") as f:
                        f.write(H5)
                else:
                    os.makedirs(path)

        class Refuses:
            def save(self, path):
                raise ValueError("no")

        for model, name in ((Keras2(), "model.h5"), (Keras3(), "model.keras"), (OldTensorFlow(), "model.h5")):
            parts = _model_files(model, tempfile.mkdtemp(dir=self.tmp))
            self.assertEqual([p.filename for p in parts], [name], type(model).__name__)
        with self.assertRaises(ValueError):
            _model_files(Refuses(), tempfile.mkdtemp(dir=self.tmp))


class ErrorsTest(unittest.TestCase):
    def test_the_server_error_body(self):
        body = {"error": {"code": "INPUT_SHAPE_MISMATCH", "message": "bad shape", "details": {"input": "x"}}, "requestId": "r-1"}
        err = error_from(Response(422, {"Content-Type": "application/json"}, json.dumps(body).encode()))
        self.assertIsInstance(err, Exception)
        self.assertEqual((err.status, err.code, err.message, err.details, err.request_id), (422, "INPUT_SHAPE_MISMATCH", "bad shape", {"input": "x"}, "r-1"))
        self.assertIn("INPUT_SHAPE_MISMATCH", str(err))

    def test_a_body_that_is_not_inferbox(self):
        err = error_from(Response(502, {"X-Request-Id": "r-2", "Retry-After": "1"}, b"<html>Bad Gateway</html>"))
        self.assertEqual((err.status, err.code, err.request_id, err.retry_after), (502, "HTTP_ERROR", "r-2", 1.0))

    def test_no_server_is_a_connection_error(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with self.assertRaises(InferboxConnectionError) as caught:
            Client("http://127.0.0.1:{}".format(port), token="t", timeout=5).models()
        self.assertIsInstance(caught.exception, InferboxError)
        self.assertEqual((caught.exception.status, caught.exception.code), (None, "CONNECTION_FAILED"))

    def test_a_server_that_never_answers_is_a_timeout(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)  # accepted by the kernel, never answered
            with self.assertRaises(InferboxTimeoutError) as caught:
                Client("http://127.0.0.1:{}".format(s.getsockname()[1]), token="t", timeout=0.3).models()
        self.assertIsInstance(caught.exception, InferboxConnectionError)
        self.assertEqual(caught.exception.code, "TIMEOUT")


    def test_an_answer_before_the_upload_ends_is_read(self):
        """A server that refuses a large upload at once and hangs up: the refusal, not a broken pipe."""
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen(1)

            def refuse():
                conn, _ = server.accept()
                conn.recv(65536)
                body = b'{"error":{"code":"AUTH_INVALID_TOKEN","message":"no"},"requestId":"r-3"}'
                conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                conn.close()

            threading.Thread(target=refuse, daemon=True).start()
            with self.assertRaises(InferboxError) as caught:
                Client("http://127.0.0.1:{}".format(server.getsockname()[1]), token="t", timeout=10).publish(b"\0" * (32 << 20), name="big")
        self.assertEqual((type(caught.exception), caught.exception.status, caught.exception.code, caught.exception.request_id), (InferboxError, 401, "AUTH_INVALID_TOKEN", "r-3"))


class Recorder(http.server.BaseHTTPRequestHandler):
    seen = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Recorder.seen.append((self.path, self.headers.get("Authorization"), self.headers.get("Content-Type"), body))
        answer = {"deployment_name": "svc", "access_token": "svc-token-2"} if self.path.endswith("/token") else {"result": [], "access_token": "svc-token-1"}
        data = json.dumps(answer).encode()
        self.send_response(201 if self.path == "/api/v1/deployments" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class RequestsTest(unittest.TestCase):
    def setUp(self):
        Recorder.seen = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)
        self.url = "http://127.0.0.1:{}/".format(self.server.server_address[1])

    def test_defaults_come_from_the_environment(self):
        saved = {k: os.environ.get(k) for k in ("INFERBOX_URL", "INFERBOX_TOKEN")}
        os.environ.update(INFERBOX_URL=self.url, INFERBOX_TOKEN="env-token")
        try:
            client = Client()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self.assertEqual((client.url, client.token), (self.url.rstrip("/"), "env-token"))

    def test_predict_uses_the_deployment_token_this_client_was_given(self):
        client = Client(self.url, token="admin")
        client.predict("svc", X=FakeArray([[1, 2]]))
        client.deploy(model_name="m", deployment_name="svc")
        client.predict("svc", X=[{"a": 1}], debug=True)
        client.rotate_token("svc")
        client.predict("svc", X=[{"a": 1}])
        client.predict("svc", X=[{"a": 1}], token="explicit", function="explain")
        predicts = [(path, auth) for path, auth, _, _ in Recorder.seen if path.startswith("/api/v1/svc/")]
        self.assertEqual(
            predicts,
            [
                ("/api/v1/svc/svc/predict", "Bearer admin"),
                ("/api/v1/svc/svc/predict?debug=true", "Bearer svc-token-1"),
                ("/api/v1/svc/svc/predict", "Bearer svc-token-2"),
                ("/api/v1/svc/svc/explain", "Bearer explicit"),
            ],
        )
        self.assertEqual(json.loads(Recorder.seen[0][3]), {"args": {"X": [[1, 2]]}})

    def test_files_go_as_a_form_with_X_and_args_as_json_text(self):
        client = Client(self.url, token="admin")
        client.predict("svc", X=[{"a": 1}], args={"top": 3}, files={"Input3": b"\x89PNG\r\n\x1a\nxx"})
        _, _, content_type, body = Recorder.seen[0]
        parts = parse_multipart(content_type, body)
        self.assertEqual([(p[0], p[1]) for p in parts], [("X", None), ("args", None), ("Input3", "Input3.png")])
        self.assertEqual(json.loads(parts[0][3]), [{"a": 1}])
        self.assertEqual(json.loads(parts[1][3]), {"top": 3})
        self.assertEqual(parts[2][2], "image/png")


class StandardLibraryOnlyTest(unittest.TestCase):
    def test_the_package_imports_nothing_outside_the_standard_library(self):
        stdlib = getattr(sys, "stdlib_module_names", None)
        if stdlib is None:
            self.skipTest("sys.stdlib_module_names needs Python 3.10")
        package = os.path.join(os.path.dirname(HERE), "inferbox")
        for name in sorted(os.listdir(package)):
            if not name.endswith(".py"):
                continue
            with open(os.path.join(package, name), encoding="utf-8") as f:
                tree = ast.parse(f.read(), name)
            for node in ast.walk(tree):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
                for module in modules:
                    self.assertIn(module.split(".")[0], stdlib, "{} imports {}".format(name, module))


if __name__ == "__main__":
    unittest.main()

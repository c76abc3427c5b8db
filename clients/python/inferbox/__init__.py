"""inferbox: a Python client for the inferbox model server.

    from inferbox import Client
    client = Client('http://localhost:8080', token='...')
    client.publish('model.onnx', name='iris', x_test=[{'float_input': [5.1, 3.5, 1.4, 0.2]}])
    client.test('iris')          # {'access_token', 'endpoint_url', 'payload'}
    client.deploy(model_name='iris', deployment_name='iris-svc')
    client.predict('iris-svc', X=[{'float_input': [5.1, 3.5, 1.4, 0.2]}])

See docs/sdk.md in the inferbox repository.
"""

from ._version import __version__
from .client import Client
from .errors import InferboxConnectionError, InferboxError, InferboxTimeoutError

__all__ = ["Client", "InferboxError", "InferboxConnectionError", "InferboxTimeoutError", "__version__"]

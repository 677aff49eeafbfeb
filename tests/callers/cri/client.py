"""A small Kubernetes CRI (runtime.v1) client over grpcio, standing in for
kubelet and crictl (neither is packaged in Debian 12).

    from cri.client import CriClient
    with CriClient("/tmp/x/containerd.sock") as cri:
        api = cri.api                                  # the runtime.v1 message classes
        reply = cri.RunPodSandbox(config=api.PodSandboxConfig(...), runtime_handler="ocirt")
        cri.ExecSync(container_id=cid, cmd=["sh", "-c", "exit 3"], timeout=10).exit_code

Every RPC of `api.proto` (RuntimeService and ImageService) is a method named
like the RPC; its keyword arguments are the request message's fields. A failing
RPC raises `grpc.RpcError` (`.code()`, `.details()`), as crictl would report.

The message classes are generated when first needed: `grpc_tools.protoc`
compiles `api.proto` into a temporary directory, which is removed once the
module is loaded. Nothing generated is committed. The RPC stubs are built from
the service descriptors of that module, so no `*_pb2_grpc.py` is needed.
"""
import importlib.util
import os
import tempfile

import grpc

PROTO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "api.proto")
SERVICES = ("RuntimeService", "ImageService")
_api = None


def load_api():
    """The runtime.v1 message module generated from api.proto (once per process)."""
    global _api
    if _api is None:
        from grpc_tools import protoc

        with tempfile.TemporaryDirectory(prefix="cri-api-") as out:
            argv = ["protoc", f"-I{os.path.dirname(PROTO)}", f"--python_out={out}", PROTO]
            if protoc.main(argv) != 0:
                raise RuntimeError(f"protoc failed on {PROTO}")
            spec = importlib.util.spec_from_file_location("cri_runtime_v1_pb2",
                                                          os.path.join(out, "api_pb2.py"))
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        _api = module
    return _api


class CriClient:
    """A connection to a CRI server on a unix socket; RPCs are methods."""

    def __init__(self, socket_path, timeout=120):
        self.api = load_api()
        self.timeout = timeout
        self.channel = grpc.insecure_channel(f"unix://{socket_path}")
        self._rpcs = {}
        for service_name in SERVICES:
            service = self.api.DESCRIPTOR.services_by_name[service_name]
            for method in service.methods:
                request = getattr(self.api, method.input_type.name)
                reply = getattr(self.api, method.output_type.name)
                call = self.channel.unary_unary(f"/{service.full_name}/{method.name}",
                                                request_serializer=request.SerializeToString,
                                                response_deserializer=reply.FromString)
                self._rpcs[method.name] = (request, call)

    def __getattr__(self, name):
        try:
            request, call = self.__dict__["_rpcs"][name]
        except KeyError:
            raise AttributeError(name) from None

        def rpc(rpc_timeout=None, **fields):
            return call(request(**fields), timeout=rpc_timeout or self.timeout)

        rpc.__name__ = name
        return rpc

    def wait_ready(self, timeout=30):
        """Block until the server accepts connections."""
        grpc.channel_ready_future(self.channel).result(timeout=timeout)

    def close(self):
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

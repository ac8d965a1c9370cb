"""Reaching a Ray cluster that asks for a token (Ray 2.60's token authentication), quickly and in one line.

Ray 2.60 turns token authentication on for `ray start --head` when a token exists (`~/.ray/auth_token`,
written by `ray get-auth-token --generate` or by Ray itself). A driver on the head (`--address auto`) finds
that token and connects. A Ray Client (`--address ray://host:10001`) sends it only when its own process has
RAY_AUTH_MODE=token; without it the head refuses every call, and Ray's client retried for 30 s before it said
"ray client connection timeout", never what the head answered (issue 20).

Here: the token is looked up (`--ray-token-file FILE`, else RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, then Ray's
default ~/.ray/auth_token), handed to Ray through its own variables, and a ray:// address is first asked one
PING with a timeout of a few seconds; a refusal or silence is a UserError that quotes the head's answer.
"""

from __future__ import annotations

import os
from pathlib import Path

from initscope.core.errors import UserError

PROBE_TIMEOUT_S = 10.0  # a head that does not answer; a refusing head answers at once (a loaded CI machine: 5 s was tight)
TOKEN_HELP = ("give the head's token with --ray-token-file FILE or the RAY_AUTH_TOKEN variable "
              "(on the head: `ray get-auth-token`)")


def find_token(token_file: str | None = None) -> tuple[str | None, str]:
    """(token or None, where it came from). A --ray-token-file that cannot be read is a UserError."""
    if token_file:
        from initscope.core.files import read_capped

        raw = read_capped(token_file, 64 * 1024, UserError, "token file")
        token = raw.decode("utf-8", "replace").strip()
        if not token:
            raise UserError(f"--ray-token-file {token_file}: the file is empty")
        return token, f"--ray-token-file {token_file}"
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return os.environ["RAY_AUTH_TOKEN"].strip(), "RAY_AUTH_TOKEN"
    for where, path in (("RAY_AUTH_TOKEN_PATH", os.environ.get("RAY_AUTH_TOKEN_PATH")),
                        ("~/.ray/auth_token", str(Path.home() / ".ray" / "auth_token"))):
        if path and os.path.isfile(path):
            try:
                token = Path(path).read_text("utf-8", "replace").strip()
            except OSError:
                continue
            if token:
                return token, where
    return None, "none"


def use_token(address: str | None, token_file: str | None = None) -> str | None:
    """Before Ray is imported: for a ray:// address with a token, set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN so
    that Ray's client sends it. Returns the token (None: none found, or not a client address)."""
    if not address or not address.startswith("ray://"):
        return None
    token, _ = find_token(token_file)
    if token is None:
        return None
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "disabled":
        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ["RAY_AUTH_TOKEN"] = token
    return token


def check_address(address: str | None) -> str | None:
    """None (a local Ray), "auto" (the cluster this machine belongs to) or ray://host:port (its client server).
    A bare host:port is a GCS address, which Ray tries for two minutes with lines of C++ logging: refused."""
    if address is None or address == "auto":
        return address
    host, _, port = address[len("ray://"):].rpartition(":") if address.startswith("ray://") else ("", "", "")
    if not host or not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--address {address[:80]!r}: use auto (on a node of the cluster) or ray://HOST:PORT "
                        "(the head's client server, port 10001 unless it was started with another)")
    return address


def probe_client(address: str, token: str | None, timeout: float = PROBE_TIMEOUT_S) -> None:
    """One PING to a Ray Client server (ray://host:port) with the token, if any; a UserError quoting the head's
    answer when it refuses or does not answer within `timeout` seconds."""
    import grpc
    from ray.core.generated import ray_client_pb2, ray_client_pb2_grpc

    target = address[len("ray://"):]
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    channel = grpc.insecure_channel(target)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
        stub = ray_client_pb2_grpc.RayletDriverStub(channel)
        stub.ClusterInfo(ray_client_pb2.ClusterInfoRequest(type=ray_client_pb2.ClusterInfoType.PING),
                         metadata=metadata, timeout=timeout)
    except grpc.FutureTimeoutError:
        raise UserError(f"Ray at {address}: nothing answered within {timeout:g} s (is `ray start --head` running "
                        "there, and its client port reachable from here?)") from None
    except grpc.RpcError as e:
        code = e.code().name if e.code() else "error"
        said = f'the head answered {code}: "{(e.details() or "").strip()[:200]}"'
        if e.code() == grpc.StatusCode.UNAUTHENTICATED:
            how = ("the token it was sent is not the head's" if token else "it wants a token and none was found")
            raise UserError(f"Ray at {address}: {said}; {how}: {TOKEN_HELP}") from None
        raise UserError(f"Ray at {address}: {said}") from None
    finally:
        channel.close()

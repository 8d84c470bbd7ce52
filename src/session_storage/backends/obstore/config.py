"""The fsspec storage options people already pass, as obstore store configuration.

Users of the fsspec engine configure s3fs, gcsfs and adlfs; the obstore engine takes
the same names (``endpoint_url``, ``key``, ``secret``, ``token``, ``connection_string``,
...) and builds the equivalent ``S3Store``, ``GCSStore`` or ``AzureStore`` arguments.
Whatever is not given is left to obstore, which reads the clouds' own environment
variables (``AWS_ACCESS_KEY_ID``, ``AWS_REGION``, ``GOOGLE_APPLICATION_CREDENTIALS``,
``AZURE_STORAGE_ACCOUNT_NAME``, ...). An option this engine cannot honour raises
ConfigurationError naming it: silently dropping a credential or an endpoint would send
requests somewhere else than the user meant.

obstore's own configuration names (``region``, ``skip_signature``, ...) are accepted
as well, so a setting with no fsspec spelling is still reachable.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ...core.errors import ConfigurationError

__all__ = ["StoreArgs", "azure_args", "gcs_args", "s3_args"]


@dataclass
class StoreArgs:
    """Keyword arguments of one obstore store class, apart from its bucket."""

    config: dict[str, Any] = field(default_factory=dict)
    client_options: dict[str, Any] = field(default_factory=dict)
    retry_config: dict[str, Any] = field(default_factory=dict)
    pool_size: int | None = None
    """``config_kwargs={"max_pool_connections": n}``: the batch concurrency to use."""

    def finish(self, timeout: float | None) -> None:
        """Settle what follows from the rest: plain HTTP, the deadline as timeouts."""
        endpoint = str(self.config.get("endpoint") or self.config.get("base_url") or "")
        if endpoint.startswith("http://"):
            # s3fs, gcsfs and adlfs talk plain HTTP to an http:// endpoint; obstore
            # refuses to unless told.
            self.client_options.setdefault("allow_http", True)
        if timeout is not None:
            # The per-operation deadline bounds the whole call; no socket should wait
            # longer than that on its own.
            self.client_options.setdefault("timeout", timedelta(seconds=timeout))
            self.client_options.setdefault("connect_timeout", timedelta(seconds=timeout))

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments for the store class."""
        args: dict[str, Any] = {"config": self.config, "client_options": self.client_options}
        if self.retry_config:
            args["retry_config"] = self.retry_config
        return args


def _refuse(backend: str, name: str, why: str = "") -> ConfigurationError:
    return ConfigurationError(
        f"storage option {name!r} cannot be used with the obstore engine for {backend}"
        + (f": {why}" if why else "")
        + "; use engine='fsspec' for it",
        backend=backend,
    )


_Handler = Callable[[StoreArgs, Any], None]


def _to(name: str) -> _Handler:
    """A handler copying the value to obstore configuration ``name``."""

    def handle(args: StoreArgs, value: Any) -> None:
        if value is not None:
            args.config[name] = value

    return handle


def _ignore(args: StoreArgs, value: Any) -> None:
    """Options that only matter to the fsspec client (caching, listing)."""


def _translate(
    backend: str,
    options: Mapping[str, Any],
    handlers: Mapping[str, _Handler],
    native: frozenset[str],
) -> StoreArgs:
    args = StoreArgs()
    for name, value in options.items():
        handler = handlers.get(name)
        if handler is not None:
            handler(args, value)
        elif name in native:
            args.config[name] = value
        elif name == "client_options" and isinstance(value, Mapping):
            args.client_options.update(value)
        elif name == "retry_config" and isinstance(value, Mapping):
            args.retry_config.update(value)
        else:
            known = sorted({*handlers, *native, "client_options", "retry_config"})
            raise _refuse(backend, name, f"it takes {', '.join(known)}")
    return args


def _config_kwargs(backend: str) -> _Handler:
    """botocore's ``config_kwargs``: pool size, timeouts and retries have equivalents."""

    def handle(args: StoreArgs, value: Any) -> None:
        for name, item in dict(value or {}).items():
            if name == "max_pool_connections":
                args.pool_size = int(item)
                args.client_options["pool_max_idle_per_host"] = str(int(item))
            elif name in ("connect_timeout", "read_timeout"):
                option = "connect_timeout" if name == "connect_timeout" else "timeout"
                args.client_options[option] = timedelta(seconds=float(item))
            elif (
                name == "retries"
                and isinstance(item, Mapping)
                and set(item)
                <= {
                    "max_attempts",
                    "total_max_attempts",
                    "mode",
                }
            ):
                attempts = item.get("total_max_attempts", item.get("max_attempts"))
                if attempts is not None:
                    args.retry_config["max_retries"] = max(int(attempts) - 1, 0)
            else:
                raise _refuse(backend, f"config_kwargs[{name!r}]")

    return handle


def _s3_client_kwargs(args: StoreArgs, value: Any) -> None:
    for name, item in dict(value or {}).items():
        if name == "region_name":
            args.config["region"] = item
        elif name == "endpoint_url":
            args.config["endpoint"] = item
        else:
            raise _refuse("s3", f"client_kwargs[{name!r}]")


def _s3_anon(args: StoreArgs, value: Any) -> None:
    if value:
        args.config["skip_signature"] = True


_S3_HANDLERS: dict[str, _Handler] = {
    "endpoint_url": _to("endpoint"),
    "key": _to("access_key_id"),
    "secret": _to("secret_access_key"),
    "token": _to("session_token"),
    "anon": _s3_anon,
    "client_kwargs": _s3_client_kwargs,
    "config_kwargs": _config_kwargs("s3"),
    "requester_pays": _to("request_payer"),
    "use_listings_cache": _ignore,
    "default_block_size": _ignore,
}
_S3_NATIVE = frozenset(
    {
        "access_key_id",
        "secret_access_key",
        "session_token",
        "endpoint",
        "region",
        "default_region",
        "skip_signature",
        "virtual_hosted_style_request",
        "unsigned_payload",
        "checksum_algorithm",
        "conditional_put",
        "server_side_encryption",
        "sse_kms_key_id",
        "sse_bucket_key_enabled",
        "request_payer",
        "disable_tagging",
        "role_arn",
        "role_session_name",
        "web_identity_token_file",
        "sts_endpoint",
        "metadata_endpoint",
    }
)


def s3_args(options: Mapping[str, Any], timeout: float | None) -> StoreArgs:
    """S3Store arguments for s3fs-style ``options``.

    A custom endpoint without a region gets ``us-east-1``, which is what botocore
    signs with there too (moto, MinIO and Ceph accept it).
    """
    args = _translate("s3", options, _S3_HANDLERS, _S3_NATIVE)
    if "endpoint" in args.config:
        args.config.setdefault("region", "us-east-1")
    args.finish(timeout)
    return args


def _gcs_token(args: StoreArgs, value: Any) -> None:
    if value is None or value in ("google_default", "cloud"):
        return  # obstore finds the default credentials itself
    if value == "anon":
        args.config["skip_signature"] = True
    elif isinstance(value, Mapping):
        args.config["service_account_key"] = json.dumps(dict(value))
    elif isinstance(value, str):
        args.config["application_credentials"] = value
    else:
        raise _refuse("gcs", "token", f"a {type(value).__name__} is not a token obstore takes")


_GCS_HANDLERS: dict[str, _Handler] = {
    "endpoint_url": _to("base_url"),
    "token": _gcs_token,
    "project": _ignore,  # gcsfs needs it to create buckets; object requests do not
    "default_location": _ignore,
    "consistency": _ignore,
    "use_listings_cache": _ignore,
}
_GCS_NATIVE = frozenset(
    {
        "base_url",
        "service_account",
        "service_account_key",
        "application_credentials",
        "bearer_token",
        "skip_signature",
    }
)


def gcs_args(options: Mapping[str, Any], timeout: float | None) -> StoreArgs:
    """GCSStore arguments for gcsfs-style ``options``.

    ``token="anon"`` sends no credentials. Against a custom endpoint (an emulator)
    obstore would still fetch an OAuth token for every upload, from the metadata
    server, so there a placeholder bearer token stands in, as gcsfs sends none.
    """
    args = _translate("gcs", options, _GCS_HANDLERS, _GCS_NATIVE)
    if args.config.get("skip_signature") and "base_url" in args.config:
        del args.config["skip_signature"]
        args.config.setdefault("bearer_token", "anonymous")
    args.finish(timeout)
    return args


_CONNECTION_KEYS = {
    "accountname": "account_name",
    "accountkey": "access_key",
    "blobendpoint": "endpoint",
    "sharedaccesssignature": "sas_key",
}


def _connection_string(args: StoreArgs, value: Any) -> None:
    """An Azure connection string's parts; the endpoint suffix and protocol build the
    endpoint when no BlobEndpoint is given."""
    parts: dict[str, str] = {}
    for item in str(value).split(";"):
        name, sep, text = item.strip().partition("=")
        if sep:
            parts[name.strip().lower()] = text.strip()
    if parts.get("usedevelopmentstorage", "").lower() == "true":
        args.config["use_emulator"] = True
    for name, text in parts.items():
        if name in _CONNECTION_KEYS:
            args.config[_CONNECTION_KEYS[name]] = text
    account = parts.get("accountname")
    if "endpoint" not in args.config and account and "endpointsuffix" in parts:
        protocol = parts.get("defaultendpointsprotocol", "https")
        args.config["endpoint"] = f"{protocol}://{account}.blob.{parts['endpointsuffix']}"


def _sas(args: StoreArgs, value: Any) -> None:
    if value:
        args.config["sas_key"] = str(value).lstrip("?")


def _azure_anon(args: StoreArgs, value: Any) -> None:
    if value:
        args.config["skip_signature"] = True


def _azure_credential(args: StoreArgs, value: Any) -> None:
    if value is not None:
        raise _refuse(
            "azure", "credential", "an azure-identity credential object works only with adlfs"
        )


_AZURE_HANDLERS: dict[str, _Handler] = {
    "connection_string": _connection_string,
    "account_name": _to("account_name"),
    "account_key": _to("access_key"),
    "sas_token": _sas,
    "tenant_id": _to("tenant_id"),
    "client_id": _to("client_id"),
    "client_secret": _to("client_secret"),
    "anon": _azure_anon,
    "account_host": lambda args, host: (
        args.config.__setitem__("endpoint", f"https://{host}") if host else None
    ),
    "credential": _azure_credential,
    "use_listings_cache": _ignore,
}
_AZURE_NATIVE = frozenset(
    {
        "account_name",
        "access_key",
        "sas_key",
        "token",
        "endpoint",
        "use_emulator",
        "skip_signature",
        "authority_host",
        "msi_endpoint",
        "object_id",
        "msi_resource_id",
        "federated_token_file",
        "use_azure_cli",
        "use_fabric_endpoint",
        "disable_tagging",
    }
)


def azure_args(options: Mapping[str, Any], timeout: float | None) -> StoreArgs:
    """AzureStore arguments for adlfs-style ``options``."""
    args = _translate("azure", options, _AZURE_HANDLERS, _AZURE_NATIVE)
    args.finish(timeout)
    return args

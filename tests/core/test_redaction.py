"""Secrets in URLs never show: not in errors, tracebacks, ``.url``, reprs or the CLI.

Credentials written into a URL move into the storage options (so the data lands in
the right bucket and prefix), and everything the library prints passes through
``session_storage.core.redaction``.
"""

from __future__ import annotations

import math
import traceback

import pytest

from session_storage import (
    ConfigurationError,
    SerializationError,
    SessionStorage,
    SessionStorageError,
    StorageNotFoundError,
    StorageSettings,
)
from session_storage.core.errors import BatchError
from session_storage.core.redaction import redact_text, redact_url

from ..cli.test_cli import run_cli
from ..support.cloud import new_bucket

SECRET = "TOPSECRETPW"
SIG = "SIGNATURE0123"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"s3://AKIAXX:{SECRET}@bucket/app", "s3://***@bucket/app"),
        (f"s3://AKIAXX:ab/{SECRET}@bucket/app", "s3://***@bucket/app"),  # raw "/" in it
        (f"http://user:{SECRET}@host:9000/x", "http://***@host:9000/x"),
        (
            f"az://c/app?sv=2024-01-01&se=2030-01-01&sp=rw&sig={SIG}",
            "az://c/app?sv=2024-01-01&se=2030-01-01&sp=rw&sig=***",
        ),
        (
            f"https://h/o?X-Amz-Credential={SECRET}&X-Amz-Signature={SIG}&versionId=3#f",
            "https://h/o?X-Amz-Credential=***&X-Amz-Signature=***&versionId=3#f",
        ),
        (f"gs://b/app?{SECRET}", "gs://b/app?***"),
        ("s3://bucket/app?versionId=3", "s3://bucket/app?versionId=3"),
        ("gs://bucket/user@example.com/s", "gs://bucket/user@example.com/s"),
        ("/tmp/odd@name?x=1", "/tmp/odd@name?x=1"),
        ("memory://store", "memory://store"),
    ],
)
def test_redact_url_hides_userinfo_and_credential_parameters_only(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_text_redacts_every_url_in_a_message_and_keeps_the_rest() -> None:
    text = (
        f"s3: cannot load session 'a' (az://c/app?sv=1&sig={SIG}): endpoint "
        f'"http://u:{SECRET}@127.0.0.1:1/b" refused.'
    )
    assert redact_text(text) == (
        "s3: cannot load session 'a' (az://c/app?sv=1&sig=***): endpoint "
        '"http://***@127.0.0.1:1/b" refused.'
    )


# -- settings: credentials move out of the URL -------------------------------------


def test_s3_userinfo_becomes_key_and_secret_and_leaves_the_bucket_right() -> None:
    settings = StorageSettings("s3://AKIA%2FXX:se%2Fcret%2B@my-bucket/app")
    assert settings.url == "s3://my-bucket/app"
    assert settings.storage_options == {"key": "AKIA/XX", "secret": "se/cret+"}
    storage = SessionStorage(f"s3://AKIAXX:{SECRET}@my-bucket/app")
    assert storage.url == "s3://my-bucket/app"
    assert storage.settings.storage_options["secret"] == SECRET  # still usable


@pytest.mark.parametrize("scheme", ["sftp", "ssh", "ftp"])
def test_a_login_in_an_sftp_or_ftp_url_becomes_username_and_password(scheme: str) -> None:
    settings = StorageSettings(f"{scheme}://me%40corp:p%3Ass@host:2222/srv/sessions")
    assert settings.url == f"{scheme}://host:2222/srv/sessions"
    assert settings.storage_options == {"username": "me@corp", "password": "p:ss"}
    alone = StorageSettings(f"{scheme}://me@host/srv", {"password": SECRET})
    assert alone.storage_options == {"username": "me", "password": SECRET}
    assert SECRET not in repr(alone)
    with pytest.raises(ConfigurationError) as info:
        StorageSettings(f"{scheme}://me:{SECRET}@host/srv", {"password": "other"})
    assert "password" in str(info.value) and SECRET not in str(info.value)


def test_azure_sas_query_becomes_sas_token() -> None:
    query = f"sv=2024-01-01&sp=rw&sig={SIG}"
    settings = StorageSettings(f"az://container/app?{query}", {"account_name": "acct"})
    assert settings.url == "az://container/app"
    assert settings.storage_options == {"account_name": "acct", "sas_token": query}
    assert SIG not in repr(settings)


def test_credentials_given_twice_are_refused_without_showing_them() -> None:
    with pytest.raises(ConfigurationError) as info:
        StorageSettings(f"s3://AKIAXX:{SECRET}@bucket", {"secret": "other"})
    assert "secret" in str(info.value) and SECRET not in str(info.value)


def test_settings_repr_masks_userinfo_of_endpoint_url_and_credential_options() -> None:
    settings = StorageSettings(
        "s3://bucket",
        {
            "endpoint_url": f"http://user:{SECRET}@127.0.0.1:9000",
            "client_kwargs": {"aws_session_token": SIG},
            "anon": False,
        },
    )
    shown = repr(settings)
    assert SECRET not in shown and SIG not in shown
    assert "http://***@127.0.0.1:9000" in shown and "'anon': False" in shown


# -- errors, tracebacks, url and repr ------------------------------------------------


def assert_hidden(exc: BaseException, *secrets: str) -> None:
    text = "".join(traceback.format_exception(exc))
    assert isinstance(exc, SessionStorageError)
    for secret in secrets:
        assert secret not in str(exc)
        assert secret not in repr(exc)
        assert secret not in text
        assert secret not in (exc.url or "")


async def test_errors_without_io_never_show_a_sas_signature() -> None:
    query = f"sv=2024-01-01&sig={SIG}"
    storage = SessionStorage(f"az://container/app?{query}", {"account_name": "acct"})
    assert SIG not in storage.url and SIG not in repr(storage)
    with pytest.raises(SerializationError) as info:
        await storage.store_session("s", {"x": math.nan})
    assert "az://container/app/s/state.json" in str(info.value)
    assert_hidden(info.value, SIG)
    with pytest.raises(BatchError) as batch:
        await storage.store_sessions({"s": {"x": math.inf}})
    assert_hidden(batch.value, SIG)


def test_an_error_built_from_a_secret_url_shows_none_of_it() -> None:
    err = StorageNotFoundError(
        f"gcs: cannot load (gs://u:{SECRET}@bucket/s): reason", url=f"gs://u:{SECRET}@b/s"
    )
    assert_hidden(err, SECRET)
    assert err.url == "gs://***@b/s"


async def test_s3_with_credentials_in_the_url(moto_s3_server: str) -> None:
    bucket = new_bucket(moto_s3_server)
    url = f"s3://testing:{SECRET}@{bucket}/app"
    options = {"endpoint_url": moto_s3_server}
    async with SessionStorage(url, options) as storage:
        assert storage.url == f"s3://{bucket}/app"
        assert SECRET not in repr(storage) and SECRET not in repr(storage.settings)
        await storage.store_session("s", {"v": 1})
        assert (await storage.load_session("s") or {})["v"] == 1
        # The data is under the bucket and prefix the URL names, not under "testing:...".
        keys = await storage.filesystem._find(f"{bucket}/app")
        assert keys == [f"{bucket}/app/s/state.json"]

    async with SessionStorage(f"s3://testing:{SECRET}@no-such-{bucket}", options) as missing:
        with pytest.raises(StorageNotFoundError) as info:
            await missing.store_session("s", {"v": 1})
    assert_hidden(info.value, SECRET)
    assert f"no-such-{bucket}" in str(info.value)


@pytest.mark.parametrize("trace", [False, True])
def test_cli_never_prints_the_secret(moto_s3_server: str, trace: bool) -> None:
    bucket = new_bucket(moto_s3_server)
    endpoint = ["-o", f"endpoint_url={moto_s3_server}"]
    extra = ["--traceback"] if trace else []
    url = f"s3://testing:{SECRET}@{bucket}/app"
    stored = run_cli("--url", url, *endpoint, *extra, "rm", "--yes", "nobody")
    listed = run_cli("--url", url, *endpoint, *extra, "ls")
    failed = run_cli("--url", f"s3://testing:{SECRET}@no-{bucket}", *endpoint, *extra, "ls")
    assert listed.returncode == 0, listed.stderr
    assert failed.returncode == 3 and f"no-{bucket}" in failed.stderr
    assert trace == ("Traceback" in failed.stderr)
    for done in (stored, listed, failed):
        assert SECRET not in done.stdout and SECRET not in done.stderr

"""The error hierarchy: one base class, builtin parents, messages that say where."""

from __future__ import annotations

import pytest

from session_storage.core import errors, messages
from session_storage.core.errors import translate


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (errors.InvalidKeyError, ValueError),
        (errors.SerializationError, ValueError),
        (errors.CorruptDataError, ValueError),
        (errors.ConfigurationError, ValueError),
        (errors.MissingDependencyError, ImportError),
        (errors.StorageNotFoundError, FileNotFoundError),
        (errors.PermissionDeniedError, PermissionError),
        (errors.BackendUnavailableError, ConnectionError),
        (errors.ConflictError, FileExistsError),
        (errors.BackendError, OSError),
    ],
)
def test_every_error_is_ours_and_the_matching_builtin(
    cls: type[errors.SessionStorageError], builtin: type[BaseException]
) -> None:
    err = cls("message", backend="s3", session_id="abc", filename="f.json", url="s3://b/abc")
    assert isinstance(err, errors.SessionStorageError) and isinstance(err, builtin)
    assert str(err) == "message"
    assert (err.backend, err.session_id, err.filename, err.url) == (
        "s3",
        "abc",
        "f.json",
        "s3://b/abc",
    )


@pytest.mark.parametrize(
    ("cause", "expected"),
    [
        (PermissionError("denied"), errors.PermissionDeniedError),
        (FileNotFoundError("bucket"), errors.StorageNotFoundError),
        (ConnectionRefusedError("refused"), errors.BackendUnavailableError),
        (TimeoutError("slow"), errors.BackendUnavailableError),
        (FileExistsError("exists"), errors.ConflictError),
        (OSError(5, "I/O error"), errors.BackendError),
        (RuntimeError("odd"), errors.BackendError),
    ],
)
def test_translate_names_backend_session_file_and_url(
    cause: Exception, expected: type[errors.SessionStorageError]
) -> None:
    err = translate(
        cause,
        errors.classify_builtin(cause),
        backend="gcs",
        action="load",
        session_id="abc",
        filename="state.json",
        url="gs://bucket/abc/state.json",
    )
    assert type(err) is expected
    text = str(err)
    assert text.startswith("gcs: cannot load session 'abc' file 'state.json'")
    assert "gs://bucket/abc/state.json" in text and str(cause) in text


async def test_a_failure_inside_a_task_group_is_reported_as_itself() -> None:
    import anyio

    from session_storage import SessionStorage, StorageNotFoundError
    from session_storage.operations.scope import FolderRef

    async def gone() -> None:
        raise FileNotFoundError("bucket 'b' does not exist")

    storage = SessionStorage("memory://groups")

    async def concurrent() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(gone)

    with pytest.raises(StorageNotFoundError) as info:
        scope = storage._scope
        await scope.call(FolderRef("s", "groups/s"), "delete", concurrent())
    assert "TaskGroup" not in str(info.value)
    assert "bucket 'b' does not exist" in str(info.value) and "'s'" in str(info.value)
    assert isinstance(getattr(info.value.__cause__, "exceptions", None), tuple)  # the group
    assert errors.innermost(ValueError("x")).args == ("x",)


def test_the_public_modules_re_export_the_core_names_and_no_others() -> None:
    import session_storage
    import session_storage.errors
    import session_storage.keys
    import session_storage.redaction
    from session_storage.core import keys, redaction

    classes = [
        name
        for name, value in vars(errors).items()
        if isinstance(value, type)
        and value.__module__ == errors.__name__
        and issubclass(value, errors.SessionStorageError)
    ]
    assert sorted(errors.__all__) == sorted(classes)
    public = [
        (session_storage.errors, errors, [*classes, "ErrorKind", "translate"]),
        (session_storage.keys, keys, keys.__all__),
        (session_storage.redaction, redaction, redaction.__all__),
    ]
    for module, core, names in public:
        assert sorted(module.__all__) == sorted(names), module.__name__
        for name in names:
            assert getattr(module, name) is getattr(core, name), name
    # The package offers the error classes, not the translation helpers.
    assert set(classes) <= set(session_storage.__all__)
    assert not {"ErrorKind", "translate", "describe", "failure"} & set(dir(session_storage))
    assert len(session_storage.__all__) == len(set(session_storage.__all__))


def test_no_message_is_longer_than_the_limit_and_a_cut_is_marked() -> None:
    assert messages.shorten("short", 10) == "short"
    for size in (1001, 5000, 100_000):
        cut = messages.shorten("a" * (size // 2) + "b" * (size - size // 2), 1000)
        assert len(cut) <= 1000 and cut.startswith("aaa") and cut.endswith("bbb")
        hidden = int(cut.split("...[")[1].split(" ")[0])
        assert len(cut) - len(f"...[{hidden} characters cut]...") + hidden == size
    long_id = "x" * 5000
    err = translate(
        OSError(36, "File name too long: " + "y" * 10_000),
        "other",
        backend="file",
        action="load",
        session_id=long_id,
        filename="f" * 5000,
        url="file:///root/" + long_id,
    )
    assert len(str(err)) <= 1000 and "characters cut]" in str(err)
    assert str(err).startswith("file: cannot load session 'xxx")
    assert err.session_id == long_id and err.filename == "f" * 5000  # kept whole
    assert len(str(errors.BackendError("z" * 50_000))) <= messages.MESSAGE_LIMIT


def test_a_missing_bucket_reason_drops_the_raw_xml_reply() -> None:
    reply = 'Server returned non-2xx status code: 404 Not Found: <?xml version="1.0"?><Error>'
    err = translate(
        OSError(reply),
        "other",
        backend="s3",
        action="load",
        session_id="a",
        filename="b",
        url="s3://x/a/b",
    )
    assert str(err).endswith("404 Not Found") and "<" not in str(err)

"""Storage options from the command line: where each came from, and which a backend takes.

fsspec's local and memory filesystems accept any keyword and ignore the ones they do
not know, so ``-o bogus=1`` (or a typo such as ``-o fsnyc=false``) would be dropped
without a word. The drivers of those backends name the options they honour
(``Driver.accepted_options``), and the CLI refuses the rest as usage errors before
opening a storage. Cloud options pass through unchecked: their clients take many
options, some only through ``**kwargs``, and a wrong refusal would lock a user out.
S3's client rejects an unknown keyword when it is created (``exits.py`` makes that
exit code 2); gcsfs and adlfs ignore unknown keywords, as fsspec does.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..backends import Driver, driver_class
from ..settings import StorageSettings
from .exits import UsageError

__all__ = [
    "GivenOption",
    "accepted_options",
    "given_options",
    "options_for",
    "split_shared",
    "tagged",
]


@dataclass(frozen=True)
class GivenOption:
    """A storage option's value and where it was given (``--option``, ...)."""

    value: Any
    source: str


def accepted_options(driver: type[Driver]) -> frozenset[str] | None:
    """The storage option names ``driver``'s backend honours (its
    :attr:`~session_storage.backends.Driver.accepted_options`).

    ``None`` when the backend hands its options to a cloud client (S3, GCS, Azure):
    any name passes.
    """
    return driver.accepted_options


def given_options(args: argparse.Namespace, base: StorageSettings) -> dict[str, GivenOption]:
    """SESSION_STORAGE_OPTIONS, overridden by ``--options``, overridden by ``--option``."""
    given = {k: GivenOption(v, "SESSION_STORAGE_OPTIONS") for k, v in base.storage_options.items()}
    given.update({k: GivenOption(v, "--options") for k, v in (args.options or {}).items()})
    given.update({k: GivenOption(v, "--option") for k, v in args.option})
    return given


def tagged(pairs: Iterable[tuple[str, Any]], source: str) -> dict[str, GivenOption]:
    """``KEY=VALUE`` pairs of one command line option, tagged with its name."""
    return {k: GivenOption(v, source) for k, v in pairs}


def _refuse(name: str, given: GivenOption, *sides: tuple[str, frozenset[str]]) -> UsageError:
    """A UsageError naming the option, where it came from, and what each side accepts."""
    described = [
        f"the {driver_class(url).name} backend of {url} accepts "
        f"{', '.join(sorted(accepted)) or 'no options'}"
        for url, accepted in sides
    ]
    return UsageError(
        f"unknown storage option {name!r} (from {given.source}): " + "; ".join(described)
    )


def options_for(url: str, given: Mapping[str, GivenOption]) -> dict[str, Any]:
    """The option values for a storage at ``url``; a UsageError names one it does not take.

    Raises ConfigurationError for an unsupported URL scheme.
    """
    accepted = accepted_options(driver_class(url))
    if accepted is not None:
        for name, option in given.items():
            if name not in accepted:
                raise _refuse(name, option, (url, accepted))
    return {name: option.value for name, option in given.items()}


def split_shared(
    given: Mapping[str, GivenOption], src_url: str, dst_url: str
) -> tuple[dict[str, GivenOption], dict[str, GivenOption]]:
    """Share the options given for both sides of a copy between them.

    ``cp /folder s3://bucket -o endpoint_url=...`` is meant for the bucket: each side
    gets the options its backend takes, and an option that neither takes is refused
    with a UsageError.
    """
    src_takes = accepted_options(driver_class(src_url))
    dst_takes = accepted_options(driver_class(dst_url))
    src: dict[str, GivenOption] = {}
    dst: dict[str, GivenOption] = {}
    for name, option in given.items():
        to_src = src_takes is None or name in src_takes
        to_dst = dst_takes is None or name in dst_takes
        if src_takes is not None and dst_takes is not None and not (to_src or to_dst):
            raise _refuse(name, option, (src_url, src_takes), (dst_url, dst_takes))
        if to_src:
            src[name] = option
        if to_dst:
            dst[name] = option
    return src, dst

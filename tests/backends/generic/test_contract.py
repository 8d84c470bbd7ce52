"""The driver contract on the generic driver: SFTP (sshfs against asyncssh's server),
FTP (fsspec's client against pyftpdlib), a ``dir::`` chain over local disk and a
filesystem object. Conditions the protocol cannot enforce are refused (see
``storage.capabilities``); SFTP enforces ``if_absent``."""

from __future__ import annotations

from ...support.driver_contract import DriverContract
from ...support.generic_lanes import DirFileLane, FilesystemObjectLane, FTPLane, SFTPLane


class _Generic(DriverContract):
    conditional_writes = False
    holds_1000_character_ids = False
    many_sessions = 300
    many_files = 150


class TestSFTP(SFTPLane, _Generic):
    pass


class TestFTP(FTPLane, _Generic):
    pass


class TestDirFile(DirFileLane, _Generic):
    pass


class TestFilesystemObject(FilesystemObjectLane, _Generic):
    holds_1000_character_ids = True  # memory names have no length limit

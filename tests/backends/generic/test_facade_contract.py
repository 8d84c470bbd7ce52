"""The facade contract on the generic driver's lanes: SFTP, FTP, a ``dir::`` chain over
local disk (plain and zstd+aes) and a filesystem object. What needs conditional writes
(``update_session``, event logs) must be refused there with NotSupportedError."""

from __future__ import annotations

from ...support.facade_contract import FacadeContract
from ...support.generic_lanes import DirFileLane, FilesystemObjectLane, FTPLane, SFTPLane


class _Generic(FacadeContract):
    conditional_writes = False


class TestSFTP(SFTPLane, _Generic):
    pass


class TestFTP(FTPLane, _Generic):
    pass


class TestDirFile(DirFileLane, _Generic):  # plain and zstd+aes
    pass


class TestFilesystemObject(FilesystemObjectLane, _Generic):
    pass

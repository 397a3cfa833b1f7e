"""Owner-only files and folders on Windows: access control lists (ACLs) in SDDL, through advapi32.

A private file or folder carries a protected DACL (nothing inherited from its folder) that grants full
control to the current user, `SYSTEM` and the `Administrators` group, and nobody else. SYSTEM and the
administrators are in it because Windows itself runs as them (backups, the indexer, an administrator taking
ownership can never be locked out anyway): the same trust as root on Linux. A file is judged by every
allow entry of its DACL, inherited or not: one for anyone else (Users, Everyone, another account) and it is
not private. A file in the user's profile created by any editor passes (the profile folders grant exactly
these three); one in `C:\\shared` does not.

The SDDL helpers are pure (tested anywhere); the functions that touch files run on Windows only.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

__all__ = [
    "Ace",
    "create_private_dir",
    "foreign_grants",
    "icacls_fix",
    "open_private_file",
    "owner_only_sddl",
    "parse_dacl",
    "private_problem",
    "set_sddl",
]

SYSTEM = "SY"
ADMINISTRATORS = "BA"
# Trusted besides the user: SYSTEM, Administrators, and the two owner pseudo-SIDs (which mean the user).
_TRUSTED = {SYSTEM, ADMINISTRATORS, "OW", "CO", "S-1-5-18", "S-1-5-32-544", "S-1-3-4", "S-1-3-0"}
_ALLOW_TYPES = {"A", "OA", "XA", "ZA"}
# SDDL's short names for the well-known SIDs a DACL commonly carries; icacls wants the numeric form.
_WELL_KNOWN = {
    "WD": "S-1-1-0", "AU": "S-1-5-11", "BU": "S-1-5-32-545", "BG": "S-1-5-32-546", "IU": "S-1-5-4",
    "NU": "S-1-5-2", "AN": "S-1-5-7", "SY": "S-1-5-18", "BA": "S-1-5-32-544", "PU": "S-1-5-32-547",
    "NS": "S-1-5-20", "LS": "S-1-5-19", "AC": "S-1-15-2-1", "CO": "S-1-3-0", "OW": "S-1-3-4",
}
_NAMES = {"WD": "Everyone", "AU": "Authenticated Users", "BU": "Users", "BG": "Guests", "IU": "Interactive",
          "NU": "Network", "AN": "Anonymous", "PU": "Power Users", "AC": "All Application Packages"}
_ACE = re.compile(r"\(([^;()]*);([^;()]*);([^;()]*);([^;()]*);([^;()]*);([^;()]*)(?:;[^()]*)?\)")

_DACL_SECURITY_INFORMATION = 0x4
_PROTECTED_DACL_SECURITY_INFORMATION = 0x80000000


@dataclass(frozen=True)
class Ace:
    """One access control entry as SDDL writes it: type (`A` allow, `D` deny...), flags, rights, SID."""

    type: str
    flags: str
    rights: str
    sid: str


def owner_only_sddl(user_sid: str, *, folder: bool = False) -> str:
    """The protected DACL granting full control to `user_sid`, SYSTEM and Administrators alone.

    A folder's entries are inherited by what is created inside it (OICI), so its files are private too.
    """
    inherit = "OICI" if folder else ""
    return "D:P" + "".join(f"(A;{inherit};FA;;;{sid})" for sid in (user_sid, SYSTEM, ADMINISTRATORS))


def parse_dacl(sddl: str) -> list[Ace] | None:
    """The entries of the DACL in an SDDL string; None for no DACL at all (everyone may do anything)."""
    _, found, dacl = sddl.partition("D:")
    if not found or dacl.startswith("NO_ACCESS_CONTROL"):
        return None
    dacl = dacl.split("S:", 1)[0]
    return [Ace(type=match.group(1).strip(), flags=match.group(2).strip(), rights=match.group(3).strip(),
                sid=match.group(6).strip()) for match in _ACE.finditer(dacl)]


def foreign_grants(sddl: str, user_sid: str) -> list[str]:
    """The SIDs (as written) that the DACL lets in besides the user, SYSTEM and Administrators."""
    entries = parse_dacl(sddl)
    if entries is None:
        return ["WD"]
    user = user_sid.upper()
    foreign: list[str] = []
    for ace in entries:
        sid = ace.sid.upper()
        if ace.type.upper() in _ALLOW_TYPES and sid != user and sid not in _TRUSTED and sid not in foreign:
            # The built-in Administrator account appears as LA when it is the user.
            if not (sid == "LA" and user.endswith("-500")):
                foreign.append(sid)
    return foreign


def sid_name(sid: str) -> str:
    """A readable name for a SID as SDDL writes it (the well-known ones; others as they are)."""
    return _NAMES.get(sid, sid)


def icacls_fix(path: str, user_sid: str, foreign: list[str], *, folder: bool = False) -> str:
    """The icacls command that makes `path` private: no inheritance, the user alone, the others removed."""
    removals = "".join(f" *{_WELL_KNOWN.get(sid, sid)}" for sid in foreign)
    rights = "(OI)(CI)F" if folder else "F"
    command = f'icacls "{path}" /inheritance:r /grant:r "*{user_sid}:{rights}"'
    return command + (f" /remove:g{removals}" if removals else "")


def private_problem(path: str, *, folder: bool = False) -> tuple[str, str] | None:
    """(what is wrong, the icacls command that fixes it) when others may open `path`, else None (Windows).

    Raises FileNotFoundError when there is no such file.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    user = current_user_sid()
    foreign = foreign_grants(_file_sddl(path), user)
    if not foreign:
        return None
    who = ", ".join(sid_name(sid) for sid in foreign)
    return f"its ACL lets {who} in", icacls_fix(path, user, foreign, folder=folder)


if sys.platform == "win32":
    import ctypes
    import msvcrt
    from ctypes import wintypes

    _advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)
    _kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)

    class _SecurityAttributes(ctypes.Structure):
        _fields_ = [("nLength", wintypes.DWORD), ("lpSecurityDescriptor", wintypes.LPVOID),
                    ("bInheritHandle", wintypes.BOOL)]

    _kernel32.GetCurrentProcess.restype = wintypes.HANDLE
    _kernel32.LocalFree.argtypes = [wintypes.HLOCAL]
    _kernel32.CloseHandle.argtypes = [wintypes.HANDLE]
    _kernel32.CreateFileW.argtypes = [wintypes.LPCWSTR, wintypes.DWORD, wintypes.DWORD, wintypes.LPVOID,
                                      wintypes.DWORD, wintypes.DWORD, wintypes.HANDLE]
    _kernel32.CreateFileW.restype = wintypes.HANDLE
    _kernel32.CreateDirectoryW.argtypes = [wintypes.LPCWSTR, wintypes.LPVOID]
    _advapi32.OpenProcessToken.argtypes = [wintypes.HANDLE, wintypes.DWORD, ctypes.POINTER(wintypes.HANDLE)]
    _advapi32.GetTokenInformation.argtypes = [wintypes.HANDLE, ctypes.c_int, wintypes.LPVOID, wintypes.DWORD,
                                              ctypes.POINTER(wintypes.DWORD)]
    _advapi32.ConvertSidToStringSidW.argtypes = [wintypes.LPVOID, ctypes.POINTER(wintypes.LPWSTR)]
    _advapi32.ConvertStringSecurityDescriptorToSecurityDescriptorW.argtypes = [
        wintypes.LPCWSTR, wintypes.DWORD, ctypes.POINTER(wintypes.LPVOID), wintypes.LPVOID]
    _advapi32.ConvertSecurityDescriptorToStringSecurityDescriptorW.argtypes = [
        wintypes.LPVOID, wintypes.DWORD, wintypes.DWORD, ctypes.POINTER(wintypes.LPWSTR), wintypes.LPVOID]
    _advapi32.GetFileSecurityW.argtypes = [wintypes.LPCWSTR, wintypes.DWORD, wintypes.LPVOID, wintypes.DWORD,
                                           ctypes.POINTER(wintypes.DWORD)]
    _advapi32.SetFileSecurityW.argtypes = [wintypes.LPCWSTR, wintypes.DWORD, wintypes.LPVOID]

    def _check(ok: int) -> None:
        if not ok:
            raise ctypes.WinError(ctypes.get_last_error())

    def current_user_sid() -> str:
        """The SID of the user this process runs as (`S-1-5-21-...`)."""
        token = wintypes.HANDLE()
        _check(_advapi32.OpenProcessToken(_kernel32.GetCurrentProcess(), 0x0008, ctypes.byref(token)))
        try:
            needed = wintypes.DWORD()
            _advapi32.GetTokenInformation(token, 1, None, 0, ctypes.byref(needed))  # TokenUser
            buffer = ctypes.create_string_buffer(needed.value)
            _check(_advapi32.GetTokenInformation(token, 1, buffer, needed, ctypes.byref(needed)))
        finally:
            _kernel32.CloseHandle(token)
        sid = ctypes.cast(buffer, ctypes.POINTER(wintypes.LPVOID))[0]
        text = wintypes.LPWSTR()
        _check(_advapi32.ConvertSidToStringSidW(sid, ctypes.byref(text)))
        try:
            return str(text.value)
        finally:
            _kernel32.LocalFree(ctypes.cast(text, wintypes.HLOCAL))

    class _Descriptor:
        """A self-relative security descriptor built from SDDL, freed on exit."""

        def __init__(self, sddl: str) -> None:
            self.pointer = wintypes.LPVOID()
            _check(_advapi32.ConvertStringSecurityDescriptorToSecurityDescriptorW(
                sddl, 1, ctypes.byref(self.pointer), None))

        def __enter__(self) -> _Descriptor:
            return self

        def __exit__(self, *_: object) -> None:
            _kernel32.LocalFree(ctypes.cast(self.pointer, wintypes.HLOCAL))

        def attributes(self) -> _SecurityAttributes:
            return _SecurityAttributes(ctypes.sizeof(_SecurityAttributes), self.pointer, False)

    def _file_sddl(path: str) -> str:
        needed = wintypes.DWORD()
        _advapi32.GetFileSecurityW(path, _DACL_SECURITY_INFORMATION, None, 0, ctypes.byref(needed))
        if not needed.value:
            raise ctypes.WinError(ctypes.get_last_error())
        buffer = ctypes.create_string_buffer(needed.value)
        _check(_advapi32.GetFileSecurityW(path, _DACL_SECURITY_INFORMATION, buffer, needed, ctypes.byref(needed)))
        text = wintypes.LPWSTR()
        _check(_advapi32.ConvertSecurityDescriptorToStringSecurityDescriptorW(
            buffer, 1, _DACL_SECURITY_INFORMATION, ctypes.byref(text), None))
        try:
            return str(text.value)
        finally:
            _kernel32.LocalFree(ctypes.cast(text, wintypes.HLOCAL))

    def set_sddl(path: str, sddl: str) -> None:
        """Replace the DACL of an existing file or folder (protected when the SDDL says `D:P`)."""
        info = _DACL_SECURITY_INFORMATION | (_PROTECTED_DACL_SECURITY_INFORMATION if "D:P" in sddl else 0)
        with _Descriptor(sddl) as descriptor:
            _check(_advapi32.SetFileSecurityW(path, info, descriptor.pointer))

    def open_private_file(path: str) -> int:
        """Create `path` (it must not exist) owner-only from its first byte; a file descriptor open for writing."""
        with _Descriptor(owner_only_sddl(current_user_sid())) as descriptor:
            attributes = descriptor.attributes()
            # GENERIC_WRITE, no sharing, CREATE_NEW, FILE_ATTRIBUTE_NORMAL
            handle = _kernel32.CreateFileW(path, 0x40000000, 0, ctypes.byref(attributes), 1, 0x80, None)
        if handle is None or handle == wintypes.HANDLE(-1).value:
            raise ctypes.WinError(ctypes.get_last_error())
        return msvcrt.open_osfhandle(handle, os.O_WRONLY)

    def create_private_dir(path: str) -> bool:
        """Create the folder owner-only; False when it already exists (left as it is)."""
        with _Descriptor(owner_only_sddl(current_user_sid(), folder=True)) as descriptor:
            attributes = descriptor.attributes()
            if _kernel32.CreateDirectoryW(path, ctypes.byref(attributes)):
                return True
        error = ctypes.get_last_error()
        if error == 183:  # ERROR_ALREADY_EXISTS
            return False
        raise ctypes.WinError(error)

else:

    def current_user_sid() -> str:
        raise OSError("Windows ACLs exist on Windows only")

    def _file_sddl(path: str) -> str:
        raise OSError("Windows ACLs exist on Windows only")

    def set_sddl(path: str, sddl: str) -> None:
        raise OSError("Windows ACLs exist on Windows only")

    def open_private_file(path: str) -> int:
        raise OSError("Windows ACLs exist on Windows only")

    def create_private_dir(path: str) -> bool:
        raise OSError("Windows ACLs exist on Windows only")

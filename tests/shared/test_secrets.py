"""One secret loader: environment first, else a file only its owner may read, on POSIX and Windows."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.parts.private import FIX_FILE, expose, is_private
from variet.shared.errors import ConfigError
from variet.shared.secrets import (
    Exposure,
    exposure,
    make_private_dir,
    read_secret_file,
    secret_from,
    write_private_file,
)
from variet.shared.winacl import foreign_grants, icacls_fix, owner_only_sddl, parse_dacl

USER = "S-1-5-21-1004336348-1177238915-682003330-1001"
# What Windows reports for a file created by Notepad in the user's profile (inherited from the profile folder).
PROFILE_FILE = f"D:AI(A;ID;FA;;;SY)(A;ID;FA;;;BA)(A;ID;FA;;;{USER})"
# A file in a folder made at C:\shared: readable by every user of the machine.
SHARED_FILE = "D:AI(A;ID;FA;;;BA)(A;ID;FA;;;SY)(A;ID;0x1200a9;;;BU)(A;ID;0x1301bf;;;AU)"


def test_the_environment_variable_wins_over_the_file_and_blank_means_unset(tmp_path: Path) -> None:
    file = tmp_path / "key"
    write_private_file(file, "from-file\n")
    assert secret_from("KEY", file, environ={"KEY": " from-env "}) == "from-env"
    assert secret_from("KEY", file, environ={"KEY": "  "}) == "from-file"
    assert secret_from("KEY", None, environ={}) is None


def test_a_missing_or_empty_secret_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        secret_from("KEY", tmp_path / "nope", environ={})
    write_private_file(tmp_path / "empty", "\n")
    with pytest.raises(ConfigError, match="empty"):
        read_secret_file(tmp_path / "empty")


def test_a_secret_file_others_can_read_is_refused_with_the_command_that_fixes_it(tmp_path: Path) -> None:
    file = tmp_path / "key"
    write_private_file(file, "s3cret")
    expose(file)
    with pytest.raises(ConfigError, match=FIX_FILE) as refused:
        secret_from("KEY", file, environ={})
    assert "s3cret" not in str(refused.value)
    write_private_file(file, "s3cret")  # rewriting replaces the file with a private one
    assert is_private(file) and read_secret_file(file) == "s3cret"


def test_private_files_and_folders_are_created_owner_only(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "private"
    write_private_file(folder / "token.json", "{}")
    make_private_dir(tmp_path / "b")
    assert is_private(folder) and is_private(folder / "token.json") and is_private(tmp_path / "b")
    assert exposure(folder / "token.json") is None
    assert [p.name for p in folder.iterdir()] == ["token.json"]  # no temporary file left behind


@pytest.mark.posix_only
def test_on_posix_the_detail_is_the_mode_and_the_fix_chmod(tmp_path: Path) -> None:
    file = tmp_path / "key"
    file.write_text("x")
    file.chmod(0o640)
    assert exposure(file) == Exposure("mode 640", f"chmod 600 {file}")
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o750)
    folder.chmod(0o750)
    assert exposure(folder, folder=True) == Exposure("mode 750", f"chmod 700 {folder}")


def test_the_owner_only_acl_grants_the_user_system_and_administrators_and_inherits_nothing() -> None:
    assert owner_only_sddl(USER) == f"D:P(A;;FA;;;{USER})(A;;FA;;;SY)(A;;FA;;;BA)"
    assert owner_only_sddl(USER, folder=True) == f"D:P(A;OICI;FA;;;{USER})(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"
    assert foreign_grants(owner_only_sddl(USER), USER) == []


def test_a_file_in_the_user_profile_is_private_and_one_in_a_shared_folder_is_not() -> None:
    assert foreign_grants(PROFILE_FILE, USER) == []
    assert foreign_grants(SHARED_FILE, USER) == ["BU", "AU"]
    assert foreign_grants(PROFILE_FILE, "S-1-5-21-1-2-3-1002") == [USER]  # another account's file


def test_deny_entries_are_harmless_and_no_dacl_at_all_lets_everyone_in() -> None:
    assert foreign_grants(f"D:P(D;;FA;;;WD)(A;;FA;;;{USER})", USER) == []
    assert foreign_grants("D:NO_ACCESS_CONTROL", USER) == ["WD"]
    assert foreign_grants("O:BAG:SY", USER) == ["WD"]
    assert parse_dacl(f"O:{USER}D:PAI(A;OICIID;FA;;;SY)S:AI(AU;SA;FA;;;WD)") == [
        parse_dacl("D:(A;OICIID;FA;;;SY)")[0]]  # type: ignore[index]


def test_the_icacls_fix_removes_inheritance_grants_the_user_and_removes_the_others() -> None:
    assert icacls_fix(r"C:\Users\me\key", USER, ["BU", "S-1-5-21-9-9-9-1003"]) == (
        rf'icacls "C:\Users\me\key" /inheritance:r /grant:r "*{USER}:F" /remove:g *S-1-5-32-545 *S-1-5-21-9-9-9-1003')
    assert icacls_fix(r"C:\cache", USER, ["WD"], folder=True).endswith(f'"*{USER}:(OI)(CI)F" /remove:g *S-1-1-0')


@pytest.mark.windows_only
def test_on_windows_a_private_file_carries_a_protected_owner_only_acl(tmp_path: Path) -> None:
    from variet.shared import winacl

    file = tmp_path / "key"
    write_private_file(file, "s3cret")
    sddl = winacl._file_sddl(str(file))
    assert foreign_grants(sddl, winacl.current_user_sid()) == [], sddl
    # Wine 8 does not keep the descriptor a file is created with (it reports one made from the Unix mode).
    assert sddl.startswith("D:P") or under_wine(), sddl
    expose(file)
    found = exposure(file)
    assert found is not None and "Everyone" in found.detail and found.fix.startswith(f'icacls "{file}"')
    assert sys.platform == "win32"


def under_wine() -> bool:
    import winreg  # type: ignore[import-not-found,unused-ignore]

    try:
        winreg.CloseKey(winreg.OpenKey(winreg.HKEY_CURRENT_USER, r"Software\Wine"))
    except OSError:
        return False
    return True

"""Loaded at interpreter start-up by variet_wine.pth (test lane only). Under Wine 8, which lacks
kernel32.CopyFile2, shutil.copyfile falls back to its portable copy loop instead of crashing."""

import sys

if sys.platform == "win32":
    import winreg

    try:
        winreg.CloseKey(winreg.OpenKey(winreg.HKEY_CURRENT_USER, r"Software\Wine"))
    except OSError:
        pass  # a real Windows: keep CopyFile2
    else:
        import _winapi

        if hasattr(_winapi, "CopyFile2"):
            del _winapi.CopyFile2

"""Settings, caches, state and logs go where each platform keeps them; the Linux paths are the ones they were."""

from __future__ import annotations

from pathlib import Path

from variet.shared.paths import cache_dir, config_dir, logs_dir, state_dir

WINDOWS = {"APPDATA": r"C:\Users\me\AppData\Roaming", "LOCALAPPDATA": r"C:\Users\me\AppData\Local",
           "USERPROFILE": r"C:\Users\me"}


def test_linux_keeps_the_xdg_style_folders_under_home() -> None:
    assert [f(platform="linux", environ={}) for f in (config_dir, cache_dir, state_dir, logs_dir)] == [
        Path("~/.config/variet"), Path("~/.cache/variet"), Path("~/.local/state/variet"),
        Path("~/.local/state/variet/logs")]


def test_windows_keeps_settings_in_roaming_appdata_and_the_rest_in_local_appdata() -> None:
    found = [str(f(platform="win32", environ=WINDOWS)).replace("/", "\\")
             for f in (config_dir, cache_dir, state_dir, logs_dir)]
    assert found == [r"C:\Users\me\AppData\Roaming\variet", r"C:\Users\me\AppData\Local\variet\cache",
                     r"C:\Users\me\AppData\Local\variet\state", r"C:\Users\me\AppData\Local\variet\logs"]


def test_windows_without_appdata_variables_falls_back_to_the_profile() -> None:
    found = str(config_dir(platform="win32", environ={"USERPROFILE": r"C:\Users\me"})).replace("/", "\\")
    assert found == r"C:\Users\me\AppData\Roaming\variet"


def test_the_settings_defaults_follow_the_platform_folders() -> None:
    from variet.shared.config import DEFAULT_CONFIG_PATH, Settings

    settings = Settings()
    assert DEFAULT_CONFIG_PATH == config_dir() / "variet.toml"
    assert Path(settings.google.token_file) == config_dir() / "google-token.json"
    assert Path(settings.engine.prompt_cache_dir) == cache_dir() / "prompt-cache"
    assert Path(settings.discord.state_file) == state_dir() / "discord.json"

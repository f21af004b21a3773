"""Checks of a binary's gin config made before TensorFlow loads.

`binary.run(main, gin_checks=GIN_CHECKS)` runs them on the literal values
the gin files and bindings bind (`gin_preview`), so that a bad value is
refused in a fraction of a second and before anything is written. The real
parse and the libraries check again.
"""

from __future__ import annotations

from smart_control.reinforcement_learning.utils import gin_preview, user_errors


def weather_files(preview: gin_preview.GinPreview) -> None:
    """Loads the weather files the config names (`epw_weather.path`,
    `csv_weather.path`, in any scope).

    Raises:
      ValueError: In one line naming the setting, the file and what is wrong
        (missing, a directory, not the format, not the encoding).
    """
    bound = preview.values_of("epw_weather", "path") + preview.values_of(
        "csv_weather", "path"
    )
    if not bound:
        return
    # numpy and the loaders only when a weather file is named.
    from smart_control.environment import weather

    for name, path in bound:
        if not isinstance(path, str):
            raise ValueError(f"gin: {name} must be a file path string, got {path!r}")
        load = (
            weather.load_epw if name.endswith("epw_weather.path") else weather.load_csv
        )
        try:
            load(path)
        except (OSError, ValueError) as e:
            message = user_errors.user_message(e) or type(e).__name__
            if not message.startswith(path):
                message = f"{path}: {message}"
            raise ValueError(f"{name} {message}") from e


# The checks of every binary that builds an environment.
GIN_CHECKS = (weather_files,)

"""The documented default ``agent.toml``, shipped inside the package for ``zerobeta init``.

The repository's top-level ``agent.toml`` is the source of truth; ``agent/config/agent.toml``
is a byte-identical copy installed as package data (``[tool.setuptools.package-data]`` in
``pyproject.toml``; ``tests/unit/test_packaging.py`` checks that the two stay equal), so an
installed wheel can write the default configuration into any directory.
"""

from __future__ import annotations

import errno
from importlib.resources import files
from pathlib import Path

CONFIG_NAME = "agent.toml"


def default_config_bytes() -> bytes:
    """The packaged default configuration, byte for byte."""
    return files("agent.config").joinpath(CONFIG_NAME).read_bytes()


def write_default_config(directory: Path, *, force: bool = False) -> Path:
    """Write the default configuration to ``directory/agent.toml``.

    Parameters
    ----------
    directory : Path
        Created (with its parents) if it does not exist.
    force : bool
        Replace an existing ``agent.toml``; without it an existing file is left untouched.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    FileExistsError
        If the file exists and ``force`` is false.
    OSError
        If the file cannot be written (``directory`` is a file, no permission...).
    """
    target = directory / CONFIG_NAME
    if target.exists() and not force:
        raise FileExistsError(str(target))
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(directory))
    directory.mkdir(parents=True, exist_ok=True)
    target.write_bytes(default_config_bytes())
    return target

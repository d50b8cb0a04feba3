"""Says whether this interpreter can build the probe wheel and install it with
the host pip into another env (pip wheel --no-build-isolation, then
pip --python ENV install).

Prints one JSON object on stdout: {"missing": ["...", ...]}, each entry a short
reason; empty when everything is there. Reads package metadata only: importing
pip and then setuptools in one process trips setuptools' distutils check.
"""

import json
import sys
from importlib import metadata


def installed_version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def version_tuple(text):
    parts = []
    for part in text.split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit()) or "0"
        parts.append(int(digits))
    return tuple(parts)


def main():
    missing = []
    pip = installed_version("pip")
    if pip is None:
        missing.append("pip is not installed")
    elif version_tuple(pip) < (22, 3):
        missing.append(f"pip {pip} has no --python option (needs pip >= 22.3)")
    setuptools = installed_version("setuptools")
    if setuptools is None:
        missing.append("setuptools is not installed")
    elif version_tuple(setuptools) < (61,):
        missing.append(f"setuptools {setuptools} cannot read [project] (needs >= 61)")
    elif version_tuple(setuptools) < (70, 1) and installed_version("wheel") is None:
        # setuptools builds wheels by itself only from 70.1 on.
        missing.append(f"wheel is not installed (setuptools {setuptools} needs it to build wheels)")
    json.dump({"missing": missing}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

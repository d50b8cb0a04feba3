"""Says whether this interpreter's pip can install the probe wheel into
another env (pip --python ENV install, pip >= 22.3). The wheel itself is
built by make_wheel.py, with the standard library only.

Prints one JSON object on stdout: {"missing": ["...", ...]}, each entry a short
reason; empty when everything is there. Reads package metadata only.
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
    json.dump({"missing": missing}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

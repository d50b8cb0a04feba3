"""Builds the fray_bench_probe wheel (a package that does nothing) that
venv_build_one_wheel and the pip_install_one_wheel peer install, with the
standard library only: a wheel is a zip with the package, METADATA, WHEEL
and RECORD (PEP 427), so no setuptools or wheel package is needed and every
interpreter can build it.

    make_wheel.py OUT_DIR

Prints the wheel's path on stdout.
"""

import base64
import hashlib
import os
import sys
import zipfile

NAME, VERSION = "fray_bench_probe", "0.1.0"
SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wheel_src", NAME)


def record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}\n"


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_wheel.py OUT_DIR")
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    dist_info = f"{NAME}-{VERSION}.dist-info"
    files = []
    for entry in sorted(os.listdir(SOURCE)):
        if entry.endswith(".py"):
            with open(os.path.join(SOURCE, entry), "rb") as source:
                files.append((f"{NAME}/{entry}", source.read()))
    files.append((f"{dist_info}/METADATA",
                  f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n"
                  "Summary: Probe package for fray-bench; does nothing\nRequires-Python: >=3.8\n".encode()))
    files.append((f"{dist_info}/WHEEL",
                  b"Wheel-Version: 1.0\nGenerator: fray-bench make_wheel.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n"))
    record = "".join(record_line(path, data) for path, data in files) + f"{dist_info}/RECORD,,\n"
    wheel = os.path.join(out_dir, f"{NAME}-{VERSION}-py3-none-any.whl")
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files:
            archive.writestr(path, data)
        archive.writestr(f"{dist_info}/RECORD", record)
    print(wheel)


if __name__ == "__main__":
    main()

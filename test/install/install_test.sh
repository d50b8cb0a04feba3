#!/usr/bin/env bash
# fray as other programs use it (README, "Use fray in your project"):
# installs this build with DESTDIR, moves the staged prefix somewhere else,
# then builds test/install/driver.cpp outside the tree three ways (pkg-config,
# CMake's find_package, fray as a Meson subproject) and runs each, and runs
# the installed `fray call` and `fray job`. Every program runs with fray's
# source and build trees hidden (a private mount namespace), so nothing can
# come from them. Exit 0 when all passed, 1 on a failure, 77 (skipped) when
# the trees cannot be hidden here.
#
#   install_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail

src=$(realpath "$1")
build=$(realpath "$2")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fray-install-test-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
case $tmp/ in "$src"/* | "$build"/*) echo "FAILED: TMPDIR ($tmp) is inside the trees this test hides" >&2; exit 1 ;; esac
# Nothing may point fray at its files but the layout itself.
unset FRAY_WORKER_SCRIPT FRAY_CHILD_GUARD FRAY_JOB_SUPERVISOR FRAY_PREFIX PKG_CONFIG_PATH CMAKE_PREFIX_PATH
export FRAY_CACHE_DIR=$tmp/work/cache  # the envs (built once, shared) and the jobs' records

step() { echo "=== [${SECONDS}s] $*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }

option() {  # a build option's value, as meson has it
  meson introspect --buildoptions "$build" | python3 -c '
import json, sys
print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == sys.argv[1]))' "$1"
}
configured_prefix=$(option prefix)
libdir=$(option libdir)
version=$(meson introspect --projectinfo "$build" | python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')

# Runs a command with the source and build trees out of sight (an empty
# tmpfs over each), or, where mount namespaces are refused, as it is.
hidden=yes
hide_trees() {
  local mounts="mount -t tmpfs none \"\$1\""
  [[ $build == "$src"/* ]] || mounts+=" && mount -t tmpfs none \"\$2\""
  local as_root=(unshare --mount)
  [[ $(id -u) -eq 0 ]] || as_root=(unshare --map-root-user --mount)
  # shellcheck disable=SC2016  # expanded by the inner sh
  "${as_root[@]}" sh -c "$mounts"' && shift 2 && [ ! -e "$0" ] && exec "$@"' "$src/meson.build" "$src" "$build" "$@"
}
if ! hide_trees true 2>"$tmp/unshare.err"; then
  echo "cannot hide the source tree ($(cat "$tmp/unshare.err")): running with it in sight; the test is skipped" >&2
  hidden=no
  hide_trees() { "$@"; }
fi

step "install with DESTDIR, then move the prefix"
meson install -C "$build" --no-rebuild --quiet --destdir "$tmp/stage" >"$tmp/install.log"
mv "$tmp/stage$configured_prefix" "$tmp/fray"
prefix=$tmp/fray
for file in include/fray/fray.hpp include/fray/python.hpp include/fray/jobs.hpp include/fray/version.hpp \
  "$libdir/pkgconfig/fray.pc" "$libdir/cmake/fray/frayConfig.cmake" "$libdir/cmake/fray/frayConfigVersion.cmake" \
  bin/fray libexec/fray/fray-child-guard libexec/fray/fray-job-supervisor share/fray/fray_worker.py \
  share/doc/fray/README.md; do
  [[ -e $prefix/$file ]] || fail "the install has no $file"
done
# shellcheck disable=SC2016  # pkg-config's variable, literally
grep -q '^prefix=${pcfiledir}/' "$prefix/$libdir/pkgconfig/fray.pc" ||
  fail "fray.pc's prefix is not relative to its place: configure with -Dpkgconfig.relocatable=true"
ls "$prefix/$libdir"/libfray.* >/dev/null || fail "the install has no libfray"
# No installed file names the machine's source or build tree.
if grep -rlF -e "$src/" -e "$build/" "$prefix"; then fail "installed files name the build machine's trees (above)"; fi

step "the fray_probe 1.0 wheel"
cp -r "$src/test/python_packages/fray_probe_v1" "$tmp/probe"
cp "$src/test/python_packages/fray_probe_shared/calls.py" "$tmp/probe/fray_probe/"
/usr/bin/python3 -m pip wheel --no-build-isolation --no-deps --no-index --disable-pip-version-check -q \
  -w "$tmp/wheels" "$tmp/probe"

run_driver() {  # NAME EXECUTABLE
  step "run the driver built with $1"
  hide_trees "$2" "$tmp/wheels" "$tmp/work" || fail "the driver built with $1"
}

step "build the driver with pkg-config"
mkdir "$tmp/pkgconfig"
cp "$src/test/install/driver.cpp" "$tmp/pkgconfig/"
# shellcheck disable=SC2046  # pkg-config's words are flags
PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig c++ -std=c++20 "$tmp/pkgconfig/driver.cpp" -o "$tmp/pkgconfig/driver" \
  $(PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig pkg-config --cflags --libs fray) -Wl,-rpath,"$prefix/$libdir"
run_driver pkg-config "$tmp/pkgconfig/driver"

step "build the driver with CMake's find_package(fray)"
mkdir "$tmp/cmake"
cp "$src/test/install/driver.cpp" "$src/test/install/CMakeLists.txt" "$tmp/cmake/"
cmake -S "$tmp/cmake" -B "$tmp/cmake/build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/cmake.log" ||
  { cat "$tmp/cmake.log"; fail "cmake"; }
cmake --build "$tmp/cmake/build" >>"$tmp/cmake.log" || { cat "$tmp/cmake.log"; fail "cmake --build"; }
run_driver CMake "$tmp/cmake/build/driver"

step "build the driver with fray as a Meson subproject"
mkdir -p "$tmp/meson/subprojects"
cp "$src/test/install/driver.cpp" "$tmp/meson/"
cp "$src/test/install/meson.build.driver" "$tmp/meson/meson.build"
cp "$src/test/install/fray.wrap" "$tmp/meson/subprojects/fray.wrap"
ln -s "$src" "$tmp/meson/subprojects/fray"
# -O0 (buildtype plain): this builds all of fray once more; only that it links and runs matters.
meson setup "$tmp/meson/build" "$tmp/meson" -Dbuildtype=plain --force-fallback-for=fray >"$tmp/meson.log" ||
  { cat "$tmp/meson.log"; fail "meson setup"; }
ninja -C "$tmp/meson/build" >>"$tmp/meson.log" || { tail -50 "$tmp/meson.log"; fail "ninja"; }
run_driver "a Meson subproject" "$tmp/meson/build/driver"

step "the installed fray: --version, call, job"
[[ $(hide_trees "$prefix/bin/fray" --version) == "fray $version" ]] || fail "fray --version is not 'fray $version'"
env_options=(--python /usr/bin/python3 --no-index --find-links "$tmp/wheels" --package fray_probe==1.0)
sum=$(hide_trees "$prefix/bin/fray" call "${env_options[@]}" fray_probe.calls:add 2 3) || fail "fray call"
[[ $sum == 5 ]] || fail "fray call fray_probe.calls:add 2 3 printed '$sum', not 5"
job=$(hide_trees "$prefix/bin/fray" job submit -- /bin/echo job ran) || fail "fray job submit"
hide_trees "$prefix/bin/fray" job wait "$job" || fail "fray job wait $job"
[[ $(hide_trees "$prefix/bin/fray" job logs "$job") == *"job ran"* ]] || fail "fray job logs $job"

step "a program outside the prefix: a clear error, then found through FRAY_PREFIX"
# bin/fray has fray linked in statically, as a user's program may: copied
# elsewhere, it is in no prefix and no build tree.
mkdir "$tmp/elsewhere"
cp "$prefix/bin/fray" "$tmp/elsewhere/fray"
status=0
hide_trees "$tmp/elsewhere/fray" call "${env_options[@]}" fray_probe.calls:add 2 3 >"$tmp/out" 2>"$tmp/err" || status=$?
echo "exit status $status: $(cat "$tmp/err")"
[[ $status -ne 0 && ! -s $tmp/out ]] || fail "fray outside its prefix exited $status, printing '$(cat "$tmp/out")'"
grep -qF "program was not found ($tmp/elsewhere/fray is neither in an install prefix's" "$tmp/err" ||
  fail "fray outside its prefix does not say which of its files it cannot find, nor why"
sum=$(FRAY_PREFIX=$prefix hide_trees "$tmp/elsewhere/fray" call "${env_options[@]}" fray_probe.calls:add 2 3) ||
  fail "fray call with FRAY_PREFIX"
[[ $sum == 5 ]] || fail "fray call with FRAY_PREFIX printed '$sum', not 5"

step "an install without its worker program: the error names where it looked"
rm "$prefix/share/fray/fray_worker.py"
status=0
hide_trees "$prefix/bin/fray" call "${env_options[@]}" fray_probe.calls:add 2 3 >"$tmp/out" 2>"$tmp/err" || status=$?
echo "exit status $status: $(cat "$tmp/err")"
[[ $status -ne 0 && ! -s $tmp/out ]] || fail "fray call without fray_worker.py exited $status, printing '$(cat "$tmp/out")'"
grep -qF "fray's Python worker program is not in $prefix/share/fray/fray_worker.py; set FRAY_WORKER_SCRIPT" "$tmp/err" ||
  fail "fray call without fray_worker.py does not name $prefix/share/fray/fray_worker.py"

if [[ $hidden == no ]]; then exit 77; fi
echo "install test: all passed in ${SECONDS}s"

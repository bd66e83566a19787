"""Puts a model where its server expects it (Runplane's modelserve runtime ships this file).

In a pod it is the init step, run in the serving image before the server starts:

    python fetch.py [--copy FILE DESTINATION]... [--fetch SOURCE DESTINATION]
                    [--unzip ARCHIVE FOLDER]

--copy    copies a file of the run's ConfigMap (model-settings.json, a build's
          Dockerfile) to DESTINATION.
--fetch   downloads an http(s):// SOURCE to the file DESTINATION or, when SOURCE names a
          .zip, extracts it into the folder DESTINATION. A local SOURCE (an absolute path
          or a file:// URL) is linked instead, so a local model is served where it is.
--unzip   extracts ARCHIVE (which an earlier step copied from s3://) into FOLDER, then
          deletes it.

A local run's serve.py imports it and calls fetch(). Only the standard library is used:
the serving images have Python, not much else.
"""

import argparse
import os
import shutil
import sys
import urllib.parse
import urllib.request
import zipfile

CHUNK = 1 << 20


def is_remote(source):
    return source.startswith(("http://", "https://"))


def is_zip(source):
    return urllib.parse.urlsplit(source).path.endswith(".zip")


def local_path(source):
    """The file an absolute path or a file:// URL names."""
    if source.startswith("file://"):
        return urllib.request.url2pathname(urllib.parse.urlsplit(source).path)
    return source


def parent(path):
    folder = os.path.dirname(path.rstrip("/"))
    if folder:
        os.makedirs(folder, exist_ok=True)


def download(url, path):
    """Downloads url to path, through a partial file so a failure leaves no model."""
    parent(path)
    partial = path + ".part"
    with urllib.request.urlopen(url, timeout=60) as answer, open(partial, "wb") as out:
        shutil.copyfileobj(answer, out, CHUNK)
    os.replace(partial, path)


def unzip(archive, folder):
    """Extracts archive into folder; zipfile keeps every member inside it."""
    os.makedirs(folder, exist_ok=True)
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(folder)


def link(target, path):
    parent(path)
    if os.path.lexists(path):
        os.remove(path)
    os.symlink(os.path.abspath(target), path)


def fetch(source, destination):
    """Puts the model at source into destination (a file, or a folder for a .zip)."""
    print(f"fetching {source} into {destination}", file=sys.stderr, flush=True)
    if is_remote(source):
        if is_zip(source):
            archive = destination.rstrip("/") + ".zip"
            download(source, archive)
            unzip(archive, destination)
            os.remove(archive)
        else:
            download(source, destination)
    elif is_zip(source):
        unzip(local_path(source), destination)
    else:
        link(local_path(source), destination)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    pair = {"nargs": 2, "action": "append", "default": []}
    parser.add_argument("--copy", metavar=("FILE", "DESTINATION"), **pair)
    parser.add_argument("--fetch", metavar=("SOURCE", "DESTINATION"), **pair)
    parser.add_argument("--unzip", metavar=("ARCHIVE", "FOLDER"), **pair)
    arguments = parser.parse_args(argv)
    for file, destination in arguments.copy:
        parent(destination)
        shutil.copyfile(file, destination)
    for source, destination in arguments.fetch:
        fetch(source, destination)
    for archive, folder in arguments.unzip:
        unzip(archive, folder)
        os.remove(archive)


if __name__ == "__main__":
    main(sys.argv[1:])

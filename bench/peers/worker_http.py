"""The peers' client process, run by the peers' own Python (`python -m bench.peers.worker_http
KIND URL ...`): SeaweedFS's filer over its HTTP API and Tahoe-LAFS's web gateway with one
persistent `requests` session per client thread, SeaweedFS's S3 gateway with one boto3 client
(as a user of each would). Answers the operations of `bench.peers.protocol`; concurrent gets
run on that many threads."""

from __future__ import annotations

import os
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import requests

from bench.peers.protocol import serve

PIECE = 1 << 20
TIMEOUT_S = 600


def durable(dest: str) -> None:
    """fsync a downloaded file and its folder, as `stratos get` does before it reports a file
    written: every system's download is timed (and its CPU counted) to the same point, on
    disk, not in the page cache to be written out after the clock stopped."""
    fd = os.open(dest, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    folder = os.open(os.path.dirname(os.path.abspath(dest)), os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


class HttpClient:
    """What the filer and Tahoe have in common: a session per thread, streamed bodies."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def _download(self, url: str, dest: str) -> None:
        with self.session.get(url, stream=True, timeout=TIMEOUT_S) as answer:
            answer.raise_for_status()
            with open(dest, "wb") as f:
                for piece in answer.iter_content(PIECE):
                    f.write(piece)
        durable(dest)


class Filer(HttpClient):
    def put_file(self, path: str) -> str:
        key = f"/bench/{uuid.uuid4().hex}"
        with open(path, "rb") as f:
            self.session.put(self.url + key, data=f, timeout=TIMEOUT_S).raise_for_status()
        return key

    def get_file(self, key: str, dest: str) -> None:
        self._download(self.url + key, dest)


class Tahoe(HttpClient):
    def put_file(self, path: str) -> str:
        with open(path, "rb") as f:
            answer = self.session.put(f"{self.url}/uri", data=f, timeout=TIMEOUT_S)
        answer.raise_for_status()
        return answer.text.strip()  # the file's read capability

    def get_file(self, key: str, dest: str) -> None:
        self._download(f"{self.url}/uri/{quote(key, safe='')}", dest)


class S3:
    def __init__(self, url: str, bucket: str, access_key: str, secret_key: str) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.client = boto3.client(
            "s3",
            endpoint_url=url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name="us-east-1",
            config=Config(max_pool_connections=16, retries={"max_attempts": 1}),
        )
        self.client.create_bucket(Bucket=bucket)

    def put_file(self, path: str) -> str:
        key = uuid.uuid4().hex
        if Path(path).stat().st_size <= 8 << 20:  # boto3 itself sends these in one PUT
            with open(path, "rb") as f:
                self.client.put_object(Bucket=self.bucket, Key=key, Body=f)
        else:
            self.client.upload_file(path, self.bucket, key)
        return key

    def get_file(self, key: str, dest: str) -> None:
        self.client.download_file(self.bucket, key, dest)
        durable(dest)


def _get_small(client, key: str, dest: str) -> None:
    if isinstance(client, S3):  # download_file's transfer machinery is for large objects
        body = client.client.get_object(Bucket=client.bucket, Key=key)["Body"].read()
        Path(dest).write_bytes(body)
    else:
        client.get_file(key, dest)


def ops(client) -> dict:
    def put_files(paths: list[str]) -> list[str]:
        return [client.put_file(p) for p in paths]

    def get_keys(keys: list[str], count: int, dest_dir: str, clients: int) -> int:
        def one(i: int) -> None:
            _get_small(client, keys[i % len(keys)], f"{dest_dir}/{i}")

        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(one, range(count)))
        return count

    return {
        "put_file": client.put_file,
        "get_file": client.get_file,
        "put_files": put_files,
        "get_keys": get_keys,
    }


def main(argv: list[str]) -> None:
    kind, *rest = argv
    client = {"filer": Filer, "tahoe": Tahoe, "s3": S3}[kind](*rest)
    serve(ops(client))


if __name__ == "__main__":
    main(sys.argv[1:])

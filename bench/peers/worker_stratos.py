"""Stratos's client process (`python -m bench.peers.worker_stratos HOME`): one MeshClient for the
whole run, as an application using the SDK holds one, over the mesh's TLS with the home's
identity, with the allocator settings the `stratos` CLI's own process uses. Answers the
operations of `bench.peers.protocol`; concurrent gets are that many tasks on the one client."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bench.peers.protocol import serve
from stratos.common import eventloop
from stratos.common.memory import keep_buffers_in_heap
from stratos.sdk.client import MeshClient
from stratos.sdk.home import Home
from stratos.sdk.meshtls import local_client_tls

REPLICAS = 3


def main(home_dir: str) -> None:
    keep_buffers_in_heap()
    home = Home(Path(home_dir))
    with asyncio.Runner(loop_factory=eventloop.new_loop) as runner:

        async def connect() -> MeshClient:
            credentials = local_client_tls(home).channel_credentials()
            return MeshClient(home.index_addresses(), home.identity(), credentials=credentials)

        client = runner.run(connect())

        def put_file(path: str) -> str:
            return runner.run(client.put(Path(path), replicas=REPLICAS)).capability

        def get_file(key: str, dest: str) -> None:
            runner.run(client.get(key, Path(dest)))

        def put_files(paths: list[str]) -> list[str]:
            return [put_file(p) for p in paths]

        async def gets(keys: list[str], count: int, dest_dir: str, clients: int) -> int:
            todo = iter(range(count))

            async def one_client() -> None:
                for i in todo:  # the clients share the iterator: each get is done once
                    await client.get(keys[i % len(keys)], Path(dest_dir) / str(i))

            await asyncio.gather(*(one_client() for _ in range(clients)))
            return count

        def get_keys(keys: list[str], count: int, dest_dir: str, clients: int) -> int:
            return runner.run(gets(keys, count, dest_dir, clients))

        try:
            serve(
                {
                    "put_file": put_file,
                    "get_file": get_file,
                    "put_files": put_files,
                    "get_keys": get_keys,
                }
            )
        finally:
            runner.run(client.close())


if __name__ == "__main__":
    main(sys.argv[1])

"""Tools fanned out to a pool (POOL_START: fork, spawn, forkserver): every worker's calls
land in the one recording, though `with Pool()` ends the workers with SIGTERM."""

import multiprocessing
import os

import httpx2

url = os.environ["FAKE_SERVER_URL"]


def fetch(path):
    return httpx2.get(url + path).json()["path"]


if __name__ == "__main__":
    with multiprocessing.get_context(os.environ.get("POOL_START", "fork")).Pool(2) as pool:
        print(pool.map(fetch, [f"{os.environ.get('POOL_PATH', '/w')}{i}" for i in range(6)]))

"""Tools fanned out to a pool (POOL_START: fork, spawn, forkserver): every worker's calls
land in the one recording, though `with Pool()` ends the workers with SIGTERM."""

import multiprocessing
import os
import time

import httpx2

url = os.environ["FAKE_SERVER_URL"]


def ready(both_up):
    # No task runs before both workers are up: a spawned worker starts in a fresh
    # interpreter, and the first one up would otherwise take all six tasks.
    both_up.wait(60)


def fetch(path):
    time.sleep(0.05)  # long enough for the other worker to take the next task
    return httpx2.get(url + path).json()["path"]


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("POOL_START", "fork"))
    with context.Pool(2, initializer=ready, initargs=(context.Barrier(2),)) as pool:
        print(pool.map(fetch, [f"{os.environ.get('POOL_PATH', '/w')}{i}" for i in range(6)], chunksize=1))

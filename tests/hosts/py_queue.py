# py_queue.py: a python3 host with real threads (tests/integration/test_realhosts.c).
# Four worker threads take jobs from a queue.Queue and put results on another;
# the main thread feeds 400 jobs, stops the workers with one None each, joins
# them and prints the results in job order: the output is deterministic.
import queue
import threading

jobs = queue.Queue(maxsize=16)
results = queue.Queue()
lock = threading.Lock()
per_worker_total = {"jobs": 0}


def work(n):
    s = 0
    for i in range(2000):
        s = (s + i * n) % 1000003
    return s


def worker():
    while True:
        n = jobs.get()
        if n is None:
            jobs.task_done()
            return
        r = work(n)
        with lock:
            per_worker_total["jobs"] += 1
        results.put((n, r))
        jobs.task_done()


threads = [threading.Thread(target=worker, name=f"w{i}") for i in range(4)]
for t in threads:
    t.start()
for n in range(400):
    jobs.put(n)
for _ in threads:
    jobs.put(None)
jobs.join()
for t in threads:
    t.join()
out = sorted(results.get() for _ in range(results.qsize()))
print("jobs done:", per_worker_total["jobs"], "results:", len(out))
print("checksum:", sum(n * r for n, r in out) % 1000000007)
print("first:", out[:3], "last:", out[-1])

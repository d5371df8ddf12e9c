"""Workload 2 for bench/corpus/snapshot: a python3 process with ~110k dicts and an
in-memory sqlite3 table (with an index) built after reading ~12 MB of stdlib source.
Prints READY on stdout when warm, then idles until killed or orphaned.
Args: [--scale X] (multiplies all sizes)."""
import os
import random
import sqlite3
import sys
import sysconfig
import time

scale = 1.0
if "--scale" in sys.argv:
    scale = float(sys.argv[sys.argv.index("--scale") + 1])
SOURCE_BYTES = int(12 * 1024 * 1024 * scale)
DICTS = int(110000 * scale)

rng = random.Random(1234)
stdlib = sysconfig.get_paths()["stdlib"]

sources = {}
total = 0
for root, dirs, files in os.walk(stdlib):
    dirs.sort()
    dirs[:] = [d for d in dirs if d not in ("site-packages", "__pycache__")]
    for f in sorted(files):
        if not f.endswith(".py"):
            continue
        p = os.path.join(root, f)
        try:
            with open(p, "r", encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError:
            continue
        sources[p] = text
        total += len(text)
        if total >= SOURCE_BYTES:
            break
    if total >= SOURCE_BYTES:
        break

words = []
seen = set()
for text in list(sources.values())[:200]:
    for w in text.split():
        if w.isidentifier() and w not in seen:
            seen.add(w)
            words.append(w)
if not words:
    words = ["alpha", "beta", "gamma"]

records = []
index = {}
for i in range(DICTS):
    d = {
        "id": i,
        "name": rng.choice(words) + "_" + rng.choice(words),
        "module": rng.choice(list(sources.keys())) if i % 97 == 0 else None,
        "score": rng.random() * 1000.0,
        "count": rng.randrange(0, 1 << 20),
        "tags": [rng.choice(words) for _ in range(rng.randrange(0, 4))],
        "meta": {"created": 1577836800 + rng.randrange(0, 10**8), "flag": rng.random() < 0.3},
    }
    records.append(d)
    index.setdefault(d["name"], []).append(i)

db = sqlite3.connect(":memory:")
db.execute("PRAGMA cache_size = -200000")
db.execute("CREATE TABLE lines (id INTEGER PRIMARY KEY, path TEXT, lineno INTEGER, line TEXT, score REAL)")
rows = []
n = 0
for p, text in sources.items():
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip():
            rows.append((n, p, lineno, line, rng.random()))
            n += 1
db.executemany("INSERT INTO lines VALUES (?, ?, ?, ?, ?)", rows)
db.execute("CREATE INDEX lines_line ON lines(line)")
db.execute("CREATE INDEX lines_path ON lines(path, lineno)")
db.commit()
(count,) = db.execute("SELECT count(*) FROM lines WHERE line LIKE '%import%'").fetchone()
del rows

keep = (sources, records, index, db)
sys.stdout.write("READY py-heap dicts=%d sourceMiB=%.1f files=%d sqlrows=%d imports=%d\n"
                 % (len(records), total / 1048576.0, len(sources), n, count))
sys.stdout.flush()

ppid = os.getppid()
started = time.time()
while os.getppid() == ppid and time.time() - started < 3600:
    time.sleep(0.5)

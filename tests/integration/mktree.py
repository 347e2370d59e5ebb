"""mktree.py — writes a tree of random files for the backup and sync tests.

Usage: mktree.py DIR NFILES MAX_KIB [NBIG MIN_MIB MAX_MIB] [SEED]. Files get random sizes
in [0, MAX_KIB] KiB, spread over nested directories; NBIG more files get MIN..MAX MiB.
Contents are random (incompressible); names and sizes are fixed by SEED.
"""
import os
import random
import sys

root = sys.argv[1]
nfiles = int(sys.argv[2])
max_kib = int(sys.argv[3])
nbig = int(sys.argv[4]) if len(sys.argv) > 4 else 0
min_mib = int(sys.argv[5]) if len(sys.argv) > 5 else 2
max_mib = int(sys.argv[6]) if len(sys.argv) > 6 else 5
rng = random.Random(int(sys.argv[7]) if len(sys.argv) > 7 else 1)

dirs = [""]
for i in range(max(1, nfiles // 15)):
    parent = rng.choice(dirs)
    d = os.path.join(parent, "d%02d" % i) if rng.random() < 0.7 else "top%02d" % i
    dirs.append(d)
for d in dirs:
    os.makedirs(os.path.join(root, d), exist_ok=True)

for i in range(nfiles):
    size = rng.randint(0, max_kib * 1024)
    if i % 10 == 0:
        size = rng.choice([0, 1, 4096, 65536])
    path = os.path.join(root, rng.choice(dirs), "f%04d.bin" % i)
    with open(path, "wb") as f:
        f.write(os.urandom(size))
for i in range(nbig):
    size = rng.randint(min_mib * 1024 * 1024, max_mib * 1024 * 1024)
    path = os.path.join(root, rng.choice(dirs), "big%02d.bin" % i)
    with open(path, "wb") as f:
        f.write(os.urandom(size))

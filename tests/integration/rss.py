"""rss.py — samples a process's anonymous resident memory until it exits or is killed.

Usage: rss.py PID OUTFILE [INTERVAL [SANITIZER]]. Every INTERVAL seconds (default 0.2) reads
RssAnon from /proc/PID/status and the anonymous resident memory outside the sanitizer's shadow
regions from /proc/PID/smaps, and rewrites OUTFILE with the peaks so far, in KiB:
"rssanon_peak noshadow_peak samples". SANITIZER is asan (the default) or tsan. The shadow
(ASan: one byte per eight of memory the sanitized code has touched, including mmapped files;
TSan: shadow and meta of every application byte) is an artifact of those builds.
"""
import os
import signal
import sys
import time

# x86_64 shadow regions: ASan [0x7fff8000, 0x10007fff8000); TSan shadow
# [0x010000000000, 0x200000000000) and meta [0x300000000000, 0x340000000000).
SHADOWS = {
    "asan": [(0x7FFF8000, 0x10007FFF8000)],
    "tsan": [(0x010000000000, 0x200000000000), (0x300000000000, 0x340000000000)],
}

pid, out = int(sys.argv[1]), sys.argv[2]
interval = float(sys.argv[3]) if len(sys.argv) > 3 else 0.2
shadows = SHADOWS[sys.argv[4] if len(sys.argv) > 4 else "asan"]
peak_anon = peak_noshadow = samples = 0


def write():
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d %d %d\n" % (peak_anon, peak_noshadow, samples))
    os.replace(tmp, out)


def stop(*_):
    write()
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
write()
while True:
    try:
        with open("/proc/%d/status" % pid) as f:
            anon = next(int(l.split()[1]) for l in f if l.startswith("RssAnon:"))
        noshadow = 0
        in_shadow = False
        with open("/proc/%d/smaps" % pid) as f:
            for line in f:
                c = line[0]
                if ("0" <= c <= "9" or "a" <= c <= "f") and "-" in line.split(" ", 1)[0]:
                    lo, hi = line.split(" ", 1)[0].split("-")
                    in_shadow = any(int(lo, 16) >= a and int(hi, 16) <= b for a, b in shadows)
                elif line.startswith("Anonymous:") and not in_shadow:
                    noshadow += int(line.split()[1])
    except (OSError, StopIteration):
        break
    samples += 1
    peak_anon = max(peak_anon, anon)
    peak_noshadow = max(peak_noshadow, noshadow)
    write()
    time.sleep(interval)
write()

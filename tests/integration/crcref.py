"""crcref.py — the checksums S3 clients send, computed independently of the gateway (pure Python).

Crc(alg): update(data), digest() (raw, big-endian), b64(), copy(); alg one of crc32, crc32c,
crc64nvme, sha1, sha256. Shared by test_checksums.py and ckstream.py.
"""
import base64
import hashlib
import struct
import zlib


def crc_table(poly, width):
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        t.append(c)
    return t


T32C = crc_table(0x82F63B78, 32)
T64 = crc_table(0x9A6C9329AC4BC9B5, 64)


def crc_update(table, mask, state, data):
    """Continues a reflected CRC: state is the register (before the final xor)."""
    for b in data:
        state = table[(state ^ b) & 0xFF] ^ (state >> 8)
    return state & mask


class Crc:
    """An incremental checksum of one algorithm: update(data), digest() (raw bytes, big-endian)."""

    def __init__(self, alg):
        self.alg, self.h = alg, None
        if alg == "crc32":
            self.v = 0
        elif alg == "crc32c":
            self.v = 0xFFFFFFFF
        elif alg == "crc64nvme":
            self.v = 0xFFFFFFFFFFFFFFFF
        else:
            self.h = hashlib.new(alg)

    def update(self, data):
        if self.alg == "crc32":
            self.v = zlib.crc32(data, self.v)
        elif self.alg == "crc32c":
            self.v = crc_update(T32C, 0xFFFFFFFF, self.v, data)
        elif self.alg == "crc64nvme":
            self.v = crc_update(T64, 0xFFFFFFFFFFFFFFFF, self.v, data)
        else:
            self.h.update(data)
        return self

    def copy(self):
        c = Crc(self.alg)
        c.v, c.h = getattr(self, "v", None), self.h.copy() if self.h else None
        return c

    def digest(self):
        if self.alg == "crc32":
            return struct.pack(">I", self.v)
        if self.alg == "crc32c":
            return struct.pack(">I", self.v ^ 0xFFFFFFFF)
        if self.alg == "crc64nvme":
            return struct.pack(">Q", self.v ^ 0xFFFFFFFFFFFFFFFF)
        return self.h.digest()

    def b64(self):
        return base64.b64encode(self.digest()).decode()


# Published check values ("123456789").
assert Crc("crc32c").update(b"123456789").digest().hex() == "e3069283"
assert Crc("crc64nvme").update(b"123456789").digest().hex() == "ae8b14860a799888"

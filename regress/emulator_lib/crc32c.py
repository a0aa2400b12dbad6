"""CRC32C (Castagnoli, RFC 4960 Appendix B) in pure Python, standard library only.

The obvious table-driven loop runs at roughly 20 MB/s on CPython, which would make the
first metadata request on a 500 MB object take half a minute. This module instead splits
a block into K contiguous *lanes* of L bytes and advances all K lane registers at once:

* one lane step is ``reg = T[(reg ^ byte) & 0xff] ^ (reg >> 8)``; with the four bytes of
  every lane register held as four K-byte strings, the table lookup becomes four
  ``bytes.translate`` calls (one per byte of the 32-bit table entry) and the XORs become
  big-integer XORs, all of which run in C over K lanes at a time;
* the lanes are then folded in order, ``reg = shift_L(reg) ^ lane_reg``, where
  ``shift_L`` (feeding L zero bytes through the register) is linear over GF(2) and so is
  itself four 256-entry table lookups.

That gives about 160 MB/s on the project's machines (measured on a 64 MB buffer).
"""

_POLY = 0x82F63B78  # reflected Castagnoli polynomial

_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ (_POLY if _c & 1 else 0)
    _TABLE.append(_c)

# Byte j of every table entry, as translate() tables.
_T0 = bytes(t & 0xFF for t in _TABLE)
_T1 = bytes((t >> 8) & 0xFF for t in _TABLE)
_T2 = bytes((t >> 16) & 0xFF for t in _TABLE)
_T3 = bytes(t >> 24 for t in _TABLE)

_LANE_LEN = 512        # L: bytes per lane
_MAX_LANES = 2048      # K: lanes per block (1 MiB blocks stay in the L2 cache)
_MIN_LANES = 128       # below this the per-call overhead beats the plain loop


def _shift_tables(nbytes):
    """Four 256-entry tables whose XOR advances a register over `nbytes` zero bytes."""
    basis = []
    for bit in range(32):
        reg = 1 << bit
        for _ in range(nbytes):
            reg = _TABLE[reg & 0xFF] ^ (reg >> 8)
        basis.append(reg)
    tables = []
    for k in range(4):
        tab = [0] * 256
        for v in range(1, 256):
            low = v & -v
            tab[v] = tab[v ^ low] ^ basis[8 * k + low.bit_length() - 1]
        tables.append(tab)
    return tables


_S0, _S1, _S2, _S3 = _shift_tables(_LANE_LEN)


def _bytewise(reg, data):
    table = _TABLE
    for b in data:
        reg = table[(reg ^ b) & 0xFF] ^ (reg >> 8)
    return reg


def _lanes(reg, block, lanes):
    """Advance `reg` over `block`, which is exactly lanes * _LANE_LEN bytes."""
    fb = int.from_bytes
    step = _LANE_LEN
    r0 = r1 = r2 = r3 = 0
    for t in range(step):
        idx = (r0 ^ fb(block[t::step], "little")).to_bytes(lanes, "little")
        r0 = r1 ^ fb(idx.translate(_T0), "little")
        r1 = r2 ^ fb(idx.translate(_T1), "little")
        r2 = r3 ^ fb(idx.translate(_T2), "little")
        r3 = fb(idx.translate(_T3), "little")
    b0 = r0.to_bytes(lanes, "little")
    b1 = r1.to_bytes(lanes, "little")
    b2 = r2.to_bytes(lanes, "little")
    b3 = r3.to_bytes(lanes, "little")
    s0, s1, s2, s3 = _S0, _S1, _S2, _S3
    for j in range(lanes):
        reg = (s0[reg & 0xFF] ^ s1[(reg >> 8) & 0xFF] ^ s2[(reg >> 16) & 0xFF]
               ^ s3[reg >> 24] ^ b0[j] ^ (b1[j] << 8) ^ (b2[j] << 16) ^ (b3[j] << 24))
    return reg


def crc32c(data, value=0):
    """CRC32C of `data`, continuing from a previous result `value` (like zlib.crc32)."""
    reg = value ^ 0xFFFFFFFF
    data = memoryview(data).cast("B")
    pos, n = 0, len(data)
    while n - pos >= _MIN_LANES * _LANE_LEN:
        lanes = min(_MAX_LANES, (n - pos) // _LANE_LEN)
        end = pos + lanes * _LANE_LEN
        reg = _lanes(reg, bytes(data[pos:end]), lanes)
        pos = end
    reg = _bytewise(reg, data[pos:])
    return reg ^ 0xFFFFFFFF


# Buffer this much before hashing so that streamed input runs through full-width lanes.
PREFERRED_CHUNK = _MAX_LANES * _LANE_LEN

"""RSA for the fakes, in pure Python (stdlib only).

The fakes must run inside a minimal guest that has python3 and nothing else,
so there is no OpenSSL CLI to shell out to.  Everything here follows RFC 8017
(PKCS #1 v2.2) and is checked against OpenSSL by selftest.py:

  - key generation (Miller-Rabin), PKCS#8 / PKCS#1 / SPKI DER+PEM in and out
  - RSAES-OAEP with SHA-1 (Key Vault "RSA-OAEP") and SHA-256 with MGF1-SHA-256
    ("RSA-OAEP-256"), RSAES-PKCS1-v1_5 ("RSA1_5")
  - RSASSA-PKCS1-v1_5 and RSASSA-PSS signature verification (client
    assertion JWTs sent to the fake AAD endpoint)
  - X.509 certificate parsing just far enough to get the public key

Nothing here is constant time: it is test tooling, never production crypto.
"""

import base64
import hashlib
import math
import os
import secrets

# ---------------------------------------------------------------- base64url


def b64url_encode(data):
    """base64url without padding, as Key Vault writes it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_B64URL_CHARS = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def b64url_decode(text):
    """Decode base64url, padded or not.  Raises ValueError on anything else
    (standard-alphabet '+' '/' included: a client sending those is wrong)."""
    if isinstance(text, str):
        text = text.encode("ascii", "strict")
    body = text.rstrip(b"=")
    if len(text) - len(body) > 2 or any(c not in _B64URL_CHARS for c in body):
        raise ValueError("not base64url")
    if len(body) % 4 == 1:
        raise ValueError("bad base64url length")
    return base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4))


def int_to_bytes(x, length=None):
    if length is None:
        length = max(1, (x.bit_length() + 7) // 8)
    return x.to_bytes(length, "big")


def bytes_to_int(b):
    return int.from_bytes(b, "big")


# ---------------------------------------------------------------- primes

_SMALL_PRIMES = []


def _small_primes():
    if not _SMALL_PRIMES:
        limit = 3000
        sieve = bytearray([1]) * limit
        sieve[0:2] = b"\x00\x00"
        for i in range(2, int(limit ** 0.5) + 1):
            if sieve[i]:
                sieve[i * i::i] = bytearray(len(sieve[i * i::i]))
        _SMALL_PRIMES.extend(i for i in range(3, limit) if sieve[i])
    return _SMALL_PRIMES


def _miller_rabin(n, rounds):
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for _ in range(rounds):
        a = secrets.randbelow(n - 3) + 2
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _gen_prime(bits, e):
    small = _small_primes()
    while True:
        # top two bits set so that p*q has exactly 2*bits bits
        cand = secrets.randbits(bits) | (3 << (bits - 2)) | 1
        if any(cand % p == 0 for p in small):
            continue
        if math.gcd(cand - 1, e) != 1:
            continue
        if _miller_rabin(cand, 8):
            return cand


# ---------------------------------------------------------------- DER


def _der_len(n):
    if n < 0x80:
        return bytes([n])
    b = int_to_bytes(n)
    return bytes([0x80 | len(b)]) + b


def der_tlv(tag, value):
    return bytes([tag]) + _der_len(len(value)) + value


def der_int(x):
    return der_tlv(0x02, x.to_bytes((x.bit_length() + 8) // 8, "big"))


def der_seq(*items):
    return der_tlv(0x30, b"".join(items))


_OID_RSA = bytes.fromhex("06092a864886f70d010101")  # 1.2.840.113549.1.1.1
_RSA_ALGID = der_seq(_OID_RSA, b"\x05\x00")


def der_read(data, pos=0):
    """One TLV at pos -> (tag, value, next_pos)."""
    if pos + 2 > len(data):
        raise ValueError("DER truncated")
    tag = data[pos]
    ln = data[pos + 1]
    pos += 2
    if ln & 0x80:
        nb = ln & 0x7F
        if nb == 0 or nb > 4 or pos + nb > len(data):
            raise ValueError("DER bad length")
        ln = bytes_to_int(data[pos:pos + nb])
        pos += nb
    if pos + ln > len(data):
        raise ValueError("DER truncated")
    return tag, data[pos:pos + ln], pos + ln


def der_children(value):
    out, pos = [], 0
    while pos < len(value):
        tag, val, pos = der_read(value, pos)
        out.append((tag, val))
    return out


def _der_ints(value):
    return [bytes_to_int(v) for t, v in der_children(value) if t == 0x02]


# ---------------------------------------------------------------- PEM


def pem_encode(label, der):
    b = base64.b64encode(der).decode("ascii")
    lines = [b[i:i + 64] for i in range(0, len(b), 64)]
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, "\n".join(lines), label)


def pem_blocks(text):
    """All (label, der) blocks in a PEM text."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    out, label, buf = [], None, []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("-----BEGIN ") and line.endswith("-----"):
            label, buf = line[11:-5], []
        elif line.startswith("-----END ") and label is not None:
            out.append((label, base64.b64decode("".join(buf))))
            label = None
        elif label is not None and line and ":" not in line:
            buf.append(line)
    return out


# ---------------------------------------------------------------- keys


class RsaKey:
    """An RSA key pair (or public key when d is None)."""

    def __init__(self, n, e, d=None, p=None, q=None):
        self.n, self.e, self.d, self.p, self.q = n, e, d, p, q
        self.k = (n.bit_length() + 7) // 8
        if d is not None and p and q:
            self.dp, self.dq = d % (p - 1), d % (q - 1)
            self.qi = pow(q, -1, p)
        else:
            self.dp = self.dq = self.qi = None

    @classmethod
    def generate(cls, bits=2048, e=65537):
        if bits < 1024 or bits % 2:
            raise ValueError("unsupported key size")
        while True:
            p = _gen_prime(bits // 2, e)
            q = _gen_prime(bits // 2, e)
            if p == q:
                continue
            n = p * q
            if n.bit_length() != bits:
                continue
            lam = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)
            d = pow(e, -1, lam)
            return cls(n, e, d, p, q)

    @property
    def bits(self):
        return self.n.bit_length()

    @property
    def has_private(self):
        return self.d is not None

    # ---- import / export

    @classmethod
    def from_pem(cls, text):
        for label, der in pem_blocks(text):
            if label == "PRIVATE KEY":
                return cls.from_pkcs8_der(der)
            if label == "RSA PRIVATE KEY":
                return cls.from_pkcs1_der(der)
            if label == "PUBLIC KEY":
                return cls.from_spki_der(der)
            if label == "RSA PUBLIC KEY":
                n, e = _der_ints(der_read(der)[1])[:2]
                return cls(n, e)
            if label == "CERTIFICATE":
                return cls.from_cert_der(der)
        raise ValueError("no RSA key in PEM")

    @classmethod
    def from_pkcs1_der(cls, der):
        ints = _der_ints(der_read(der)[1])
        if len(ints) < 9:
            raise ValueError("not an RSAPrivateKey")
        _, n, e, d, p, q = ints[:6]
        return cls(n, e, d, p, q)

    @classmethod
    def from_pkcs8_der(cls, der):
        kids = der_children(der_read(der)[1])
        if len(kids) < 3 or kids[1][0] != 0x30 or kids[2][0] != 0x04:
            raise ValueError("not a PKCS#8 key")
        if _OID_RSA not in kids[1][1]:
            raise ValueError("PKCS#8 key is not RSA")
        return cls.from_pkcs1_der(kids[2][1])

    @classmethod
    def from_spki_der(cls, der):
        kids = der_children(der_read(der)[1])
        if len(kids) != 2 or kids[1][0] != 0x03 or _OID_RSA not in kids[0][1]:
            raise ValueError("not an RSA SubjectPublicKeyInfo")
        n, e = _der_ints(der_read(kids[1][1][1:])[1])[:2]
        return cls(n, e)

    @classmethod
    def from_cert_der(cls, der):
        cert = der_children(der_read(der)[1])
        tbs = der_children(cert[0][1])
        i = 1 if tbs[0][0] == 0xA0 else 0  # explicit [0] version
        spki_tag, spki = tbs[i + 5]
        return cls.from_spki_der(der_tlv(spki_tag, spki))

    @classmethod
    def from_jwk(cls, jwk):
        def num(name):
            v = jwk.get(name)
            return bytes_to_int(b64url_decode(v)) if v else None
        n, e = num("n"), num("e")
        if not n or not e:
            raise ValueError("JWK lacks n/e")
        return cls(n, e, num("d"), num("p"), num("q"))

    def pkcs1_der(self):
        return der_seq(der_int(0), der_int(self.n), der_int(self.e), der_int(self.d),
                       der_int(self.p), der_int(self.q), der_int(self.dp),
                       der_int(self.dq), der_int(self.qi))

    def private_pem(self):
        """PKCS#8 "PRIVATE KEY" PEM (what `openssl genpkey` writes)."""
        if not (self.has_private and self.p):
            raise ValueError("no private key")
        der = der_seq(der_int(0), _RSA_ALGID, der_tlv(0x04, self.pkcs1_der()))
        return pem_encode("PRIVATE KEY", der)

    def spki_der(self):
        pub = der_seq(der_int(self.n), der_int(self.e))
        return der_seq(_RSA_ALGID, der_tlv(0x03, b"\x00" + pub))

    def public_pem(self):
        return pem_encode("PUBLIC KEY", self.spki_der())

    def jwk_public(self):
        return {"n": b64url_encode(int_to_bytes(self.n)), "e": b64url_encode(int_to_bytes(self.e))}

    # ---- primitives

    def _encrypt_int(self, m):
        return pow(m, self.e, self.n)

    def _decrypt_int(self, c):
        if not self.has_private:
            raise ValueError("public key only")
        if self.p and self.q:
            m1 = pow(c, self.dp, self.p)
            m2 = pow(c, self.dq, self.q)
            h = (self.qi * (m1 - m2)) % self.p
            return m2 + h * self.q
        return pow(c, self.d, self.n)

    # ---- encryption schemes (Key Vault algorithm names)

    def encrypt(self, alg, msg):
        if alg == "RSA1_5":
            em = _pkcs1v15_pad(msg, self.k)
        elif alg in OAEP_HASHES:
            em = _oaep_pad(msg, self.k, OAEP_HASHES[alg])
        else:
            raise ValueError("unsupported algorithm")
        return int_to_bytes(self._encrypt_int(bytes_to_int(em)), self.k)

    def decrypt(self, alg, ct):
        if alg not in OAEP_HASHES and alg != "RSA1_5":
            raise ValueError("unsupported algorithm")
        if len(ct) > self.k or len(ct) == 0:
            raise DecryptError("ciphertext length does not match the key")
        c = bytes_to_int(ct)
        if c >= self.n:
            raise DecryptError("ciphertext out of range")
        em = int_to_bytes(self._decrypt_int(c), self.k)
        if alg == "RSA1_5":
            return _pkcs1v15_unpad(em)
        return _oaep_unpad(em, OAEP_HASHES[alg])

    # ---- signature verification (for client assertions)

    def verify(self, alg, data, sig):
        """RS256/RS384/RS512 and PS256/PS384/PS512 over data."""
        hname = {"256": "sha256", "384": "sha384", "512": "sha512"}.get(alg[2:])
        if not hname or alg[:2] not in ("RS", "PS") or len(sig) != self.k:
            return False
        s = bytes_to_int(sig)
        if s >= self.n:
            return False
        em_int = self._encrypt_int(s)
        digest = hashlib.new(hname, data).digest()
        if alg[:2] == "RS":
            return int_to_bytes(em_int, self.k) == _emsa_pkcs1v15(digest, hname, self.k)
        return _pss_verify(digest, em_int, self.n.bit_length() - 1, hname)


class DecryptError(ValueError):
    pass


OAEP_HASHES = {"RSA-OAEP": "sha1", "RSA-OAEP-256": "sha256"}


def _mgf1(seed, length, hname):
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.new(hname, seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return out[:length]


def _xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def _oaep_pad(msg, k, hname):
    hlen = hashlib.new(hname).digest_size
    if len(msg) > k - 2 * hlen - 2:
        raise ValueError("message too long for RSA-OAEP with this key")
    lhash = hashlib.new(hname, b"").digest()
    db = lhash + b"\x00" * (k - len(msg) - 2 * hlen - 2) + b"\x01" + msg
    seed = os.urandom(hlen)
    masked_db = _xor(db, _mgf1(seed, k - hlen - 1, hname))
    masked_seed = _xor(seed, _mgf1(masked_db, hlen, hname))
    return b"\x00" + masked_seed + masked_db


def _oaep_unpad(em, hname):
    hlen = hashlib.new(hname).digest_size
    k = len(em)
    if k < 2 * hlen + 2:
        raise DecryptError("decryption error")
    masked_seed, masked_db = em[1:1 + hlen], em[1 + hlen:]
    seed = _xor(masked_seed, _mgf1(masked_db, hlen, hname))
    db = _xor(masked_db, _mgf1(seed, k - hlen - 1, hname))
    lhash = hashlib.new(hname, b"").digest()
    rest = db[hlen:].lstrip(b"\x00")
    if em[0] != 0 or db[:hlen] != lhash or not rest or rest[0] != 1:
        raise DecryptError("decryption error")
    return rest[1:]


def _pkcs1v15_pad(msg, k):
    if len(msg) > k - 11:
        raise ValueError("message too long for RSA1_5 with this key")
    ps = bytearray()
    while len(ps) < k - len(msg) - 3:
        ps.extend(b for b in os.urandom(k) if b)
    return b"\x00\x02" + bytes(ps[:k - len(msg) - 3]) + b"\x00" + msg


def _pkcs1v15_unpad(em):
    if em[0] != 0 or em[1] != 2:
        raise DecryptError("decryption error")
    sep = em.find(b"\x00", 2)
    if sep < 10:
        raise DecryptError("decryption error")
    return em[sep + 1:]


_DIGEST_INFO = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}


def _emsa_pkcs1v15(digest, hname, k):
    t = _DIGEST_INFO[hname] + digest
    return b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t


def _pss_verify(digest, em_int, em_bits, hname):
    hlen = hashlib.new(hname).digest_size
    em_len = (em_bits + 7) // 8
    if em_int.bit_length() > em_bits:
        return False
    em = int_to_bytes(em_int, em_len)
    if em[-1] != 0xBC or em_len < hlen + 2:
        return False
    masked_db, h = em[:em_len - hlen - 1], em[em_len - hlen - 1:-1]
    db = bytearray(_xor(masked_db, _mgf1(h, len(masked_db), hname)))
    db[0] &= 0xFF >> (8 * em_len - em_bits)
    stripped = bytes(db).lstrip(b"\x00")
    if not stripped or stripped[0] != 1:
        return False
    salt = stripped[1:]
    return hashlib.new(hname, b"\x00" * 8 + digest + salt).digest() == h


def cert_thumbprints(pem_text):
    """(sha1, sha256) of the first certificate's DER, for x5t / x5t#S256."""
    for label, der in pem_blocks(pem_text):
        if label == "CERTIFICATE":
            return hashlib.sha1(der).digest(), hashlib.sha256(der).digest()
    raise ValueError("no certificate in PEM")

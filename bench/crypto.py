"""Crypto suite benchmark: signatures, verification and authenticated encryption, per suite, with a
plain digest of the same bytes as the baseline in the same run.

    python bench/crypto.py [--seconds 1.0] [--payload-mb 1]

Signatures are over a 1 KiB message (an envelope signs a batch digest, not the batch). seal/open are
the symmetric AEAD on the payload; seal_for/open_sealed add the per-message key wrapping (SM2 or
X25519). Throughputs are MB/s of payload (10⁶ bytes). Ends with one line per suite:

    RESULT crypto suite=… sign_per_s=… verify_per_s=… [verify_new_key_per_s=…] seal_mb_s=… open_mb_s=…
           seal_for_mb_s=… digest_mb_s=…

"verify" is a key verified before (the usual case: peers and banks sign many messages); for SM2 a
key's first verification is slower (no per-key table yet) and reported as verify_new_key.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

from xinyidai.kit.crypto import get_suite, sm2


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of `fn`, run for at least `seconds` (and at least 3 calls)."""
    fn()  # warm-up: lazy tables, caches
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and n >= 3:
            return n / elapsed


def bench_suite(name: str, seconds: float, payload: bytes) -> dict[str, float]:
    suite = get_suite(name)
    t = time.perf_counter()
    identity = suite.generate_identity()
    first_keygen = time.perf_counter() - t  # includes building the SM2 fixed-base table once
    bundle = identity.public_bundle()
    message = os.urandom(1024)
    sig = suite.sign(identity, message)
    key = suite.new_key()
    sealed = suite.seal(key, payload, b"aad")
    sealed_for = suite.seal_for(bundle, payload, b"aad")
    mb = len(payload) / 1e6
    out: dict[str, float] = {}
    if name == "sm":
        # A key seen for the first time (wNAF, no comb table yet): a fresh PublicKey per call.
        public = sm2.PublicKey.from_hex(bundle["sign"])
        out["verify_first_use_per_s"] = rate(
            lambda: sm2.verify(sm2.PublicKey(public.x, public.y), message, sm2.Signature.from_der(sig)), seconds
        )
    out |= {
        "keygen_per_s": rate(suite.generate_identity, seconds),
        "sign_per_s": rate(lambda: suite.sign(identity, message), seconds),
        "verify_per_s": rate(lambda: suite.verify(bundle, message, sig), seconds),
        "seal_mb_s": mb * rate(lambda: suite.seal(key, payload, b"aad"), seconds),
        "open_mb_s": mb * rate(lambda: suite.open_(key, sealed, b"aad"), seconds),
        "seal_for_mb_s": mb * rate(lambda: suite.seal_for(bundle, payload, b"aad"), seconds),
        "open_sealed_mb_s": mb * rate(lambda: suite.open_sealed(identity, sealed_for, b"aad"), seconds),
        "digest_mb_s": mb * rate(lambda: suite.digest(payload), seconds),
        "small_seal_for_per_s": rate(lambda: suite.seal_for(bundle, message, b"aad"), seconds),
        "first_keygen_s": first_keygen,
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    parser.add_argument("--payload-mb", type=float, default=1.0, help="AEAD payload size, MiB")
    args = parser.parse_args()
    payload = os.urandom(int(args.payload_mb * 1024 * 1024))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {load:.2f} at start (other work on the machine skews every figure); "
          f"payload {len(payload)} bytes, {args.seconds:.1f} s per figure")

    results = {name: bench_suite(name, args.seconds, payload) for name in ("sm", "intl")}

    labels = {"sm": "sm   (SM2 / SM3 / SM4-GCM)", "intl": "intl (Ed25519 / SHA-256 / AES-256-GCM)"}
    for name, r in results.items():
        print(f"\n{labels[name]}")
        print(f"  keygen        {r['keygen_per_s']:10.0f} /s   (first, with lazy setup: {r['first_keygen_s']:.3f} s)")
        print(f"  sign          {r['sign_per_s']:10.0f} /s")
        print(f"  verify        {r['verify_per_s']:10.0f} /s   (a key verified before: the usual case)")
        if "verify_first_use_per_s" in r:
            print(f"  verify, new key{r['verify_first_use_per_s']:9.0f} /s   (first signature seen from a key)")
        print(f"  seal_for 1 KiB{r['small_seal_for_per_s']:10.0f} /s   (key wrapping cost per message)")
        print(f"  seal          {r['seal_mb_s']:10.1f} MB/s")
        print(f"  open          {r['open_mb_s']:10.1f} MB/s")
        print(f"  seal_for      {r['seal_for_mb_s']:10.1f} MB/s")
        print(f"  open_sealed   {r['open_sealed_mb_s']:10.1f} MB/s")
        print(f"  digest (baseline) {r['digest_mb_s']:6.1f} MB/s   seal/digest = {r['seal_mb_s'] / r['digest_mb_s']:.2f}")

    sm, intl = results["sm"], results["intl"]
    print("\nsm relative to intl: "
          f"sign {sm['sign_per_s'] / intl['sign_per_s']:.3f}×, verify {sm['verify_per_s'] / intl['verify_per_s']:.3f}×, "
          f"seal {sm['seal_mb_s'] / intl['seal_mb_s']:.3f}×, digest {sm['digest_mb_s'] / intl['digest_mb_s']:.3f}×")
    # Targets for the pure-Python SM2 on a small server: sign ≥ 400/s, verify ≥ 150/s.
    worst_verify = min(sm["verify_per_s"], sm["verify_first_use_per_s"])
    ok = sm["sign_per_s"] >= 400 and worst_verify >= 150
    print(f"SM2 targets (sign ≥ 400/s, verify ≥ 150/s even for a new key): {'met' if ok else 'NOT met'}")

    for name, r in results.items():
        first = f"verify_new_key_per_s={r['verify_first_use_per_s']:.0f} " if "verify_first_use_per_s" in r else ""
        print(f"RESULT crypto suite={name} sign_per_s={r['sign_per_s']:.0f} verify_per_s={r['verify_per_s']:.0f} "
              f"{first}seal_mb_s={r['seal_mb_s']:.1f} open_mb_s={r['open_mb_s']:.1f} "
              f"seal_for_mb_s={r['seal_for_mb_s']:.1f} digest_mb_s={r['digest_mb_s']:.1f}")


if __name__ == "__main__":
    main()

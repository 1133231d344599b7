"""Character tokenizer speed: encode and decode a 1M-character text (best of ``--repeats``).

    python bench/tokenize_speed.py [--chars 1000000] [--repeats 5]

Prints seconds and characters per second; never asserts (timings depend on the machine). The
goal the test suite used to assert: encode 1M characters in under 1 s.
"""

from __future__ import annotations

import argparse
import time

from core.tokenize import char_tokenizer

TEXT = (
    "The quick brown fox jumps over the lazy dog.\n"
    "Über café naïve — déjà vu, 日本語 text.\n\tTabs and  double  spaces.\n"
)


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    text = (TEXT * (args.chars // len(TEXT) + 1))[: args.chars]
    tok = char_tokenizer({}, [text])
    ids = tok.encode(text)
    assert tok.decode(ids) == text  # a sanity check of what is timed, not of its speed
    encode = best_of(args.repeats, lambda: tok.encode(text))
    decode = best_of(args.repeats, lambda: tok.decode(ids))
    print(f"char encode {len(text):,} chars: {encode:.3f} s ({len(text) / encode / 1e6:.1f} M chars/s; goal < 1 s)")
    print(f"char decode {len(ids):,} ids:   {decode:.3f} s ({len(ids) / decode / 1e6:.1f} M ids/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

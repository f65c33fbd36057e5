//! A small deterministic mutator for the stable smoke test: what libFuzzer does
//! in spirit (bit flips, truncation, splicing, duplicated chunks, invalid UTF-8,
//! JSON-breaking tokens), from a seeded PRNG so every CI run tries the same
//! inputs and a failure names a reproducible case.

/// SplitMix64: tiny, seedable, good enough to pick mutations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        usize::try_from(self.next_u64() % (n as u64)).unwrap_or(0)
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Byte strings that break parsers: invalid UTF-8, lone surrogates, JSON and
/// SSE structure, huge and negative numbers.
const TOKENS: &[&[u8]] = &[
    b"\xff",
    b"\xc3",
    b"\xe2\x82",
    b"\xf0\x9f\x98",
    b"\xed\xa0\x80",
    b"\x00",
    b"\"",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"\\udc00\\ud800",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"null",
    b"true",
    b"[]",
    b"{}",
    b"\"\"",
    b"-1",
    b"0",
    b"4294967296",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"1e999",
    b"-0.0e-400",
    b"\n",
    b"\r\n",
    b"\n\n",
    b"\r\r",
    b"data: ",
    b"data: [DONE]\n\n",
    b"event: error\n",
    b": keep-alive\n\n",
    b"\xe9",
    b"\xf0\x9f\x98\x80",
];

/// Mutate `data` once or a few times; `others` are splice donors.
pub fn mutate(rng: &mut Rng, data: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut out = data.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = out.len();
        match rng.below(11) {
            // Flip a bit (often in the leading parameter bytes).
            0 => {
                if len > 0 {
                    let at = if rng.chance(4) {
                        rng.below(len.min(4))
                    } else {
                        rng.below(len)
                    };
                    out[at] ^= 1 << rng.below(8);
                }
            }
            // Set a byte to an arbitrary value.
            1 => {
                if len > 0 {
                    let at = rng.below(len);
                    out[at] = u8::try_from(rng.below(256)).unwrap_or(0);
                }
            }
            // Truncate.
            2 => {
                let keep = rng.below(len + 1);
                out.truncate(keep);
            }
            // Delete a range.
            3 => {
                if len > 0 {
                    let a = rng.below(len);
                    let b = (a + 1 + rng.below(32)).min(len);
                    out.drain(a..b);
                }
            }
            // Duplicate a chunk in place.
            4 => {
                if len > 0 {
                    let a = rng.below(len);
                    let b = (a + 1 + rng.below(128)).min(len);
                    let chunk = out[a..b].to_vec();
                    let at = rng.below(len + 1);
                    out.splice(at..at, chunk);
                }
            }
            // Splice: our head, another seed's tail.
            5 => {
                if !others.is_empty() {
                    let other = &others[rng.below(others.len())];
                    let cut = rng.below(len + 1);
                    let from = rng.below(other.len() + 1);
                    out.truncate(cut);
                    out.extend_from_slice(&other[from..]);
                }
            }
            // Insert a token.
            6 | 7 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                let at = rng.below(len + 1);
                out.splice(at..at, token.iter().copied());
            }
            // Overwrite with a token.
            8 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                let at = rng.below(len + 1);
                let end = (at + token.len()).min(len);
                out.splice(at..end, token.iter().copied());
            }
            // Swap two bytes.
            9 => {
                if len > 1 {
                    let (a, b) = (rng.below(len), rng.below(len));
                    out.swap(a, b);
                }
            }
            // Repeat the whole input's tail (deep nesting, long strings).
            _ => {
                if len > 0 {
                    let a = rng.below(len);
                    let chunk = out[a..(a + 1 + rng.below(8)).min(len)].to_vec();
                    let times = 1 + rng.below(64);
                    let at = rng.below(len + 1);
                    let rep: Vec<u8> = chunk
                        .iter()
                        .copied()
                        .cycle()
                        .take(chunk.len() * times)
                        .collect();
                    out.splice(at..at, rep);
                }
            }
        }
    }
    out
}

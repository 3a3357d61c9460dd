//! A seeded generator for test data (splitmix64): the same seed gives the same bytes on every
//! machine, so a failure reproduces.

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0u8; n];
        self.fill(&mut buf);
        buf
    }

    /// Text that compresses like a log file.
    pub fn log_lines(&mut self, n: usize) -> Vec<u8> {
        const WORDS: [&str; 12] = [
            "GET",
            "POST",
            "/api/v1/items",
            "200",
            "404",
            "user=alice",
            "user=bob",
            "took",
            "ms",
            "cache",
            "miss",
            "hit",
        ];
        let mut out = Vec::with_capacity(n);
        let mut line = 0u64;
        while out.len() < n {
            line += 1;
            out.extend_from_slice(
                format!(
                    "2026-11-22T10:{:02}:{:02}Z line {line}",
                    line / 60 % 60,
                    line % 60
                )
                .as_bytes(),
            );
            for _ in 0..6 {
                out.push(b' ');
                out.extend_from_slice(WORDS[self.below(WORDS.len() as u64) as usize].as_bytes());
            }
            out.push(b'\n');
        }
        out.truncate(n);
        out
    }
}

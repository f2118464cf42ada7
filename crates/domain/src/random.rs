//! Randomness, injected so tests are deterministic and production uses the
//! platform's CSPRNG (WASI `random` inside components).

/// A source of random bytes.
pub trait Random {
    /// Fills `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]);
}

/// The operating system's (or WASI host's) cryptographically secure generator.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRandom;

impl Random for SystemRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        // A platform without randomness cannot issue secrets safely: stop.
        getrandom::fill(buf).expect("the platform's random source is unavailable");
    }
}

/// Deterministic generators for tests.
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    use super::Random;

    /// A small deterministic generator (splitmix64): reproducible, not secure.
    #[derive(Debug, Clone)]
    pub struct SeededRandom(u64);

    impl SeededRandom {
        /// A generator starting from `seed`.
        pub fn new(seed: u64) -> Self {
            Self(seed)
        }
    }

    impl Random for SeededRandom {
        fn fill(&mut self, buf: &mut [u8]) {
            for chunk in buf.chunks_mut(8) {
                self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = self.0;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^= z >> 31;
                chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
            }
        }
    }
}

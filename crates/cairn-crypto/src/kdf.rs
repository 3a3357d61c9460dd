//! Password-based key derivation: scrypt, as restic uses it for key files (`crypto.KDF`,
//! `crypto.Calibrate`).
//!
//! `scrypt(password, salt, N, r, p)` gives 64 bytes, split 32 / 16 / 16 into an AES-256 key, a
//! MAC k and a MAC r: a key of the same shape as the master key, which seals the master key
//! inside the key file's `data`.
//!
//! Invariants:
//! - Parameters read from a key file are untrusted: [`KdfParams::validate`] runs before any
//!   memory is allocated, and caps memory at [`MEMORY_BYTES_MAX`] and total work at
//!   [`WORK_BYTES_MAX`], so a hostile or corrupt key file cannot make us allocate gigabytes or
//!   spin for hours. The caps are far above anything restic's calibration produces (32 MiB,
//!   about 0.5 s).
//! - The 64 derived bytes live in a zeroized buffer. (The scrypt crate's internal scratch memory
//!   is not wiped; neither is Go's.)

use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::random::random_bytes;
use crate::{CryptoError, MasterKey};

/// Salt length restic uses for new keys (and requires when opening one).
pub const SALT_LEN: usize = 64;

/// Most memory a key file may ask scrypt for: `128·r·(N + p)` bytes. restic's calibration stays
/// under 60 MiB (it picks N = 2^15, r = 8: 32 MiB); 8 times that leaves room for keys made by
/// other tools on bigger machines while keeping a hostile file from exhausting a small one.
pub const MEMORY_BYTES_MAX: u64 = 256 << 20;

/// Most total mixing work a key file may ask for: `128·r·N·p` bytes run through the mixer.
/// restic's calibration targets 0.5 s; this allows about a thousand of its 32 MiB passes (around a
/// minute), bounding how long a hostile key file can keep a password prompt busy.
pub const WORK_BYTES_MAX: u64 = 32 << 30;

/// How long a new key's derivation should take, as restic (`KDFTimeout`).
const CALIBRATION_TARGET: Duration = Duration::from_millis(500);

/// Memory budget for a new key's derivation, as restic (`KDFMemory`, 60 MiB).
const CALIBRATION_MEMORY_BYTES: u64 = 60 << 20;

/// Smallest N calibration goes down to on a slow machine: simple-scrypt's and restic's default
/// N (2^14), which restic also falls back to when calibration fails.
const CALIBRATION_N_MIN: u64 = 1 << 14;

/// scrypt's block size factor for new keys: fixed at 8 as in simple-scrypt (it tracks the CPU
/// cache line, not the desired cost).
const CALIBRATION_R: u32 = 8;

/// scrypt parameters as a key file stores them (`N`, `r`, `p`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// CPU/memory cost; a power of two greater than 1.
    pub n: u64,
    /// Block size factor; at least 1.
    pub r: u32,
    /// Parallelisation factor (run sequentially, so it scales time, not memory); at least 1.
    pub p: u32,
}

impl KdfParams {
    /// Checks that scrypt accepts these parameters and that they are within the memory and work
    /// caps of this crate; the error says which limit and by how much.
    pub fn validate(&self) -> Result<(), CryptoError> {
        let KdfParams { n, r, p } = *self;
        let invalid = |reason: String| Err(CryptoError::InvalidKdfParams { reason });
        if n < 2 || !n.is_power_of_two() {
            return invalid(format!("N = {n} is not a power of two greater than 1"));
        }
        if r == 0 || p == 0 {
            return invalid(format!("r = {r} and p = {p} must both be at least 1"));
        }
        // scrypt's own bound (RFC 7914: p ≤ (2^32 − 1)·32 / (128·r), checked as r·p < 2^30).
        if u64::from(r) * u64::from(p) >= 1 << 30 {
            return invalid(format!(
                "r·p = {} is not below 2^30 as scrypt requires",
                u64::from(r) * u64::from(p)
            ));
        }
        // u128 arithmetic: with N up to 2^63 and r up to 2^32 nothing here can overflow.
        let r128 = 128 * u128::from(r);
        let memory_bytes = r128 * (u128::from(n) + u128::from(p));
        if memory_bytes > u128::from(MEMORY_BYTES_MAX) {
            return invalid(format!(
                "N = {n}, r = {r}, p = {p} need {} of memory, more than the {} cairn allows a key file (restic's own keys need about 32 MiB); the key file is corrupt or hostile",
                describe_bytes(memory_bytes),
                describe_bytes(u128::from(MEMORY_BYTES_MAX))
            ));
        }
        let work_bytes = r128 * u128::from(n) * u128::from(p);
        if work_bytes > u128::from(WORK_BYTES_MAX) {
            return invalid(format!(
                "N = {n}, r = {r}, p = {p} mean mixing {} of memory, more than the {} cairn allows a key file (restic's own keys take about half a second); the key file is corrupt or hostile",
                describe_bytes(work_bytes),
                describe_bytes(u128::from(WORK_BYTES_MAX))
            ));
        }
        // RFC 7914 requires N < 2^(128·r/8). Go does not check it, the scrypt crate does; it only
        // matters for r = 1 and N ≥ 2^16, which restic never writes (it always uses r = 8).
        if u64::from(n.trailing_zeros()) >= 16 * u64::from(r) {
            return invalid(format!(
                "N = {n} is not below 2^(16·r) = 2^{} as scrypt requires",
                16 * u64::from(r)
            ));
        }
        Ok(())
    }

    /// log2(N), for the scrypt crate. Only meaningful after `validate`.
    fn log_n(&self) -> u8 {
        // N ≤ 2^63, so this fits.
        self.n.trailing_zeros() as u8
    }
}

fn describe_bytes(bytes: u128) -> String {
    const MIB: u128 = 1 << 20;
    const GIB: u128 = 1 << 30;
    if bytes >= GIB {
        format!("{:.1} GiB", bytes as f64 / GIB as f64)
    } else {
        format!("{} MiB", bytes.div_ceil(MIB))
    }
}

/// scrypt(password, salt, N, r, p) split into a key that seals and opens the master key inside a
/// key file's `data`. Errors when the parameters fail [`KdfParams::validate`].
///
/// The salt is taken as given (restic writes and requires [`SALT_LEN`] bytes; scrypt itself
/// accepts any length).
pub fn derive_key(
    password: &[u8],
    salt: &[u8],
    params: KdfParams,
) -> Result<MasterKey, CryptoError> {
    params.validate()?;
    let scrypt_params = scrypt::Params::new(params.log_n(), params.r, params.p).map_err(|_| {
        CryptoError::InvalidKdfParams {
            reason: format!(
                "scrypt refuses N = {}, r = {}, p = {}",
                params.n, params.r, params.p
            ),
        }
    })?;
    let mut derived = Zeroizing::new([0u8; 64]);
    // scrypt's p lanes are independent and run on several threads, each with its own N·128·r
    // bytes. The thread count is bounded so that parallel lanes never need more memory than
    // the cap a single lane is validated against: a hostile key file asking for many lanes
    // gets at most that much memory, whatever the number of cores.
    let lane_bytes = 128 * u64::from(params.r) * params.n;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let threads = cores
        .min(u64::from(params.p))
        .min((MEMORY_BYTES_MAX / lane_bytes.max(1)).max(1))
        .max(1) as usize;
    let run = || {
        scrypt::scrypt(password, salt, &scrypt_params, &mut derived[..])
            .expect("64 bytes is a valid scrypt output length")
    };
    match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(run),
        // No threads to be had: run the lanes on this one.
        Err(_) => rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .use_current_thread()
            .build()
            .expect("a pool on the current thread")
            .install(run),
    }
    let mut encrypt = Zeroizing::new([0u8; 32]);
    let mut mac_k = Zeroizing::new([0u8; 16]);
    let mut mac_r = Zeroizing::new([0u8; 16]);
    encrypt.copy_from_slice(&derived[..32]);
    mac_k.copy_from_slice(&derived[32..48]);
    mac_r.copy_from_slice(&derived[48..]);
    Ok(MasterKey::from_parts(*encrypt, *mac_k, *mac_r))
}

/// Parameters for a new key, calibrated on this machine like restic's: as much memory as fits in
/// 60 MiB (N = 2^15 with r = 8), then p raised until one derivation takes about 500 ms.
///
/// Takes a second or two: it runs scrypt several times to measure.
pub fn calibrate_kdf() -> KdfParams {
    let salt = random_bytes::<SALT_LEN>();
    calibrate(CALIBRATION_TARGET, CALIBRATION_MEMORY_BYTES, |params| {
        let start = Instant::now();
        derive_key(b"weakpassword", &salt, params)
            .expect("calibration only tries valid parameters");
        start.elapsed()
    })
}

/// simple-scrypt's `Calibrate`, with `measure` timing one derivation (a parameter so tests can
/// use a model of the machine instead of the clock). Differences from simple-scrypt, each to
/// keep the result safe and valid: N never drops below [`CALIBRATION_N_MIN`], p always shrinks
/// when it must (simple-scrypt can loop on the same p), and p stays within [`WORK_BYTES_MAX`].
fn calibrate(
    target: Duration,
    memory_bytes: u64,
    mut measure: impl FnMut(KdfParams) -> Duration,
) -> KdfParams {
    let r = CALIBRATION_R;
    let block_bytes = 128 * u64::from(r);
    // The largest power of two whose 128·r·N stays below the memory budget.
    let mut n: u64 = 1;
    while block_bytes * n < memory_bytes {
        n <<= 1;
    }
    n = (n >> 1).max(CALIBRATION_N_MIN);

    let mut elapsed = measure(KdfParams { n, r, p: 1 });
    while elapsed > target && n > CALIBRATION_N_MIN {
        n >>= 1;
        elapsed = measure(KdfParams { n, r, p: 1 });
    }

    // p is run sequentially, so time grows linearly with it: scale from the p = 1 run.
    let p_max = u32::try_from(WORK_BYTES_MAX / (block_bytes * n))
        .unwrap_or(u32::MAX)
        .max(1);
    let mut p = ratio(target, elapsed).clamp(1, p_max);
    if p > 1 {
        elapsed = measure(KdfParams { n, r, p });
        // Load on the machine can make the run with the scaled p slower than predicted.
        while elapsed > target && p > 1 {
            let per_pass = elapsed / p;
            p = ratio(target, per_pass).clamp(1, p - 1);
            elapsed = measure(KdfParams { n, r, p });
        }
    }
    KdfParams { n, r, p }
}

/// ⌊numerator / denominator⌋ as a u32, saturating; a zero denominator counts as 1 ns.
fn ratio(numerator: Duration, denominator: Duration) -> u32 {
    let quotient = numerator.as_nanos() / denominator.as_nanos().max(1);
    u32::try_from(quotient).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(n: u64, r: u32, p: u32) -> KdfParams {
        KdfParams { n, r, p }
    }

    #[test]
    fn validate_accepts_what_restic_writes() {
        for p in [1, 2, 7, 50] {
            params(32768, 8, p).validate().unwrap();
        }
        params(16384, 8, 1).validate().unwrap();
        params(2, 1, 1).validate().unwrap();
        // 128 MiB: within the cap, for keys made on bigger machines by other tools.
        params(1 << 17, 8, 1).validate().unwrap();
    }

    #[test]
    fn validate_rejects_bad_shapes() {
        for (bad, needle) in [
            (params(0, 8, 1), "power of two"),
            (params(1, 8, 1), "power of two"),
            (params(3, 8, 1), "power of two"),
            (params(32767, 8, 1), "power of two"),
            (params(32768, 0, 1), "at least 1"),
            (params(32768, 8, 0), "at least 1"),
            (params(2, 1 << 15, 1 << 15), "2^30"),
            (params(1 << 16, 1, 1), "2^(16·r)"),
        ] {
            let message = bad.validate().unwrap_err().to_string();
            assert!(message.contains(needle), "{bad:?}: {message}");
        }
    }

    #[test]
    fn validate_caps_memory_and_work_and_says_so() {
        let huge_n = params(1 << 30, 8, 1).validate().unwrap_err().to_string();
        assert!(
            huge_n.contains("1024.0 GiB of memory") && huge_n.contains("256 MiB"),
            "{huge_n}"
        );
        let huge_r = params(1024, 1 << 20, 1).validate().unwrap_err().to_string();
        assert!(huge_r.contains("of memory"), "{huge_r}");
        // p costs memory too: scrypt keeps p blocks of 128·r bytes.
        let huge_p = params(2, 1, (1 << 30) - 1)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(huge_p.contains("of memory"), "{huge_p}");
        let long = params(32768, 8, 5000).validate().unwrap_err().to_string();
        assert!(
            long.contains("mixing") && long.contains("32.0 GiB"),
            "{long}"
        );
        assert!(params(1 << 62, 8, 1).validate().is_err());
        assert!(params(1 << 63, u32::MAX, u32::MAX).validate().is_err());
    }

    #[test]
    fn derive_key_matches_rfc7914_vector() {
        // RFC 7914 §12, scrypt("password", "NaCl", N = 1024, r = 8, p = 16), 64 bytes: the split
        // must be 32 / 16 / 16 in that order.
        let key = derive_key(b"password", b"NaCl", params(1024, 8, 16)).unwrap();
        let expected: [u8; 64] = [
            0xfd, 0xba, 0xbe, 0x1c, 0x9d, 0x34, 0x72, 0x00, 0x78, 0x56, 0xe7, 0x19, 0x0d, 0x01,
            0xe9, 0xfe, 0x7c, 0x6a, 0xd7, 0xcb, 0xc8, 0x23, 0x78, 0x30, 0xe7, 0x73, 0x76, 0x63,
            0x4b, 0x37, 0x31, 0x62, 0x2e, 0xaf, 0x30, 0xd9, 0x2e, 0x22, 0xa3, 0x88, 0x6f, 0xf1,
            0x09, 0x27, 0x9d, 0x98, 0x30, 0xda, 0xc7, 0x27, 0xaf, 0xb9, 0x4a, 0x83, 0xee, 0x6d,
            0x83, 0x60, 0xcb, 0xdf, 0xa2, 0xcc, 0x06, 0x40,
        ];
        assert_eq!(key.encrypt, expected[..32]);
        assert_eq!(key.mac_k, expected[32..48]);
        // r is kept clamped (see MasterKey::from_parts); the clamp only clears bits.
        let r: [u8; 16] = expected[48..].try_into().unwrap();
        assert_eq!(key.mac_r, crate::mac::clamp_r(r));
        assert_ne!(crate::mac::clamp_r(r), r, "this vector exercises the clamp");
    }

    #[test]
    fn derive_key_refuses_before_allocating() {
        // Would need 128 GiB: must fail fast instead of aborting on allocation.
        let error = derive_key(b"x", b"salt", params(1 << 27, 8, 1))
            .err()
            .unwrap();
        assert!(matches!(error, CryptoError::InvalidKdfParams { .. }));
    }

    /// A machine where one scrypt pass costs `nanos_per_block` per 128·r·N bytes, times p.
    fn model(nanos_per_mib: u64) -> impl FnMut(KdfParams) -> Duration {
        move |params: KdfParams| {
            let bytes = 128 * u64::from(params.r) * params.n * u64::from(params.p);
            Duration::from_nanos(bytes / (1 << 20) * nanos_per_mib)
        }
    }

    #[test]
    fn calibration_on_a_fast_machine_raises_p() {
        // 2 ms per MiB: a 32 MiB pass takes 64 ms, so p = 500 / 64 = 7.
        let result = calibrate(
            CALIBRATION_TARGET,
            CALIBRATION_MEMORY_BYTES,
            model(2_000_000),
        );
        assert_eq!(result, params(32768, 8, 7));
        result.validate().unwrap();
    }

    #[test]
    fn calibration_on_a_slow_machine_lowers_n_but_not_below_the_floor() {
        // 20 ms per MiB: 32 MiB takes 640 ms, so N halves to 2^14 (320 ms) and p stays 1.
        assert_eq!(
            calibrate(
                CALIBRATION_TARGET,
                CALIBRATION_MEMORY_BYTES,
                model(20_000_000)
            ),
            params(16384, 8, 1)
        );
        // 200 ms per MiB: even 2^14 is too slow, but N stays at the floor.
        assert_eq!(
            calibrate(
                CALIBRATION_TARGET,
                CALIBRATION_MEMORY_BYTES,
                model(200_000_000)
            ),
            params(16384, 8, 1)
        );
    }

    #[test]
    fn calibration_backs_off_when_the_scaled_run_is_slower_than_predicted() {
        // The first pass looks fast (10 ms, p = 50), later runs are 3× slower per pass.
        let mut first = true;
        let result = calibrate(CALIBRATION_TARGET, CALIBRATION_MEMORY_BYTES, |params| {
            let per_pass = if std::mem::take(&mut first) { 10 } else { 30 };
            Duration::from_millis(per_pass * u64::from(params.p))
        });
        assert_eq!(result, params(32768, 8, 16));
    }

    #[test]
    fn calibration_on_an_impossibly_fast_machine_stays_within_the_work_cap() {
        let result = calibrate(CALIBRATION_TARGET, CALIBRATION_MEMORY_BYTES, |_| {
            Duration::ZERO
        });
        assert_eq!(result.n, 32768);
        result.validate().unwrap();
        assert_eq!(u64::from(result.p), WORK_BYTES_MAX / (128 * 8 * 32768));
    }
}

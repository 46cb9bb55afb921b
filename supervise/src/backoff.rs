//! Restart delays: exponential with jitter, capped, so a crash-looping worker is retried ever
//! more slowly and several workers never restart in lockstep.

use std::time::Duration;

/// First restart delay.
pub const BASE: Duration = Duration::from_millis(250);
/// Longest restart delay.
pub const CAP: Duration = Duration::from_secs(30);
/// Consecutive failures after which a worker is marked degraded.
pub const DEGRADED_AFTER: u32 = 5;
/// A worker that ran this long before failing is considered to have recovered.
pub const STABLE_AFTER: Duration = Duration::from_secs(30);

/// Delay before restart number `failures` (1-based), jittered by ±25%.
pub fn delay(failures: u32) -> Duration {
    let exp = BASE.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    let base = exp.min(CAP);
    base.mul_f64(0.75 + fastrand::f64() * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_capped() {
        for n in 1..40 {
            let d = delay(n);
            let nominal = BASE.saturating_mul(1 << (n - 1).min(16)).min(CAP);
            assert!(d >= nominal.mul_f64(0.75) && d <= nominal.mul_f64(1.25), "{n}: {d:?}");
        }
        assert!(delay(30) <= CAP.mul_f64(1.25));
    }
}

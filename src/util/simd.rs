//! Builds of hot pixel loops for the CPU they run on. Release builds target baseline x86-64
//! (SSE2), so that the binary runs on any x86-64 CPU; [`fastest`] runs a loop in a function
//! compiled for AVX2 when the CPU has it. The code is the same safe code either way and
//! LLVM does not fuse multiplies and adds without being told to, so results are bit-identical
//! (the resize and alignment tests check both builds).

/// Runs `work`, inlined into a function compiled for AVX2 if this CPU has AVX2; otherwise
/// as built. `work` and what it calls should be `#[inline(always)]`, or they keep their
/// baseline code.
#[inline(always)]
pub fn fastest<R>(work: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2")]
        fn avx2<R>(work: impl FnOnce() -> R) -> R {
            work()
        }
        // SAFETY: `avx2` needs AVX2, which the CPU was just found to have.
        #[allow(unsafe_code)]
        return unsafe { avx2(work) };
    }
    work()
}

/// Runs `work` as built, for baseline x86-64: what a CPU without AVX2 gets from [`fastest`].
#[cfg(test)]
pub fn portable<R>(work: impl FnOnce() -> R) -> R {
    work()
}

//! The process's memory allocator: how many glibc malloc arenas the scorer lets itself use.
//!
//! glibc gives a thread that finds the arenas busy an arena of its own, up to 8 per core, and a
//! byte freed into one arena is never handed out by another, so each allocating thread — the
//! tokio workers, the blocking pool that scores batches, librdkafka's broker threads — keeps
//! freed memory resident. At 10,000 tx/s offered on two cores the scorer's arenas held 19 MB free
//! at its peak of 123 MB; in one pair of otherwise equal runs, 8–24 MB with 16 arenas and
//! 2–17 MB with two. Flat out, the CPU per transaction was the same with two (docs/benchmarks.md,
//! "Peak RSS at 10,000 tx/s").

/// How many malloc arenas the scorer uses unless `MALLOC_ARENA_MAX` says otherwise.
pub const MALLOC_ARENAS: i32 = 2;

/// Limits glibc to [`MALLOC_ARENAS`] malloc arenas, unless the environment sets
/// `MALLOC_ARENA_MAX` (glibc reads that itself, and it wins). Call it first thing in `main`,
/// before any thread starts. Returns whether the limit was set here. A no-op off glibc.
pub fn limit_malloc_arenas() -> bool {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return false;
    }
    set_arena_max(MALLOC_ARENAS)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // one call into glibc with plain integers; no pointer crosses it
fn set_arena_max(arenas: i32) -> bool {
    use std::ffi::c_int;
    /// glibc's `M_ARENA_MAX` (malloc.h).
    const M_ARENA_MAX: c_int = -8;
    extern "C" {
        fn mallopt(param: c_int, value: c_int) -> c_int;
    }
    // SAFETY: mallopt takes two integers and only changes the allocator's settings; glibc
    // documents it as callable at any time (MT-safe).
    unsafe { mallopt(M_ARENA_MAX, arenas) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_arena_max(_arenas: i32) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arena_limit_is_set_unless_the_environment_sets_one() {
        let set = limit_malloc_arenas();
        if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
            assert!(!set);
        } else {
            assert_eq!(set, cfg!(all(target_os = "linux", target_env = "gnu")));
        }
    }
}

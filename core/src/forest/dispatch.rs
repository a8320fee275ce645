//! Which batch kernel scores: the fastest the CPU runs (AVX-512, else AVX2, else the portable
//! walk, checked at run time), or one asked for by name, for tests and benchmarks.

use std::fmt;
use std::str::FromStr;

/// A batch kernel of [`super::CompiledForest::predict_batch_with`]. They all give the same
/// results, bit for bit; [`super::CompiledForest::predict_batch`] takes the fastest this CPU runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BatchKernel {
    /// QuickScorer over 16-bit ranks, 32 rows a 512-bit register (x86-64 with AVX-512 F, BW and
    /// BITALG).
    Avx512,
    /// The same on 256-bit registers, 16 rows a register (x86-64 with AVX2).
    Avx2,
    /// Several rows walked through each tree's nodes in lockstep, on any CPU.
    Portable,
}

/// A kernel name that is not one of [`BatchKernel::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown batch kernel {0:?}: expected avx512, avx2 or portable")]
pub struct UnknownBatchKernel(pub String);

/// Why a kernel asked for by name cannot score a forest here; nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelUnavailable {
    /// The CPU lacks instructions the kernel needs.
    #[error("the {kernel} kernel cannot run on this CPU: it needs {needs}")]
    Cpu {
        /// The kernel asked for.
        kernel: BatchKernel,
        /// What the CPU would need.
        needs: &'static str,
    },
    /// The forest has no layout the kernel can score (it scores through the portable walk).
    #[error("the {kernel} kernel cannot score this forest: {why}")]
    Forest {
        /// The kernel asked for.
        kernel: BatchKernel,
        /// What about the forest stops it.
        why: &'static str,
    },
}

impl BatchKernel {
    /// Every kernel, fastest first.
    pub const ALL: [BatchKernel; 3] = [
        BatchKernel::Avx512,
        BatchKernel::Avx2,
        BatchKernel::Portable,
    ];

    /// The kernel's name, as [`BatchKernel::from_str`] reads it: `avx512`, `avx2` or `portable`.
    pub fn name(self) -> &'static str {
        match self {
            BatchKernel::Avx512 => "avx512",
            BatchKernel::Avx2 => "avx2",
            BatchKernel::Portable => "portable",
        }
    }

    /// What the CPU needs to run this kernel.
    pub fn needs(self) -> &'static str {
        match self {
            BatchKernel::Avx512 => "x86-64 with AVX-512 F, BW and BITALG, and POPCNT",
            BatchKernel::Avx2 => "x86-64 with AVX2 and POPCNT",
            BatchKernel::Portable => "nothing",
        }
    }

    /// Whether this CPU runs the kernel (checked at run time).
    pub fn runs_here(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            BatchKernel::Avx512 => super::avx512::available(),
            #[cfg(target_arch = "x86_64")]
            BatchKernel::Avx2 => super::avx2::available(),
            #[cfg(not(target_arch = "x86_64"))]
            BatchKernel::Avx512 | BatchKernel::Avx2 => false,
            BatchKernel::Portable => true,
        }
    }

    /// The fastest kernel this CPU runs: what [`super::CompiledForest::predict_batch`] takes for
    /// a batch of [`BatchKernel::min_rows`] or more, when the forest has the vectorised layout.
    pub fn fastest_here() -> BatchKernel {
        BatchKernel::ALL
            .into_iter()
            .find(|k| k.runs_here())
            .unwrap_or(BatchKernel::Portable)
    }

    /// Fewest rows worth the kernel: a vectorised kernel scores a group of rows (32 on AVX-512,
    /// 16 on AVX2) for the same cost however many of its lanes hold rows, so smaller batches go
    /// faster through the portable walk.
    pub fn min_rows(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            BatchKernel::Avx512 => super::avx512::MIN_ROWS,
            #[cfg(target_arch = "x86_64")]
            BatchKernel::Avx2 => super::avx2::MIN_ROWS,
            #[cfg(not(target_arch = "x86_64"))]
            BatchKernel::Avx512 | BatchKernel::Avx2 => usize::MAX,
            BatchKernel::Portable => 1,
        }
    }
}

impl fmt::Display for BatchKernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BatchKernel {
    type Err = UnknownBatchKernel;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        BatchKernel::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| UnknownBatchKernel(name.to_owned()))
    }
}

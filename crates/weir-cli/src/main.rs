//! The `weir` binary; everything it does is in the library ([`weir_cli::main`]).

/// mimalloc instead of glibc's malloc: records are small JSON values
/// allocated and freed on different threads, where glibc's malloc and free
/// took ~28% of the instructions of a jq stage run (`weir-bench cli`, see
/// BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    weir_cli::main()
}

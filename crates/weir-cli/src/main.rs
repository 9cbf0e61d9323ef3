//! The `weir` binary; everything it does is in the library ([`weir_cli::main`]).

fn main() -> std::process::ExitCode {
    weir_cli::main()
}

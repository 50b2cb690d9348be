//! `suyuan`: see `suyuan --help`.

fn main() -> std::process::ExitCode {
    suyuan_platform::cli::main()
}

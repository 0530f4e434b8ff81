use std::process::ExitCode;

fn main() -> ExitCode {
    hpcsub::commands::main()
}

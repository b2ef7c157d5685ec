//! The `switchboard` binary: parse the command line, load the settings, run the command.

use std::process::ExitCode;

use clap::Parser;
use switchboard::{Cli, Settings, UsageError};

/// Many small allocations from many threads (statements built per query, frames per socket):
/// glibc's malloc spent a fifth of the hub's CPU on them under load; mimalloc keeps them per thread.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // mimalloc asks the kernel for transparent huge pages. A page it has given back comes back
    // on its next use as a whole 2 MiB page that the kernel zeroes first: under load that
    // zeroing was a seventh of all the hub's CPU, much of it on the threads every
    // acknowledgement waits for. Without huge pages only the 4 KiB pages touched are zeroed.
    // The flag is the process's: set first, it holds for every thread.
    #[cfg(target_os = "linux")]
    if let Err(err) = rustix::thread::disable_transparent_huge_pages(true) {
        eprintln!("cannot turn transparent huge pages off: {err}");
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            // --help and --version
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            let rendered = err.render().to_string();
            let reason = rendered.lines().next().unwrap_or("invalid arguments");
            eprintln!("{reason} (see --help)");
            return ExitCode::from(2);
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let settings = match Settings::load(&cli.overrides()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::from(2);
        }
    };
    switchboard::init_logging(&settings.log_format);
    match switchboard::run_blocking(cli, settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.is::<UsageError>() => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

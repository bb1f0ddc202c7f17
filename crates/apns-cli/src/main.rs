//! `apns`: the project's command line. Each subcommand lives in its own module under `cmd/`.
//!
//! Errors are one line on stderr; exit status 2 for usage and configuration errors, 1 for
//! failures while running. Logs go to stderr: errors only by default, `-v` adds warnings and
//! information (connection failures and their TLS alerts), `-vv` debugging, `-vvv` tracing;
//! `RUST_LOG` (an `EnvFilter` directive such as `apns_io=debug`) overrides both.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Apple Push Notification service tools: the HTTP/2 provider API (token or certificate auth),
/// broadcast channels, and the binary protocol of PyAPNs.
#[derive(Debug, Parser)]
#[command(name = "apns", version, about, propagate_version = true)]
struct Cli {
    /// Log more to stderr: -v information and warnings, -vv debugging, -vvv everything
    /// (RUST_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send notifications: one from flags (--token ...) or many from a JSON-lines file (--file).
    Send(Box<cmd::send::Args>),
    /// Manage an app's broadcast channels (Live Activities): create, read, delete, list.
    Channels(Box<cmd::channels::Args>),
    /// List the devices the feedback service reports, one per line (binary protocol).
    Feedback(cmd::feedback::Args),
    /// Try everything in a few seconds: a test CA and provider key, the in-process HTTP/2 mock,
    /// token auth, rejections with Apple's reasons, an unregistered token, GOAWAYs, the
    /// throughput (--binary: the binary protocol's demo).
    Demo(cmd::demo::Args),
    /// Write a test PKI: a CA, a server certificate (localhost, 127.0.0.1) and a client
    /// certificate, as PEM files; and a provider key (.p8) with its key id and team id.
    Certs(cmd::certs::Args),
    /// Run a mock of Apple's HTTP/2 provider API, broadcast channels included (--binary: the
    /// mock binary gateway and feedback service).
    Mock(Box<cmd::mock::Args>),
    /// Print a fresh provider token (JWT) for Apple's HTTP/2 API, or decode one (--decode).
    Token(cmd::token::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Send(args) => cmd::send::run(*args),
        Command::Channels(args) => cmd::channels::run(*args),
        Command::Feedback(args) => cmd::feedback::run(args),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Certs(args) => cmd::certs::run(args),
        Command::Mock(args) => cmd::mock::run(*args),
        Command::Token(args) => cmd::token::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("apns: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

/// Installs the stderr subscriber: `RUST_LOG` if set (and valid), else the level `-v`s ask for.
fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let level = match verbose {
        0 => "error",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

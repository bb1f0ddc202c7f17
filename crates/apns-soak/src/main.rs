//! `apns-soak`: the soak test and the end-to-end benchmarks (see the library's docs).
//!
//! ```text
//! apns-soak soak  [--http2] [--count N] [--seed S] [--connections C]
//!                                                one JSON summary line; exit 1 on a violated invariant
//! apns-soak bench [--count N] [--connections 1,4] [--python PATH] [--pyapns-count N]
//! apns-soak bench --http2 [--count N] [--connections 1,4] [--a2 BIN] [--a2-count N]
//!                 [--node-modules DIR] [--node-count N] [--python PATH] [--aioapns-count N]
//!                 [--curl BIN] [--curl-count N] [--capacity N] [--queue-capacity N]
//! apns-soak mock                                                 (internal: the mock's child process)
//! apns-soak bench-client                      (internal: one client run of the HTTP/2 bench, a child)
//! apns-soak wrap-peer PROGRAM ARGS...         (internal: a peer without JSON lines, i.e. curl)
//! ```
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use apns_soak::bench::{self, BenchConfig};
use apns_soak::bench_http2::{self, Http2BenchConfig};
use apns_soak::http2::{self, Http2SoakConfig};
use apns_soak::{remote, run, Error, SoakConfig};

const USAGE: &str = "usage: apns-soak soak [--http2] [--count N] [--seed S] [--connections C]\n       \
                     apns-soak bench [--count N] [--connections 1,4] [--python PATH] [--pyapns-count N]\n       \
                     apns-soak bench --http2 [--count N] [--connections 1,4] [--a2 BIN] [--a2-count N] \
                     [--node-modules DIR] [--node-count N] [--python PATH] [--aioapns-count N] \
                     [--curl BIN] [--curl-count N] [--capacity N] [--queue-capacity N]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("mock") => {
            let stdin = std::io::stdin().lock();
            remote::serve(stdin, std::io::stdout().lock()).map(|()| ExitCode::SUCCESS)
        }
        Some("bench-client") => {
            let stdin = std::io::stdin().lock();
            bench_http2::serve_client(stdin, std::io::stdout().lock()).map(|()| ExitCode::SUCCESS)
        }
        Some("wrap-peer") => {
            bench_http2::wrap_peer(&args[1..], std::io::stdout().lock()).map(|()| ExitCode::SUCCESS)
        }
        Some("soak") => soak(&args[1..]),
        Some("bench") => bench(&args[1..]),
        _ => Err(Error::new(USAGE)),
    };
    result.unwrap_or_else(|error| {
        eprintln!("apns-soak: {error}");
        ExitCode::from(2)
    })
}

fn exe() -> Result<PathBuf, Error> {
    std::env::current_exe().map_err(|e| Error::new(format!("cannot find this executable: {e}")))
}

/// `--name value` pairs.
fn options(args: &[String]) -> Result<Vec<(&str, &str)>, Error> {
    args.chunks(2)
        .map(|pair| match pair {
            [name, value] if name.starts_with("--") => Ok((name.as_str(), value.as_str())),
            _ => Err(Error::new(format!("unexpected arguments {pair:?}\n{USAGE}"))),
        })
        .collect()
}

fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, Error> {
    value.parse().map_err(|_| Error::new(format!("{name} takes a number, not {value:?}")))
}

/// The options both soaks take: `--count`, `--seed`, `--connections`.
fn soak_options(
    args: &[String],
    count: &mut u32,
    seed: &mut u64,
    connections: &mut usize,
) -> Result<(), Error> {
    for (name, value) in options(args)? {
        match name {
            "--count" => *count = number(name, value)?,
            "--seed" => *seed = number(name, value)?,
            "--connections" => *connections = number(name, value)?,
            _ => return Err(Error::new(format!("unknown option {name}\n{USAGE}"))),
        }
    }
    Ok(())
}

fn soak(args: &[String]) -> Result<ExitCode, Error> {
    if args.iter().any(|arg| arg == "--http2") {
        let rest: Vec<String> = args.iter().filter(|arg| *arg != "--http2").cloned().collect();
        return soak_http2(&rest);
    }
    let mut config = SoakConfig::new(exe()?);
    soak_options(args, &mut config.count, &mut config.seed, &mut config.connections)?;
    let report = run(&config)?;
    println!("{}", report.to_json());
    Ok(if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The peers' default counts: about 10 s each on the development machine (see
/// docs/benchmarks.md).
const A2_COUNT: u32 = 200_000;
const NODE_COUNT: u32 = 50_000;
const AIOAPNS_COUNT: u32 = 30_000;
const CURL_COUNT: u32 = 70_000;

fn bench_http2(args: &[String]) -> Result<ExitCode, Error> {
    let mut config = Http2BenchConfig {
        count: 1_000_000,
        connections: vec![1, 4],
        capacity: 20_000,
        queue_capacity: 20_000,
        a2: None,
        node_apn: None,
        aioapns: None,
        curl: None,
        mock_exe: exe()?,
    };
    let (mut a2_count, mut node_count, mut aioapns_count) = (A2_COUNT, NODE_COUNT, AIOAPNS_COUNT);
    let mut curl_count = CURL_COUNT;
    let (mut a2, mut node, mut python) = (None, None, None);
    let mut curl = PathBuf::from("curl");
    for (name, value) in options(args)? {
        match name {
            "--count" => config.count = number(name, value)?,
            "--connections" => {
                config.connections =
                    value.split(',').map(|c| number(name, c)).collect::<Result<_, Error>>()?;
            }
            "--a2" => a2 = Some(PathBuf::from(value)),
            "--node-modules" => node = Some(PathBuf::from(value)),
            "--python" => python = Some(PathBuf::from(value)),
            "--a2-count" => a2_count = number(name, value)?,
            "--node-count" => node_count = number(name, value)?,
            "--aioapns-count" => aioapns_count = number(name, value)?,
            "--curl" => curl = PathBuf::from(value),
            "--curl-count" => curl_count = number(name, value)?,
            "--capacity" => config.capacity = number(name, value)?,
            "--queue-capacity" => config.queue_capacity = number(name, value)?,
            _ => return Err(Error::new(format!("unknown option {name}\n{USAGE}"))),
        }
    }
    // curl is on most machines: tried unless its count is 0 (skipped with the reason if it
    // cannot run).
    config.curl = (curl_count > 0).then_some((curl, curl_count));
    config.a2 = a2.map(|path| (path, a2_count));
    config.node_apn = node.map(|path| (path, node_count));
    config.aioapns = python.map(|path| (path, aioapns_count));
    bench_http2::run(&config)?;
    Ok(ExitCode::SUCCESS)
}

fn soak_http2(args: &[String]) -> Result<ExitCode, Error> {
    let mut config = Http2SoakConfig::new(exe()?);
    soak_options(args, &mut config.count, &mut config.seed, &mut config.connections)?;
    let report = http2::run(&config)?;
    println!("{}", report.to_json());
    Ok(if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn bench(args: &[String]) -> Result<ExitCode, Error> {
    if args.iter().any(|arg| arg == "--http2") {
        let rest: Vec<String> = args.iter().filter(|arg| *arg != "--http2").cloned().collect();
        return bench_http2(&rest);
    }
    let mut config = BenchConfig {
        count: 1_000_000,
        connections: vec![1, 4],
        pyapns: None,
        pyapns_count: 20_000,
        mock_exe: exe()?,
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/pyapns_bench.py");
    for (name, value) in options(args)? {
        match name {
            "--count" => config.count = number(name, value)?,
            "--pyapns-count" => config.pyapns_count = number(name, value)?,
            "--python" => config.pyapns = Some((PathBuf::from(value), script.clone())),
            "--connections" => {
                config.connections =
                    value.split(',').map(|c| number(name, c)).collect::<Result<_, Error>>()?;
            }
            _ => return Err(Error::new(format!("unknown option {name}\n{USAGE}"))),
        }
    }
    bench::run(&config)?;
    Ok(ExitCode::SUCCESS)
}

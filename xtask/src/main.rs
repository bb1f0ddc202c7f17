//! Project automation, run as `cargo xtask <command>`.
//!
//! - `ci`: everything CI checks: formatting, clippy, the PyAPNs environment, all tests.
//! - `fuzz TARGET [--secs N]`: one cargo-fuzz target (nightly if installed, else
//!   `RUSTC_BOOTSTRAP=1` on stable); `fuzz --list` names the targets.
//! - `bench [ARGS...]`: the criterion benchmarks of every crate (`cargo bench --workspace`), then
//!   the facade's end-to-end benchmark (1,000,000 notifications, 1 and 4 connections, prebuilt
//!   and per-notification payloads) and PyAPNs against the same mock in the same run
//!   (`apns-soak bench`).
//! - `soak [--count N] [--seed S]`: the soak under faults (`apns-soak soak`, release build,
//!   1,000,000 notifications by default); fails if an invariant is violated.
//! - `pyapns`: creates the Python environment with PyAPNs (`apns3==1.0.0`) the interop tests use.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

type Result<T = ()> = std::result::Result<T, String>;

const USAGE: &str = "usage: cargo xtask <ci | fuzz TARGET [--secs N] | fuzz --list | bench [ARGS...] \
                     | soak [--count N] [--seed S] | pyapns>";

/// The PyPI package the interop tests and side-by-side benchmarks run: PyAPNs for Python 3.
const PYAPNS_PACKAGE: &str = "apns3==1.0.0";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("fuzz") => fuzz(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("soak") => soak(&args[1..]),
        Some("pyapns") => pyapns_python().map(|python| println!("{}", python.display())),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn ci() -> Result {
    let root = project_root();
    run(cargo(&root).args(["fmt", "--all", "--", "--check"]))?;
    run(cargo(&root).args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    let python = pyapns_python()?;
    run(cargo(&root).args(["test", "--workspace"]).env("APNS_PYTHON", python))
}

fn fuzz(args: &[String]) -> Result {
    let root = project_root();
    let fuzz_dir = root.join("fuzz");
    let targets = fuzz_targets(&fuzz_dir)?;
    let Some(target) = args.first() else {
        return Err(format!("{USAGE}\ntargets: {}", targets.join(", ")));
    };
    if target == "--list" {
        println!("{}", targets.join("\n"));
        return Ok(());
    }
    if !targets.contains(target) {
        return Err(format!("unknown fuzz target {target:?}; targets: {}", targets.join(", ")));
    }
    let secs = match args.get(1).map(String::as_str) {
        None => 60,
        Some("--secs") => args
            .get(2)
            .and_then(|secs| secs.parse::<u64>().ok())
            .ok_or("--secs takes a whole number of seconds")?,
        Some(other) => return Err(format!("unexpected argument {other:?}\n{USAGE}")),
    };
    if !succeeds(Command::new("cargo").args(["fuzz", "--version"])) {
        eprintln!("xtask: installing cargo-fuzz");
        run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))?;
    }
    let mut command = Command::new("cargo");
    if succeeds(Command::new("cargo").args(["+nightly", "--version"])) {
        command.arg("+nightly");
    } else {
        eprintln!("xtask: no nightly toolchain; using RUSTC_BOOTSTRAP=1 on stable");
        command.env("RUSTC_BOOTSTRAP", "1");
    }
    command.current_dir(&fuzz_dir).args(["fuzz", "run", target, "--", &format!("-max_total_time={secs}")]);
    run(&mut command)
}

/// The `[[bin]]` names of the fuzz crate.
fn fuzz_targets(fuzz_dir: &Path) -> Result<Vec<String>> {
    let manifest = std::fs::read_to_string(fuzz_dir.join("Cargo.toml"))
        .map_err(|error| format!("cannot read fuzz/Cargo.toml: {error}"))?;
    Ok(manifest
        .lines()
        .filter_map(|line| line.trim().strip_prefix("name = \""))
        .filter_map(|rest| rest.strip_suffix('"'))
        .filter(|name| *name != "apns-fuzz")
        .map(str::to_owned)
        .collect())
}

fn bench(args: &[String]) -> Result {
    let root = project_root();
    run(cargo(&root).args(["bench", "--workspace"]).args(args))?;
    // A filter given to the criterion benches skips the end-to-end comparison.
    if !args.is_empty() {
        return Ok(());
    }
    let python = pyapns_python()?;
    run(cargo(&root)
        .args(["run", "--release", "--quiet", "-p", "apns-soak", "--", "bench", "--python"])
        .arg(python))
}

fn soak(args: &[String]) -> Result {
    let mut forwarded = Vec::new();
    let mut rest = args.iter();
    while let Some(name) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{name} takes a value\n{USAGE}"))?;
        match name.as_str() {
            "--count" | "--seed" if value.parse::<u64>().is_ok() => forwarded.extend([name, value]),
            "--count" | "--seed" => return Err(format!("{name} takes a whole number\n{USAGE}")),
            _ => return Err(format!("unexpected argument {name:?}\n{USAGE}")),
        }
    }
    let root = project_root();
    run(cargo(&root).args(["run", "--release", "--quiet", "-p", "apns-soak", "--", "soak"]).args(forwarded))
}

/// A Python with PyAPNs installed, in `target/pyapns-venv`, created on first use.
fn pyapns_python() -> Result<PathBuf> {
    let venv = project_root().join("target").join("pyapns-venv");
    let python = venv.join("bin").join("python");
    let installed = python.exists() && succeeds(Command::new(&python).args(["-c", "import apns3"]));
    if !installed {
        eprintln!("xtask: creating {} with {PYAPNS_PACKAGE}", venv.display());
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        run(Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            PYAPNS_PACKAGE,
        ]))?;
    }
    Ok(python)
}

fn project_root() -> PathBuf {
    let manifest_dir =
        env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from("xtask"), PathBuf::from);
    manifest_dir.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn cargo(root: &Path) -> Command {
    let mut command = Command::new(env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")));
    command.current_dir(root);
    command
}

fn run(command: &mut Command) -> Result {
    eprintln!("xtask: running {command:?}");
    let status = command.status().map_err(|error| format!("cannot start {command:?}: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed with {status}"))
    }
}

fn succeeds(command: &mut Command) -> bool {
    command.output().is_ok_and(|output| output.status.success())
}

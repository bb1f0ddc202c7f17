//! Project automation, run as `cargo xtask <command>`.
//!
//! - `ci`: everything CI checks: formatting, clippy, the PyAPNs environment, all tests, and every
//!   example of the facade run once.
//! - `fuzz TARGET [--secs N]`: one cargo-fuzz target (nightly if installed, else
//!   `RUSTC_BOOTSTRAP=1` on stable); `fuzz --list` names the targets.
//! - `bench [ARGS...]`: the criterion benchmarks of every crate (`cargo bench --workspace`), then
//!   the facade's end-to-end benchmark (1,000,000 notifications, 1 and 4 connections, prebuilt
//!   and per-notification payloads) and PyAPNs against the same mock in the same run
//!   (`apns-soak bench`); then the HTTP/2 benchmark (`apns-soak bench --http2`): the HTTP/2
//!   client on 1 and 4 connections, then `a2` (built from `xtask/peers/a2`), `@parse/node-apn`,
//!   `aioapns` and `curl` against the same HTTP/2 mock in the same run.
//! - `soak [--http2] [--count N] [--seed S]`: the soak under faults (`apns-soak soak`, release
//!   build, 1,000,000 notifications by default); fails if an invariant is violated. `--http2`:
//!   the HTTP/2 client against the HTTP/2 mock (`apns-soak soak --http2`) instead of the binary
//!   protocol's soak and table.
//! - `ci` also prepares the peers the interoperability tests run: a Python environment, npm
//!   packages and Debian packages (see [`PYTHON_PACKAGES`], [`NODE_PACKAGES`],
//!   [`DEBIAN_PACKAGES`]), and passes their locations as `APNS_PYTHON` and `APNS_NODE_MODULES`.
//! - `python`: creates the Python environment the interoperability tests and the side-by-side
//!   benchmarks use (`target/test-venv`, the packages of [`PYTHON_PACKAGES`]) and prints its
//!   interpreter's path. `pyapns` is the old name of the same command.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

type Result<T = ()> = std::result::Result<T, String>;

const USAGE: &str = "usage: cargo xtask <ci | fuzz TARGET [--secs N] | fuzz --list | bench [ARGS...] \
                     | soak [--http2] [--count N] [--seed S] | python>";

/// The PyPI packages of the test environment, pinned. Each is an independent implementation
/// the tests check the project against:
/// - `apns3`: PyAPNs for Python 3, the binary-protocol client this project re-implements;
/// - `aioapns`: an APNs HTTP/2 client (asyncio), a third-party client of the HTTP/2 mock;
/// - `h2`: python-hyper's sans-io HTTP/2, an independent HTTP/2 peer;
/// - `cryptography` and `PyJWT`: sign and verify provider tokens (ES256) independently of `ring`.
const PYTHON_PACKAGES: &[&str] =
    &["apns3==1.0.0", "aioapns==4.0", "h2==4.4.1", "cryptography==50.0.2", "PyJWT==2.15.1"];

/// Where the test environment lives, under the target directory.
const VENV_DIR: &str = "test-venv";

/// The npm packages of the test environment (in `target/node-peers`), pinned: APNs clients
/// from another ecosystem, run against the mocks.
const NODE_PACKAGES: &[&str] = &["@parse/node-apn@8.1.0"];

/// Debian packages the tests run, as (command that proves it is installed, package): HTTP/2
/// peers from outside the Rust ecosystem.
const DEBIAN_PACKAGES: &[(&str, &str)] = &[("nghttpd", "nghttp2-server"), ("nghttp", "nghttp2-client")];

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("fuzz") => fuzz(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("soak") => soak(&args[1..]),
        Some("python" | "pyapns") => test_python().map(|python| println!("{}", python.display())),
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
    let python = test_python()?;
    let node_modules = node_packages()?;
    debian_packages()?;
    run(cargo(&root)
        .args(["test", "--workspace"])
        .env("APNS_PYTHON", python)
        .env("APNS_NODE_MODULES", node_modules))?;
    examples(&root)
}

/// Runs every example of the facade (each starts its in-process mock when given no
/// credentials), so the README's promise that they run is checked, not assumed.
fn examples(root: &Path) -> Result {
    let dir = root.join("crates").join("apns").join("examples");
    let entries =
        std::fs::read_dir(&dir).map_err(|error| format!("cannot read {}: {error}", dir.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|name| name.strip_suffix(".rs").map(str::to_owned))
        .collect();
    names.sort();
    for name in names {
        eprintln!("xtask: example {name}");
        run(cargo(root).args(["run", "--quiet", "-p", "apns", "--features", "mock", "--example", &name]))?;
    }
    Ok(())
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
    let python = test_python()?;
    run(cargo(&root)
        .args(["run", "--release", "--quiet", "-p", "apns-soak", "--", "bench", "--python"])
        .arg(&python))?;
    // HTTP/2: our client, then the peers against the same mock; a peer that cannot be installed
    // is left out, and the bench says so.
    let mut http2 = cargo(&root);
    http2
        .args(["run", "--release", "--quiet", "-p", "apns-soak", "--", "bench", "--http2", "--python"])
        .arg(&python);
    match node_packages() {
        Ok(node_modules) => {
            http2.arg("--node-modules").arg(node_modules);
        }
        Err(error) => eprintln!("xtask: node-apn left out of the HTTP/2 bench: {error}"),
    }
    match a2_peer(&root) {
        Ok(a2) => {
            http2.arg("--a2").arg(a2);
        }
        Err(error) => eprintln!("xtask: a2 left out of the HTTP/2 bench: {error}"),
    }
    run(&mut http2)
}

/// Builds the a2 peer (`xtask/peers/a2`, a Cargo project of its own, not a member of the
/// workspace) into `target/peers-a2` and returns its binary.
fn a2_peer(root: &Path) -> Result<PathBuf> {
    let target = root.join("target").join("peers-a2");
    run(cargo(root)
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(root.join("xtask/peers/a2/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target))?;
    Ok(target.join("release").join("a2-peer"))
}

fn soak(args: &[String]) -> Result {
    let http2 = args.iter().any(|arg| arg == "--http2");
    let mut forwarded = Vec::new();
    let mut rest = args.iter().filter(|arg| *arg != "--http2");
    while let Some(name) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{name} takes a value\n{USAGE}"))?;
        match name.as_str() {
            "--count" | "--seed" if value.parse::<u64>().is_ok() => forwarded.extend([name, value]),
            "--count" | "--seed" => return Err(format!("{name} takes a whole number\n{USAGE}")),
            _ => return Err(format!("unexpected argument {name:?}\n{USAGE}")),
        }
    }
    let root = project_root();
    if http2 {
        return run(cargo(&root)
            .args(["run", "--release", "--quiet", "-p", "apns-soak", "--", "soak", "--http2"])
            .args(forwarded));
    }
    run(cargo(&root).args(["run", "--release", "--quiet", "-p", "apns-soak", "--", "soak"]).args(forwarded))?;
    // Issue 11's table at full size: the real `apns send` against `apns mock --record`.
    run(cargo(&root).args(["test", "--release", "-p", "apns-cli", "--test", "honest", "--", "--ignored"]))
}

/// A Python with [`PYTHON_PACKAGES`] installed, in `target/test-venv`, created or completed on
/// first use. A stamp file records the package list, so a changed list reinstalls.
fn test_python() -> Result<PathBuf> {
    let venv = project_root().join("target").join(VENV_DIR);
    let python = venv.join("bin").join("python");
    let stamp = venv.join("packages.txt");
    let wanted = PYTHON_PACKAGES.join("\n");
    let current = std::fs::read_to_string(&stamp).unwrap_or_default();
    if !python.exists() || current != wanted {
        eprintln!("xtask: preparing {} with {}", venv.display(), PYTHON_PACKAGES.join(" "));
        if !python.exists() {
            run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        }
        run(Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
            .args(PYTHON_PACKAGES))?;
        std::fs::write(&stamp, wanted)
            .map_err(|error| format!("cannot write {}: {error}", stamp.display()))?;
    }
    Ok(python)
}

/// [`NODE_PACKAGES`] installed in `target/node-peers`, created or completed on first use; returns
/// its `node_modules` folder (the tests run `node` with `NODE_PATH` set to it).
fn node_packages() -> Result<PathBuf> {
    let dir = project_root().join("target").join("node-peers");
    let stamp = dir.join("packages.txt");
    let wanted = NODE_PACKAGES.join("\n");
    if std::fs::read_to_string(&stamp).unwrap_or_default() != wanted {
        eprintln!("xtask: installing {} into {}", NODE_PACKAGES.join(" "), dir.display());
        std::fs::create_dir_all(&dir).map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
        let package_json = dir.join("package.json");
        if !package_json.exists() {
            std::fs::write(&package_json, "{\"name\":\"apns-node-peers\",\"private\":true}\n")
                .map_err(|error| format!("cannot write {}: {error}", package_json.display()))?;
        }
        run(Command::new("npm")
            .current_dir(&dir)
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .args(NODE_PACKAGES))?;
        std::fs::write(&stamp, wanted)
            .map_err(|error| format!("cannot write {}: {error}", stamp.display()))?;
    }
    Ok(dir.join("node_modules"))
}

/// Installs the [`DEBIAN_PACKAGES`] whose command is missing, with `apt-get` (through `sudo` when
/// not root).
fn debian_packages() -> Result {
    let missing: Vec<&str> = DEBIAN_PACKAGES
        .iter()
        .filter(|(command, _)| !succeeds(Command::new("sh").args(["-c", &format!("command -v {command}")])))
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing Debian packages {}", missing.join(" "));
    let root = succeeds(Command::new("sh").args(["-c", "test \"$(id -u)\" = 0"]));
    let apt = |args: &[&str]| {
        let mut command = if root { Command::new("apt-get") } else { Command::new("sudo") };
        if !root {
            command.arg("apt-get");
        }
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        command
    };
    run(&mut apt(&["update", "-qq"]))?;
    run(apt(&["install", "-y", "-qq", "--no-install-recommends"]).args(&missing))
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

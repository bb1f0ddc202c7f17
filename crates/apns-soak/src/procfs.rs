//! What the process uses, read from `/proc` (Linux): threads, file descriptors, resident memory,
//! CPU time.

use std::fs;
use std::io;
use std::path::Path;

/// Threads of this process (entries of `/proc/self/task`).
pub fn threads() -> io::Result<usize> {
    Ok(fs::read_dir("/proc/self/task")?.count())
}

/// Open file descriptors of this process (entries of `/proc/self/fd`, not counting the one used
/// to list them).
pub fn fds() -> io::Result<usize> {
    Ok(fs::read_dir("/proc/self/fd")?.count().saturating_sub(1))
}

/// A `kB` field of `/proc/self/status` (`VmHWM`: peak resident set, `VmRSS`: resident now), in
/// bytes.
pub fn status_bytes(field: &str) -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib * 1024)
    })
}

/// The peak resident set size (`VmHWM`) of this process, in bytes.
pub fn peak_rss() -> Option<u64> {
    status_bytes("VmHWM")
}

/// The resident set size (`VmRSS`) of this process now, in bytes.
pub fn rss() -> Option<u64> {
    status_bytes("VmRSS")
}

/// Resets the peak resident set size to the current one (writes `5` to `/proc/self/clear_refs`,
/// Linux 4.0 and later). Returns whether it worked.
pub fn reset_peak_rss() -> bool {
    fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// User plus system CPU time of a whole process (all its threads), in seconds: `None` for this
/// process. Read from `/proc/PID/stat` (`utime`, `stime`), in clock ticks of 1/100 s (Linux's
/// `USER_HZ`), so the resolution is 10 ms.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = pid.map_or_else(|| "/proc/self/stat".to_owned(), |pid| format!("/proc/{pid}/stat"));
    stat_cpu_seconds(Path::new(&path))
}

/// User plus system CPU time of the children of this process that it has waited for
/// (`cutime + cstime` of `/proc/self/stat`), in seconds, 10 ms resolution.
pub fn waited_children_cpu_seconds() -> Option<f64> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    let fields = stat_fields(&stat)?;
    // `cutime` and `cstime` are fields 16 and 17.
    Some((fields.get(13)?.parse::<u64>().ok()? + fields.get(14)?.parse::<u64>().ok()?) as f64 / 100.0)
}

/// User plus system CPU time of the threads named `name` (`/proc/PID/task/*/comm`) of a
/// process (`None`: this one), summed, in seconds; `None` if there is none. A thread names
/// itself as it starts, so one just spawned may not be found yet.
pub fn threads_cpu_seconds(pid: Option<u32>, name: &str) -> Option<f64> {
    let tasks = pid.map_or_else(|| "/proc/self/task".to_owned(), |pid| format!("/proc/{pid}/task"));
    let mut total = None;
    for task in fs::read_dir(tasks).ok()?.flatten() {
        let comm = fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() == name {
            if let Some(cpu) = stat_cpu_seconds(&task.path().join("stat")) {
                *total.get_or_insert(0.0) += cpu;
            }
        }
    }
    total
}

/// `utime + stime` of a `stat` file of `/proc`, seconds.
fn stat_cpu_seconds(path: &Path) -> Option<f64> {
    let stat = fs::read_to_string(path).ok()?;
    let fields = stat_fields(&stat)?;
    let ticks = |index: usize| fields.get(index).and_then(|field| field.parse::<u64>().ok());
    // `rest` starts at field 3 (state): utime is field 14, stime field 15.
    let (utime, stime) = (ticks(11)?, ticks(12)?);
    Some((utime + stime) as f64 / 100.0)
}

/// The fields of a `stat` file from field 3 (state) on: the command name (field 2) may contain
/// spaces, so they are counted after its closing parenthesis.
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        assert!(threads().unwrap() >= 1);
        assert!(fds().unwrap() >= 3);
        let peak = peak_rss().unwrap();
        assert!(peak >= rss().unwrap() / 2 && peak > 1 << 20, "{peak}");
        assert!(cpu_seconds(None).unwrap() >= 0.0);
        assert!(cpu_seconds(Some(std::process::id())).is_some());
        assert!(threads_cpu_seconds(None, "no such thread").is_none());
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let (started, running) = std::sync::mpsc::channel::<()>();
        // A thread names itself when it starts: wait for that.
        let named = std::thread::Builder::new()
            .name("procfs-test".into())
            .spawn(move || {
                let _ = started.send(());
                stopped.recv()
            })
            .unwrap();
        running.recv().unwrap();
        assert!(threads_cpu_seconds(None, "procfs-test").is_some());
        assert!(threads_cpu_seconds(Some(std::process::id()), "procfs-test").is_some());
        assert!(waited_children_cpu_seconds().is_some_and(|cpu| cpu >= 0.0));
        drop(stop);
        let _ = named.join();
    }
}

//! A step's state on disk, in its directory: `status.json` (the state, the input stamps it
//! consumed, and an append-only event history) and `lease` (who runs it now, with a
//! heartbeat). Both are written by temp file + rename, so a killed process never leaves half
//! a file; every read-check-write of the lease happens under an `flock` on `.lock`, so two
//! orchestrators can never both take it.
//!
//! A lease is stale when its heartbeat is older than its TTL, or at once when its owner ran
//! on this host and that process is gone (a `kill -9`ed orchestrator does not make the next
//! one wait a TTL). The holder renews it from a heartbeat thread; when a renewal finds that
//! the lease is no longer its own, the lease is *lost* and the step must stop (Marin's bug
//! #8107 is a lost lease that was detected and ignored, so two drivers did the same work).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

pub const STATUS_FILE: &str = "status.json";
pub const LEASE_FILE: &str = "lease";
const LOCK_FILE: &str = ".lock";

/// A step's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Pending,
    Running,
    Succeeded,
    Failed,
    /// A train cell whose loss became NaN or infinite: a result, not an error.
    Diverged,
    /// An input failed, so this step could not run.
    DepFailed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Running => "running",
            State::Succeeded => "succeeded",
            State::Failed => "failed",
            State::Diverged => "diverged",
            State::DepFailed => "dep_failed",
        }
    }

    /// Finished with a usable result.
    pub fn is_ok(self) -> bool {
        matches!(self, State::Succeeded | State::Diverged)
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of a step's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub at: f64,
    pub status: State,
    pub owner: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `status.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusFile {
    pub step: String,
    pub status: State,
    #[serde(default)]
    pub message: Option<String>,
    pub updated_at: f64,
    /// Set on every success: dependents compare it with the stamp they consumed.
    #[serde(default)]
    pub stamp: Option<String>,
    /// Stamp of each (non-content-addressed) input when this step last ran.
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
    #[serde(default)]
    pub events: Vec<Event>,
}

impl StatusFile {
    pub fn new(step: &str) -> Self {
        StatusFile {
            step: step.into(),
            status: State::Pending,
            message: None,
            updated_at: now(),
            stamp: None,
            inputs: BTreeMap::new(),
            events: Vec::new(),
        }
    }

    /// Moves to `status`, recording the event.
    pub fn set(&mut self, status: State, owner: &str, message: Option<String>) {
        let at = now();
        self.status = status;
        self.message = message.clone();
        self.updated_at = at;
        self.stamp = status.is_ok().then(|| format!("{at:.6}-{}", unique()));
        self.events.push(Event {
            at,
            status,
            owner: owner.into(),
            message,
        });
    }

    /// How many times the step was started.
    pub fn starts(&self) -> usize {
        self.events
            .iter()
            .filter(|e| e.status == State::Running)
            .count()
    }
}

/// Reads `dir/status.json`; `None` when absent. A file that does not parse is reported, not
/// trusted (the step reruns).
pub fn read_status(dir: &Path) -> Option<StatusFile> {
    let path = dir.join(STATUS_FILE);
    let text = std::fs::read_to_string(&path).ok()?;
    match serde_json::from_str(&text) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!(
                "ladder: warning: {}: unreadable status ({e}); treating the step as not run",
                path.display()
            );
            None
        }
    }
}

pub fn write_status(dir: &Path, status: &StatusFile) -> Result<()> {
    let text = serde_json::to_string_pretty(status).map_err(|e| Error::Graph(e.to_string()))?;
    crate::io::write_atomic(&dir.join(STATUS_FILE), text.as_bytes())
}

/// Seconds since the Unix epoch.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A process-unique, call-unique token.
fn unique() -> String {
    use std::sync::atomic::AtomicU64;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{:x}{:08x}{n:x}", std::process::id(), t)
}

/// This host's name.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Who this process is, as written in leases and events: `host:pid`.
pub fn whoami() -> String {
    format!("{}:{}", hostname(), std::process::id())
}

/// Whether process `pid` on this host is alive (a zombie is not).
pub fn process_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    if rc != 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EPERM) {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name.
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => rc == 0,
    }
}

/// The lease file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaseFile {
    pub owner: String,
    pub host: String,
    pub pid: u32,
    /// Distinguishes two leases of the same process.
    pub nonce: String,
    pub acquired_at: f64,
    pub heartbeat_at: f64,
    pub ttl_s: f64,
}

impl LeaseFile {
    /// Whether nobody holds this lease any more.
    pub fn is_stale(&self, now: f64) -> bool {
        now - self.heartbeat_at > self.ttl_s
            || (self.host == hostname() && !process_alive(self.pid))
    }
}

/// Reads `dir/lease`, if any.
pub fn read_lease(dir: &Path) -> Option<LeaseFile> {
    let text = std::fs::read_to_string(dir.join(LEASE_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// A held `flock` on `dir/.lock`; released when dropped (the descriptor closes).
struct DirLock(#[allow(dead_code)] File);

fn lock_dir(dir: &Path) -> Result<DirLock> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    loop {
        // SAFETY: a valid open descriptor.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc == 0 {
            return Ok(DirLock(file));
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(Error::io(&path, err));
        }
    }
}

fn write_lease(dir: &Path, lease: &LeaseFile) -> Result<()> {
    let text = serde_json::to_string(lease).map_err(|e| Error::Graph(e.to_string()))?;
    crate::io::write_atomic(&dir.join(LEASE_FILE), text.as_bytes())
}

/// The outcome of [`try_acquire`].
pub enum Acquire {
    Acquired(Lease),
    /// Someone else holds a live lease.
    Held(LeaseFile),
}

/// A lease this process holds; renew it with [`Lease::start_heartbeat`], give it back with
/// [`Lease::release`]. Dropping it without releasing leaves the file to go stale.
pub struct Lease {
    dir: PathBuf,
    nonce: String,
    lost: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Takes the step's lease if nobody holds a live one.
pub fn try_acquire(dir: &Path, ttl: Duration) -> Result<Acquire> {
    let _lock = lock_dir(dir)?;
    let t = now();
    if let Some(existing) = read_lease(dir).filter(|l| !l.is_stale(t)) {
        return Ok(Acquire::Held(existing));
    }
    let nonce = unique();
    let lease = LeaseFile {
        owner: whoami(),
        host: hostname(),
        pid: std::process::id(),
        nonce: nonce.clone(),
        acquired_at: t,
        heartbeat_at: t,
        ttl_s: ttl.as_secs_f64(),
    };
    write_lease(dir, &lease)?;
    Ok(Acquire::Acquired(Lease {
        dir: dir.to_path_buf(),
        nonce,
        lost: Arc::new(AtomicBool::new(false)),
        stop: Arc::new(AtomicBool::new(false)),
        thread: None,
    }))
}

/// Renews the lease if it is still ours; `false` when it is not (lost).
fn renew(dir: &Path, nonce: &str) -> bool {
    let Ok(_lock) = lock_dir(dir) else {
        return true;
    };
    match read_lease(dir) {
        Some(mut l) if l.nonce == nonce => {
            l.heartbeat_at = now();
            // A failed write is retried at the next beat; the lease only goes stale after a TTL.
            let _ = write_lease(dir, &l);
            true
        }
        _ => false,
    }
}

impl Lease {
    /// Renews the lease every `interval` on a thread until released; a renewal that finds
    /// the lease taken sets [`Lease::is_lost`].
    pub fn start_heartbeat(&mut self, interval: Duration) {
        let (dir, nonce, lost, stop) = (
            self.dir.clone(),
            self.nonce.clone(),
            self.lost.clone(),
            self.stop.clone(),
        );
        self.thread = Some(std::thread::spawn(move || {
            let tick = Duration::from_millis(50).min(interval);
            let mut waited = Duration::ZERO;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(tick);
                waited += tick;
                if waited >= interval {
                    waited = Duration::ZERO;
                    if !renew(&dir, &nonce) {
                        lost.store(true, Ordering::SeqCst);
                        return;
                    }
                }
            }
        }));
    }

    /// Whether the lease was found taken by someone else: the step must stop.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Checks now (not at the next beat) that the lease is still ours.
    pub fn check(&self) -> bool {
        if self.is_lost() {
            return false;
        }
        let ok = renew(&self.dir, &self.nonce);
        if !ok {
            self.lost.store(true, Ordering::SeqCst);
        }
        ok
    }

    /// Stops the heartbeat and removes the lease file if it is still ours.
    pub fn release(mut self) {
        self.stop_heartbeat();
        if let Ok(_lock) = lock_dir(&self.dir)
            && read_lease(&self.dir).is_some_and(|l| l.nonce == self.nonce)
        {
            let _ = std::fs::remove_file(self.dir.join(LEASE_FILE));
        }
    }

    fn stop_heartbeat(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.stop_heartbeat();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_is_exclusive_and_released() {
        let dir = tempfile::tempdir().unwrap();
        let ttl = Duration::from_secs(60);
        let Acquire::Acquired(a) = try_acquire(dir.path(), ttl).unwrap() else {
            panic!("free lease")
        };
        assert!(matches!(
            try_acquire(dir.path(), ttl).unwrap(),
            Acquire::Held(_)
        ));
        a.release();
        assert!(read_lease(dir.path()).is_none());
        assert!(matches!(
            try_acquire(dir.path(), ttl).unwrap(),
            Acquire::Acquired(_)
        ));
    }

    #[test]
    fn stale_lease_is_taken_and_the_old_holder_learns_it_lost() {
        let dir = tempfile::tempdir().unwrap();
        let Acquire::Acquired(old) = try_acquire(dir.path(), Duration::from_millis(1)).unwrap()
        else {
            panic!()
        };
        std::thread::sleep(Duration::from_millis(20));
        let Acquire::Acquired(new) = try_acquire(dir.path(), Duration::from_secs(60)).unwrap()
        else {
            panic!("an expired lease must be takeable")
        };
        assert!(!old.check() && old.is_lost());
        assert!(new.check());
        old.release(); // must not remove the new holder's lease
        assert!(read_lease(dir.path()).is_some());
    }

    #[test]
    fn dead_owner_on_this_host_is_stale_at_once() {
        let l = LeaseFile {
            owner: String::new(),
            host: hostname(),
            pid: u32::MAX - 7,
            nonce: "x".into(),
            acquired_at: now(),
            heartbeat_at: now(),
            ttl_s: 3600.0,
        };
        assert!(l.is_stale(now()));
        let me = LeaseFile {
            pid: std::process::id(),
            ..l
        };
        assert!(!me.is_stale(now()));
    }
}

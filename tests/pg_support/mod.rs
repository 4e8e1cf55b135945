//! A throwaway PostgreSQL for tests: `initdb` in a temporary folder, started with `pg_ctl` on a
//! free 127.0.0.1 port with trust authentication. PostgreSQL refuses to run as root, so as root
//! the server runs as the `postgres` user (`su postgres`); otherwise as the current user.
//!
//! [`Pg::shared`] starts one server per test binary, and each test gets its own database
//! ([`Pg::new_db`]). A watcher process stops the server and removes its folder when the test
//! binary exits (statics are never dropped). [`Pg::start`] gives a private server that
//! [`Pg::stop`]/[`Pg::restart`] can take down and bring back (the "database is down" tests);
//! it is stopped on drop.
//!
//! Needs the Debian `postgresql` package (`.ci/install-deps.sh`). Without it, [`Pg::shared`]
//! returns `None` and the PostgreSQL half of a suite is skipped with a message, unless
//! `PHONETREE_REQUIRE_PG=1` (CI) makes that a failure.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

pub struct Pg {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
    as_postgres: bool,
    /// Stop and remove on drop (private servers); the shared one is left to its watcher.
    owned: bool,
}

static SHARED: OnceLock<Option<Pg>> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

fn bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("pg_ctl").is_file())
        .collect();
    dirs.sort();
    dirs.pop()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Skips (returns `None`) or fails when PostgreSQL is missing, as the environment asks.
fn missing(why: &str) -> Option<Pg> {
    if std::env::var("PHONETREE_REQUIRE_PG").is_ok_and(|v| v == "1") {
        panic!("PostgreSQL is required (PHONETREE_REQUIRE_PG=1) but {why}");
    }
    eprintln!("skipping the PostgreSQL half: {why} (install the Debian package `postgresql`)");
    None
}

impl Pg {
    /// The server shared by this test binary, started on first use.
    pub fn shared() -> Option<&'static Pg> {
        SHARED
            .get_or_init(|| {
                let pg = Pg::start_inner(false)?;
                pg.watch(std::process::id());
                Some(pg)
            })
            .as_ref()
    }

    /// A private server, stopped and removed on drop.
    pub fn start() -> Option<Pg> {
        Pg::start_inner(true)
    }

    fn start_inner(owned: bool) -> Option<Pg> {
        let Some(bin) = bin_dir() else {
            return missing("no /usr/lib/postgresql/*/bin/pg_ctl");
        };
        let dir = tempfile::Builder::new()
            .prefix("phonetree-pg-")
            .tempdir()
            .expect("temp dir")
            .keep();
        let as_postgres = is_root();
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return missing("cannot hand the data folder to the postgres user");
            }
        }
        let pg = Pg {
            dir,
            bin,
            port: free_port(),
            as_postgres,
            owned,
        };
        let data = pg.dir.join("data");
        let initdb = format!(
            "{} -D {} -A trust -U postgres --no-sync >{}/initdb.log 2>&1",
            pg.bin.join("initdb").display(),
            data.display(),
            pg.dir.display()
        );
        assert!(
            pg.sh(&initdb),
            "initdb failed: see {}/initdb.log",
            pg.dir.display()
        );
        assert!(
            pg.pg_ctl_start(),
            "PostgreSQL did not start: see {}/log",
            pg.dir.display()
        );
        Some(pg)
    }

    /// Runs `cmd` with sh, as the postgres user when we are root.
    fn sh(&self, cmd: &str) -> bool {
        let mut c = if self.as_postgres {
            let mut c = Command::new("su");
            c.args(["postgres", "-s", "/bin/sh", "-c", cmd]);
            c
        } else {
            let mut c = Command::new("sh");
            c.args(["-c", cmd]);
            c
        };
        c.stdin(Stdio::null()).status().is_ok_and(|s| s.success())
    }

    fn pg_ctl_start(&self) -> bool {
        // fsync off: a test database need not survive a power cut.
        let cmd = format!(
            "{} -D {} -o \"-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c max_connections=200\" -l {}/log -w -t 30 start >/dev/null",
            self.bin.join("pg_ctl").display(),
            self.dir.join("data").display(),
            self.port,
            self.dir.display(),
            self.dir.display()
        );
        self.sh(&cmd)
    }

    /// Stops the server at once (`-m immediate`: like a crash, connections are cut).
    pub fn stop(&self) {
        let cmd = format!(
            "{} -D {} -m immediate -w stop >/dev/null 2>&1",
            self.bin.join("pg_ctl").display(),
            self.dir.join("data").display()
        );
        self.sh(&cmd);
    }

    /// Starts a stopped server again on the same port.
    pub fn restart(&self) {
        assert!(self.pg_ctl_start(), "PostgreSQL did not start again");
    }

    /// A new empty database; its URL.
    pub fn new_db(&self) -> String {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::SeqCst)
        );
        let cmd = format!(
            "{} -h 127.0.0.1 -p {} -U postgres {name}",
            self.bin.join("createdb").display(),
            self.port
        );
        assert!(self.sh(&cmd), "createdb {name} failed");
        self.url(&name)
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A detached shell that stops the server and removes its folder once `pid` has exited.
    fn watch(&self, pid: u32) {
        let stop = format!(
            "{} -D {} -m immediate -w stop",
            self.bin.join("pg_ctl").display(),
            self.dir.join("data").display()
        );
        let stop = if self.as_postgres {
            format!("su postgres -s /bin/sh -c '{stop}'")
        } else {
            stop
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop} >/dev/null 2>&1; rm -rf {}",
            self.dir.display()
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        if self.owned {
            self.stop();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

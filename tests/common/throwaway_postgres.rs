//! A PostgreSQL server of the test binary's own, for a machine where PostgreSQL is installed
//! but none answers at `TEST_POSTGRES_URL`: `initdb` on a temporary directory, the server on a
//! free loopback port, stopped and removed when the test binary ends. `initdb` and `postgres`
//! refuse to run as root, so as root (CI) they run as the `postgres` user.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const INSTALL: &str = "apt-get install postgresql";
/// Debian's layout: one folder per major version.
const INSTALLED: &str = "/usr/lib/postgresql";
const START_PATIENCE: Duration = Duration::from_secs(60);

/// Whether something accepts connections at the host and port of `url`.
pub fn answers(url: &str) -> bool {
    let Ok(url) = url.parse::<reqwest::Url>() else {
        return false;
    };
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return false;
    };
    std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .map(|mut addrs| {
            addrs.any(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok())
        })
        .unwrap_or(false)
}

/// Starts the server; returns its admin URL. Panics, naming the install command, when no
/// PostgreSQL is installed.
pub fn start() -> String {
    let bin = installed_binaries().unwrap_or_else(|| {
        panic!(
            "the PostgreSQL tests need a server at TEST_POSTGRES_URL (by default \
             127.0.0.1:5432), or PostgreSQL installed to start one of their own: {INSTALL}"
        )
    });
    let dir = PathBuf::from(format!(
        "/tmp/journeyd-test-postgres-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    // SAFETY: geteuid has no preconditions and cannot fail.
    let as_root = unsafe { libc::geteuid() } == 0;
    // Made by the user the server runs as, who removes it at the end (`/tmp` is sticky).
    let made = run_as_postgres(as_root, Path::new("mkdir"), &["-p", dir.to_str().unwrap()])
        .status()
        .expect("run mkdir");
    assert!(made.success(), "could not make {}", dir.display());
    let data = dir.join("data");
    let initdb = run_as_postgres(
        as_root,
        &bin.join("initdb"),
        &[
            "-D",
            data.to_str().unwrap(),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .output()
    .expect("run initdb");
    assert!(
        initdb.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&initdb.stderr)
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The server runs under a watchdog that stops it and removes its files once this test
    // binary has exited, however it exits.
    let script = format!(
        "{postgres} -D {data} -p {port} -k {dir} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c max_connections=200 >{dir}/server.log 2>&1 & server=$!; \
         while [ -d /proc/{parent} ]; do sleep 1; done; \
         kill -INT $server; wait $server; rm -rf {dir}",
        postgres = bin.join("postgres").display(),
        data = data.display(),
        dir = dir.display(),
        parent = std::process::id(),
    );
    // Never waited for: it outlives this test binary, whose end it watches.
    #[allow(clippy::zombie_processes)]
    run_as_postgres(as_root, Path::new("/bin/sh"), &["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start the throwaway PostgreSQL server");
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    while TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_err() {
        assert!(
            started.elapsed() < START_PATIENCE,
            "the throwaway PostgreSQL server did not start; see {}/server.log",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    format!("postgres://postgres@127.0.0.1:{port}/postgres")
}

/// The `bin` folder of the newest PostgreSQL installed, if any.
fn installed_binaries() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(INSTALLED)
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// `program args`, as the `postgres` user when running as root.
fn run_as_postgres(as_root: bool, program: &Path, args: &[&str]) -> Command {
    let mut command = if as_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    };
    command.args(args);
    command
}

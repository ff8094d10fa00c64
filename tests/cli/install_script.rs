//! scripts/install.sh and scripts/smsgw.service: a staged install into a temp
//! DESTDIR, --dry-run changing nothing, the existing config kept, bad options
//! refused; shellcheck and `systemd-analyze verify` where they exist.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn install(args: &[&str], env_destdir: Option<&Path>) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("scripts/install.sh"))
        .args(["--binary", env!("CARGO_BIN_EXE_smsgw")])
        .args(args)
        .env_remove("DESTDIR");
    if let Some(d) = env_destdir {
        cmd.env("DESTDIR", d);
    }
    cmd.output().expect("run bash")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "install.sh failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn staged_install_puts_every_file_in_place() {
    let dest = tempfile::tempdir().unwrap();
    let d = dest.path();
    let stdout = ok(&install(&["--prefix", "/opt/smsgw"], Some(d)));
    assert!(stdout.contains("staged under"), "{stdout}");

    let files = files_under(d);
    for f in [
        "opt/smsgw/bin/smsgw",
        "etc/smsgw/smsgw.toml",
        "etc/smsgw/smsgw.example.toml",
        "etc/udev/rules.d/90-smsgw.rules",
        "etc/systemd/system/smsgw.service",
        "opt/smsgw/share/doc/smsgw/hardware.md",
    ] {
        assert!(files.contains(&PathBuf::from(f)), "{f} missing: {files:?}");
    }
    assert_eq!(mode(&d.join("opt/smsgw/bin/smsgw")), 0o755);
    assert_eq!(mode(&d.join("etc/smsgw/smsgw.toml")), 0o640);
    assert_eq!(mode(&d.join("etc/smsgw")), 0o750);

    let read = |p: &str| std::fs::read_to_string(d.join(p)).unwrap();
    let example = std::fs::read_to_string(repo().join("smsgw.example.toml")).unwrap();
    assert_eq!(read("etc/smsgw/smsgw.toml"), example);
    assert_eq!(
        read("etc/udev/rules.d/90-smsgw.rules"),
        std::fs::read_to_string(repo().join("scripts/90-smsgw.rules")).unwrap()
    );
    // The installed config loads (the daemon's first start would succeed).
    smsgw::config::Config::load(&d.join("etc/smsgw/smsgw.toml")).unwrap();

    let unit = read("etc/systemd/system/smsgw.service");
    assert!(
        unit.contains("ExecStart=/opt/smsgw/bin/smsgw serve --config /etc/smsgw/smsgw.toml"),
        "{unit}"
    );
    assert!(!unit.contains("/usr/local/"), "prefix not applied: {unit}");

    // The installed binary is the one given and runs.
    let out = Command::new(d.join("opt/smsgw/bin/smsgw"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn existing_config_is_never_overwritten() {
    let dest = tempfile::tempdir().unwrap();
    let d = dest.path();
    let cfg = d.join("etc/smsgw/smsgw.toml");
    std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    std::fs::write(&cfg, "# mine\n[http]\nlisten = \"127.0.0.1:9999\"\n").unwrap();
    let stdout = ok(&install(&["--destdir", d.to_str().unwrap()], None));
    assert!(stdout.contains("kept existing"), "{stdout}");
    assert!(std::fs::read_to_string(&cfg).unwrap().starts_with("# mine"));
    // The example is refreshed next to it.
    assert!(d.join("etc/smsgw/smsgw.example.toml").exists());
    assert!(d.join("usr/local/bin/smsgw").exists());
}

#[test]
fn dry_run_changes_nothing_and_shows_every_step() {
    let dest = tempfile::tempdir().unwrap();
    let d = dest.path();
    let stdout = ok(&install(&["--dry-run"], Some(d)));
    assert!(
        files_under(d).is_empty(),
        "dry run wrote {:?}",
        files_under(d)
    );
    for step in [
        "/usr/local/bin/smsgw",
        "/etc/smsgw/smsgw.toml",
        "/etc/udev/rules.d/90-smsgw.rules",
        "/etc/systemd/system/smsgw.service",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("+ install") && l.contains(step)),
            "{step} not shown: {stdout}"
        );
    }

    // Without DESTDIR the dry run also shows the system steps, still doing nothing.
    let stdout = ok(&install(&["--dry-run"], None));
    assert!(
        stdout.contains("+ usermod --append --groups dialout smsgw"),
        "{stdout}"
    );
    assert!(stdout.contains("udevadm control --reload-rules") || !has("udevadm"));
}

#[test]
fn bad_arguments_are_refused() {
    let out = install(&["--frobnicate"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--frobnicate"));
    let out = install(&["--prefix", "relative/dir", "--dry-run"], None);
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new("bash")
        .arg(repo().join("scripts/install.sh"))
        .args(["--binary", "/nonexistent/smsgw", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/smsgw"));
}

fn has(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn install_script_passes_shellcheck() {
    if !has("shellcheck") {
        println!("note: shellcheck not installed; install.sh not linted");
        return;
    }
    let out = Command::new("shellcheck")
        .arg(repo().join("scripts/install.sh"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn unit_file_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(repo().join("scripts/smsgw.service")).unwrap();
    for needed in [
        "Restart=on-failure",
        "User=smsgw",
        "SupplementaryGroups=dialout",
        "StateDirectory=smsgw",
        "ExecStart=/usr/local/bin/smsgw serve --config /etc/smsgw/smsgw.toml",
    ] {
        assert!(unit.lines().any(|l| l == needed), "{needed} missing");
    }
    // PrivateDevices would hide the modems' ttys.
    assert!(!unit.lines().any(|l| l.starts_with("PrivateDevices=yes")));
    if !has("systemd-analyze") {
        println!("note: systemd-analyze not installed; unit not verified");
        return;
    }
    // verify checks that ExecStart exists: point it at the built binary.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("smsgw.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/smsgw", env!("CARGO_BIN_EXE_smsgw")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

//! The `switchboard` binary as an operator runs it: exit codes, one-line errors, and the data
//! commands against a fresh data dir.

use std::process::{Command, Output};

fn switchboard(data_dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("SWITCHBOARD_DATABASE_URL")
        .env("SWITCHBOARD_USER_PASSWORD", "a long password")
        .output()
        .expect("runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_owned()
}

#[test]
fn help_succeeds_and_bad_arguments_exit_2_with_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let help = switchboard(dir.path(), &["--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("serve"));

    for args in [
        &["frobnicate"][..],
        &["user", "add", "a@b.test", "--role", "king", "--org", "demo"],
        &["serve", "--listen", "not-an-address"],
        &["apikey", "create", "--org", "demo", "--scope", "everything"],
    ] {
        let output = switchboard(dir.path(), args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert_eq!(
            stderr(&output).lines().count(),
            1,
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn operators_create_organizations_users_and_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let migrate = switchboard(dir.path(), &["migrate"]);
    assert!(migrate.status.success(), "{}", stderr(&migrate));
    assert!(dir.path().join("switchboard.db").exists());

    let org = switchboard(dir.path(), &["org", "add", "acme", "--name", "Acme Inc"]);
    assert!(org.status.success(), "{}", stderr(&org));
    let again = switchboard(dir.path(), &["org", "add", "acme"]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "a taken slug is a bad argument"
    );

    let user = switchboard(
        dir.path(),
        &[
            "user",
            "add",
            "ann@acme.test",
            "--role",
            "support_manager",
            "--org",
            "acme",
        ],
    );
    assert!(user.status.success(), "{}", stderr(&user));
    let unknown = switchboard(
        dir.path(),
        &[
            "user",
            "add",
            "bob@acme.test",
            "--role",
            "support_agent",
            "--org",
            "nope",
        ],
    );
    assert_eq!(unknown.status.code(), Some(2));
    assert_eq!(stderr(&unknown), "error: no organization `nope`");

    let key = switchboard(
        dir.path(),
        &[
            "apikey",
            "create",
            "--org",
            "acme",
            "--scope",
            "conversations:read",
        ],
    );
    assert!(key.status.success(), "{}", stderr(&key));
    let secret = String::from_utf8_lossy(&key.stdout).trim().to_owned();
    assert!(secret.starts_with("sbk_") && secret.len() > 40, "{secret}");
}

/// A first start makes the data dir readable by the hub's user alone, and in it the key that
/// seals secrets at rest; `secrets new-key` prints a key `secret_key` takes.
#[test]
fn the_data_dir_and_its_key_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("data");
    let migrated = switchboard(&dir, &["migrate"]);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .expect("exists")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&dir), 0o700);
    let key = dir.join("secret.key");
    assert_eq!(mode(&key), 0o600);
    let first = std::fs::read_to_string(&key).expect("a key");
    // Kept across starts: what it sealed stays readable.
    assert!(switchboard(&dir, &["migrate"]).status.success());
    assert_eq!(std::fs::read_to_string(&key).expect("a key"), first);

    let printed = switchboard(&dir, &["secrets", "new-key"]);
    assert!(printed.status.success());
    let new_key = String::from_utf8_lossy(&printed.stdout).trim().to_owned();
    assert!(
        switchboard_store::SecretKeys::new(&new_key, &[]).is_ok(),
        "{new_key}"
    );
    assert_ne!(new_key, first.trim());
}

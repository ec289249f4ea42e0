//! Guest nicks with the `chitchat` CLI against a real relay process: the CLI makes a nick's
//! guest secret on first use in the user's config directory (mode 0600) and sends it; the
//! same nick from another device is refused in plain words saying what to do, with exit
//! code 1 and counted on /metrics; `chitchat secret` moves the secret over, after which the
//! other device is the same user; `--guest-secret-file` names the file directly.

use std::path::Path;

use chitchat_tests::{Cli, RelayProcess};

/// A device: the relay's command line with its own config directory.
fn device(relay: &RelayProcess, config: &Path) -> Cli {
    relay.cli().env("XDG_CONFIG_HOME", config.to_string_lossy())
}

#[test]
fn a_guest_nick_is_kept_by_its_secret_and_moved_by_copying_it() {
    let relay = RelayProcess::start(&[]);
    let laptop_dir = tempfile::tempdir().unwrap();
    let phone_dir = tempfile::tempdir().unwrap();
    let laptop = device(&relay, laptop_dir.path()).nick("ada");
    let phone = device(&relay, phone_dir.path()).nick("ada");

    laptop
        .clone()
        .args(["send", "lobby", "from the laptop"])
        .output()
        .assert_success();
    let file = laptop_dir.path().join("chitchat/guest/ada.secret");
    let secret = std::fs::read_to_string(&file).expect("the secret file was made");
    let secret = secret.trim().to_owned();
    assert_eq!(secret.len(), 43, "32 random bytes in base64url: {secret:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only the user may read the secret");
    }
    laptop
        .clone()
        .args(["send", "lobby", "again"])
        .output()
        .assert_success();

    // The phone has a secret of its own: the nick is someone else's to it.
    for command in [
        vec!["send", "lobby", "from the phone"],
        vec!["tail", "lobby", "--count", "1"],
    ] {
        let out = phone.clone().args(&command).output();
        out.assert_exit_code(1);
        let phone_file = phone_dir.path().join("chitchat/guest/ada.secret");
        for words in [
            "nick 'ada' is taken by someone else",
            "pick another nick with --nick",
            "chitchat secret --nick ada",
            &phone_file.display().to_string(),
        ] {
            assert!(
                out.stderr.contains(words),
                "{command:?} lacks {words:?}: {out}"
            );
        }
    }
    let metrics = relay.http_get("/metrics").expect("GET /metrics").body;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("chitchat_errors_total{code=\"NICK_TAKEN\"}")),
        "NICK_TAKEN refusals are counted:\n{metrics}"
    );

    // `chitchat secret` shows the laptop's; the phone imports it (replacing its own).
    let shown = laptop.clone().arg("secret").output();
    shown.assert_success();
    assert_eq!(shown.stdout.trim(), secret);
    assert!(shown.stderr.contains("--import"), "{shown}");
    let kept = phone.clone().args(["secret", "--import", &secret]).output();
    kept.assert_exit_code(1);
    assert!(kept.stderr.contains("--replace"), "{kept}");
    phone
        .clone()
        .args(["secret", "--import", &secret, "--replace"])
        .output()
        .assert_success();
    phone
        .clone()
        .args(["send", "lobby", "from the phone"])
        .output()
        .assert_success();
    let history = laptop.clone().args(["history", "lobby"]).output();
    history.assert_success();
    assert!(history.stdout.contains("<ada> from the phone"), "{history}");
}

#[test]
fn a_named_secret_file_is_used_and_checked() {
    let relay = RelayProcess::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let owner = device(&relay, dir.path()).nick("bob");
    owner
        .clone()
        .args(["send", "lobby", "hi"])
        .output()
        .assert_success();
    let made = dir.path().join("chitchat/guest/bob.secret");

    // Another device with only a copy of the file, named by flag or environment.
    let elsewhere = tempfile::tempdir().unwrap();
    let copy = elsewhere.path().join("bob-secret");
    std::fs::copy(&made, &copy).unwrap();
    let other = device(&relay, elsewhere.path()).nick("bob");
    let copy_arg = copy.to_string_lossy().into_owned();
    other
        .clone()
        .args([
            "--guest-secret-file",
            copy_arg.as_str(),
            "send",
            "lobby",
            "by flag",
        ])
        .output()
        .assert_success();
    other
        .clone()
        .env("CHITCHAT_GUEST_SECRET_FILE", &copy_arg)
        .args(["send", "lobby", "by environment"])
        .output()
        .assert_success();

    // A file that holds no valid secret is refused before anything is sent.
    let bad = elsewhere.path().join("bad");
    std::fs::write(&bad, "too short\n").unwrap();
    let out = other
        .clone()
        .args([
            "--guest-secret-file",
            &bad.to_string_lossy(),
            "send",
            "lobby",
            "no",
        ])
        .output();
    out.assert_exit_code(1);
    assert!(out.stderr.contains("does not hold a guest secret"), "{out}");
    let history = owner.clone().args(["history", "lobby"]).output();
    assert!(!history.stdout.contains("> no"), "{history}");
}

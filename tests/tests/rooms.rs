//! The room directory with the `chitchat` CLI against a real relay process: `room create`
//! makes a room with a topic, `rooms` lists what people use (plain and `--json`), `room
//! topic` changes a topic, `--search` finds by topic; a second `room create` of one name
//! and bad names or topics fail with exit code 1 and say why, changing nothing.

use chitchat_tests::{Cli, RelayProcess};

fn json_rooms(cli: &Cli, extra: &[&str]) -> Vec<serde_json::Value> {
    let out = cli.clone().args(["rooms", "--json"]).args(extra).output();
    out.assert_success();
    out.lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

#[test]
fn rooms_are_made_listed_searched_and_retitled_from_the_cli() {
    let relay = RelayProcess::start(&[]);
    let config = tempfile::tempdir().unwrap();
    let ada = relay
        .cli()
        .env("XDG_CONFIG_HOME", config.path().to_string_lossy())
        .nick("ada");

    let made = ada
        .clone()
        .args(["room", "create", "ops", "--topic", "Deploys"])
        .output();
    made.assert_success();
    assert!(made.stdout.starts_with("#ops"), "{}", made.stdout);
    assert!(made.stdout.contains("Deploys"), "{}", made.stdout);
    // A room people post to is in the directory too.
    ada.clone()
        .args(["send", "lobby", "hello"])
        .output()
        .assert_success();

    let rooms = json_rooms(&ada, &[]);
    let names: Vec<&str> = rooms.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["lobby", "ops"]);
    assert_eq!(rooms[0]["last_seq"], 1);
    assert!(rooms[0]["last_activity"].as_str().unwrap().ends_with('Z'));
    assert_eq!(rooms[1]["topic"], "Deploys");
    assert_eq!(rooms[1]["created_by"], "ada");

    ada.clone()
        .args(["room", "topic", "ops", "Deploys", "and", "incidents"])
        .output()
        .assert_success();
    let found = json_rooms(&ada, &["--search", "INCIDENT"]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["topic"], "Deploys and incidents");

    let plain = ada.clone().args(["rooms", "--limit", "1"]).output();
    plain.assert_success();
    assert_eq!(plain.lines().len(), 1, "{}", plain.stdout);
    assert!(plain.stdout.contains("#lobby") && plain.stdout.contains("last 20"));
}

#[test]
fn refused_room_commands_say_why_and_change_nothing() {
    let relay = RelayProcess::start(&[]);
    let cli = relay.cli().nick("bob");
    cli.clone()
        .args(["room", "create", "ops", "--topic", "Original"])
        .output()
        .assert_success();
    let cases: [(&[&str], &str); 4] = [
        (
            &["room", "create", "ops", "--topic", "Mine"],
            "room ops exists",
        ),
        (&["room", "create", "no spaces"], "room"),
        (
            &["room", "create", "fresh", "--topic", &"t".repeat(300)],
            "topic",
        ),
        (&["rooms", "--limit", "0"], "0"),
    ];
    for (args, needle) in cases {
        let out = cli.clone().args(args.iter().copied()).output();
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
    }
    let rooms = json_rooms(&cli, &[]);
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms[0]["topic"], "Original");
}

//! `chitchat chat` driven through piped stdin by two processes: they join, see each other's
//! messages and joins and leaves, and /who lists both.

use chitchat_tests::RelayProcess;

#[test]
fn two_chats_talk_through_pipes() {
    let relay = RelayProcess::start(&[]);
    relay
        .cli()
        .nick("carol")
        .args(["send", "lobby", "earlier", "words"])
        .output()
        .assert_success();

    let mut ada = relay.cli().nick("ada").args(["chat", "lobby"]).spawn();
    ada.wait_for("* joined #lobby (1 here: ada)");
    // A join shows the room's recent history.
    ada.wait_for("<carol> earlier words");

    let mut bob = relay.cli().nick("bob").args(["chat", "lobby"]).spawn();
    bob.wait_for("* joined #lobby (2 here: ada, bob)");
    bob.wait_for("<carol> earlier words");
    ada.wait_for("* bob joined #lobby");

    ada.write_line("hello bob");
    let line = bob.wait_for("<ada> hello bob");
    assert!(
        line.starts_with('[') && line.contains("] #lobby <ada> hello bob"),
        "{line}"
    );
    // The sender sees its own message come back from the room.
    ada.wait_for("<ada> hello bob");

    bob.write_line("hi ada");
    ada.wait_for("<bob> hi ada");

    ada.write_line("/who");
    ada.wait_for("* in #lobby: ada, bob");

    // Errors are told in plain words, and the chat goes on.
    ada.write_line(&"x".repeat(5000));
    ada.wait_for("! not sent: message too long (TEXT_TOO_LONG)");
    ada.write_line("/frobnicate");
    ada.wait_for("! unknown command /frobnicate");

    // A second room: messages there go to the new current room.
    bob.write_line("/join side");
    bob.wait_for("* joined #side (1 here: bob)");
    bob.write_line("/rooms");
    bob.wait_for("* rooms: #lobby, #side (talking in #side)");
    // Then the directory: both rooms, with who is in them.
    bob.wait_for("* the directory's rooms:");
    bob.wait_for(&format!("* #{:<20} {:>11}", "lobby", "2 members"));
    bob.wait_for(&format!("* #{:<20} {:>11}", "side", "1 member"));
    bob.write_line("/rooms SID");
    bob.wait_for("* the directory's rooms matching \"SID\":");
    bob.wait_for("* #side ");
    bob.write_line("/rooms nothing-like-it");
    bob.wait_for("* the directory lists no rooms matching \"nothing-like-it\"");
    // A search the relay refuses (longer than a topic) is said, and the chat goes on.
    bob.write_line(&format!("/rooms {}", "x".repeat(300)));
    bob.wait_for("! cannot list the rooms: ");
    bob.write_line("only bob is here");
    bob.wait_for("] #side <bob> only bob is here");

    // /nick renames the live session: others see a rename (tail --json a rename event),
    // not a leave and a join, and the rooms stay.
    let mut tail = relay.cli().tail("lobby");
    ada.write_line("/nick ada2");
    ada.wait_for("* you are now ada2");
    ada.write_line("/who");
    ada.wait_for("* in #lobby: ada2, bob, reader");
    bob.wait_for("* ada is now known as ada2 in #lobby");
    let event = tail.wait_for("\"kind\":\"rename\"");
    let event: serde_json::Value = serde_json::from_str(&event).expect("a JSON line");
    assert_eq!(
        (&event["room"], &event["from"], &event["to"]),
        (&"lobby".into(), &"ada".into(), &"ada2".into()),
        "{event}"
    );
    assert!(event["ts"].is_string(), "{event}");
    tail.interrupt();
    tail.wait_success();
    ada.write_line("after the rename");
    bob.wait_for("] #lobby <ada2> after the rename");
    let transcript = bob.transcript();
    assert!(
        !transcript.contains("* ada left") && !transcript.contains("* ada2 joined"),
        "a rename, not a leave and a join:\n{transcript}"
    );

    bob.write_line("/leave side");
    bob.wait_for("* left #side");
    bob.wait_for("* talking in #lobby");
    bob.write_line("/quit");
    bob.wait_success();
    ada.wait_for("* bob left #lobby");

    // Ctrl-C quits cleanly too, and the relay hears of it at once.
    let mut carol = relay.cli().nick("carol").args(["chat", "lobby"]).spawn();
    carol.wait_for("* joined #lobby");
    ada.wait_for("* carol joined #lobby");
    carol.interrupt();
    // SIGINT ends chat with 0.
    carol.wait_success();
    ada.wait_for("* carol left #lobby");

    // End of input quits too; the line the relay refused makes the exit a failure.
    ada.close_stdin();
    assert_eq!(
        ada.wait_exit(chitchat_tests::DEFAULT_TIMEOUT).code(),
        Some(1)
    );
    let transcript = ada.transcript();
    assert!(
        !transcript.contains("only bob is here"),
        "ada never joined #side"
    );
}

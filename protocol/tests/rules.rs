//! The text, nick and room rules against protocol/vectors/rules.json, the cases the web client's
//! tests (web/test/rules.test.js) check its own copy of the rules against.

use chitchat_protocol::{ErrorCode, nick_skeleton, validate_nick, validate_room, validate_text};
use serde_json::Value;

fn rules() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/rules.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn code_name(code: Option<ErrorCode>) -> Value {
    code.map_or(Value::Null, |c| Value::String(c.name().into()))
}

#[test]
fn texts_follow_the_shared_cases() {
    for case in rules()["texts"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let got = validate_text(text, 4096).err().map(|e| e.code);
        assert_eq!(code_name(got), case["code"], "text {text:?}");
    }
}

#[test]
fn nicks_follow_the_shared_cases() {
    for case in rules()["nicks"].as_array().unwrap() {
        let nick = case["nick"].as_str().unwrap();
        let got = validate_nick(nick).err().map(|e| e.code);
        assert_eq!(code_name(got), case["code"], "nick {nick:?}");
    }
}

#[test]
fn rooms_follow_the_shared_cases() {
    for case in rules()["rooms"].as_array().unwrap() {
        let room = case["room"].as_str().unwrap();
        let got = validate_room(room).err().map(|e| e.code);
        assert_eq!(code_name(got), case["code"], "room {room:?}");
    }
}

#[test]
fn look_alike_nicks_share_a_skeleton() {
    for case in rules()["skeletons"].as_array().unwrap() {
        let nicks: Vec<&str> = case["nicks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        let same = nicks
            .iter()
            .all(|n| nick_skeleton(n) == nick_skeleton(nicks[0]));
        assert_eq!(Value::Bool(same), case["same"], "nicks {nicks:?}");
    }
}

//! The fixture: who the emulated account is, its contacts and chat groups.
//!
//! YAML or JSON (chosen by the file extension; `.json` is JSON, anything else YAML):
//!
//! ```yaml
//! self: { wxid: wxid_bot, name: Bot, mobile: "13800000000", home: "" }
//! contacts:
//!   - { wxid: wxid_alice, code: alice, remark: "", name: Alice, country: CN, province: Beijing, city: Beijing, gender: 2 }
//! chatrooms:
//!   - { roomid: "1001@chatroom", name: Team, owner: wxid_alice, members: [ { wxid: wxid_alice, alias: "" } ] }
//! ```
//! Official accounts are contacts whose wxid starts with `gh_`. `home` empty means
//! "`<data>/WeChat Files/`".

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The account the emulator is logged in as.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct SelfInfo {
    /// Own wxid.
    pub wxid: String,
    /// Nickname.
    pub name: String,
    /// Phone number.
    pub mobile: String,
    /// `WeChat Files` folder; empty = under `--data`.
    pub home: String,
}

/// One contact row.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct FixtureContact {
    /// UserName.
    pub wxid: String,
    /// WeChat id (Alias).
    pub code: String,
    /// Remark set by the account.
    pub remark: String,
    /// NickName.
    pub name: String,
    /// Country.
    pub country: String,
    /// Province.
    pub province: String,
    /// City.
    pub city: String,
    /// 0 unknown, 1 male, 2 female.
    pub gender: i32,
    /// Head image URL (`ContactHeadImgUrl`); one like WeChat's is made up when empty.
    pub avatar: String,
}

/// One chat-group member.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct FixtureMember {
    /// Member wxid.
    pub wxid: String,
    /// Group nickname ("" = none).
    pub alias: String,
}

/// One chat group.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct FixtureRoom {
    /// `…@chatroom`.
    pub roomid: String,
    /// Group name.
    pub name: String,
    /// Owner wxid.
    pub owner: String,
    /// Members.
    pub members: Vec<FixtureMember>,
}

/// A whole fixture.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct Fixture {
    /// The logged-in account.
    #[serde(rename = "self")]
    pub self_info: SelfInfo,
    /// Contacts (friends, official accounts, special accounts).
    pub contacts: Vec<FixtureContact>,
    /// Chat groups.
    pub chatrooms: Vec<FixtureRoom>,
}

/// Why a fixture could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// The file could not be read.
    #[error("cannot read fixture {path}: {source}")]
    Read {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid YAML/JSON of the fixture shape.
    #[error("fixture {path} is not valid: {detail}")]
    Parse {
        /// File.
        path: String,
        /// Parser message.
        detail: String,
    },
    /// The content is inconsistent.
    #[error("fixture is inconsistent: {0}")]
    Invalid(String),
}

impl Fixture {
    /// Loads a YAML or JSON fixture file.
    pub fn load(path: &Path) -> Result<Self, FixtureError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| FixtureError::Read { path: path.display().to_string(), source })?;
        let parsed: Result<Self, String> = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
            serde_json::from_str(&text).map_err(|e| e.to_string())
        } else {
            serde_saphyr::from_str(&text).map_err(|e| e.to_string())
        };
        let fixture = parsed.map_err(|detail| FixtureError::Parse { path: path.display().to_string(), detail })?;
        fixture.validate()?;
        Ok(fixture)
    }

    /// Checks ids: a self wxid, unique contact ids, room ids ending in `@chatroom`.
    pub fn validate(&self) -> Result<(), FixtureError> {
        if self.self_info.wxid.is_empty() {
            return Err(FixtureError::Invalid("self.wxid is empty".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for c in &self.contacts {
            if c.wxid.is_empty() {
                return Err(FixtureError::Invalid("a contact has an empty wxid".into()));
            }
            if !seen.insert(c.wxid.as_str()) {
                return Err(FixtureError::Invalid(format!("contact {} is listed twice", c.wxid)));
            }
        }
        for r in &self.chatrooms {
            if !r.roomid.ends_with("@chatroom") {
                return Err(FixtureError::Invalid(format!("room id {:?} must end with @chatroom", r.roomid)));
            }
        }
        Ok(())
    }

    /// The built-in fixture: a bot account, a handful of friends, two official accounts, the
    /// special accounts and two chat groups.
    pub fn builtin() -> Self {
        let c = |wxid: &str, code: &str, name: &str, remark: &str, gender: i32| FixtureContact {
            wxid: wxid.into(),
            code: code.into(),
            remark: remark.into(),
            name: name.into(),
            country: "CN".into(),
            province: "Guangdong".into(),
            city: "Shenzhen".into(),
            gender,
            avatar: String::new(),
        };
        let m = |wxid: &str, alias: &str| FixtureMember { wxid: wxid.into(), alias: alias.into() };
        Self {
            self_info: SelfInfo {
                wxid: "wxid_bot".into(),
                name: "Demo Bot".into(),
                mobile: "13800000000".into(),
                home: String::new(),
            },
            contacts: vec![
                c("wxid_alice", "alice_w", "Alice", "Alice (work)", 2),
                c("wxid_bob", "bob_w", "Bob", "", 1),
                c("wxid_carol", "", "Carol", "", 2),
                c("wxid_jj4mhsji9tjk22", "rikka", "Rikka", "", 0),
                c("gh_news", "", "Daily News", "", 0),
                c("gh_weather", "", "Weather", "", 0),
                c("filehelper", "", "文件传输助手", "", 0),
                c("fmessage", "", "朋友推荐消息", "", 0),
                c("1001@chatroom", "", "Team chat", "", 0),
                c("1002@chatroom", "", "Family", "", 0),
            ],
            chatrooms: vec![
                FixtureRoom {
                    roomid: "1001@chatroom".into(),
                    name: "Team chat".into(),
                    owner: "wxid_alice".into(),
                    members: vec![
                        m("wxid_bot", ""),
                        m("wxid_alice", "Team Alice"),
                        m("wxid_bob", ""),
                        m("wxid_dave", "Dave"),
                    ],
                },
                FixtureRoom {
                    roomid: "1002@chatroom".into(),
                    name: "Family".into(),
                    owner: "wxid_bot".into(),
                    members: vec![m("wxid_bot", ""), m("wxid_carol", "")],
                },
            ],
        }
    }
}

impl Fixture {
    /// The built-in fixture as account number `i` of a multi-account demo: its own wxid
    /// (`wxid_bot<i>`) and name, the built-in contacts plus three friends of its own
    /// (`wxid_friend<i>_1`…), and chat groups of its own.
    pub fn demo(i: usize) -> Self {
        let mut f = Self::builtin();
        f.self_info.wxid = format!("wxid_bot{i}");
        f.self_info.name = format!("Demo Bot {i}");
        for n in 1..=3 {
            f.contacts.push(FixtureContact {
                wxid: format!("wxid_friend{i}_{n}"),
                name: format!("Friend {n} of bot {i}"),
                ..Default::default()
            });
        }
        for room in &mut f.chatrooms {
            let own = format!("{}{i}@chatroom", room.roomid.trim_end_matches("@chatroom"));
            for c in &mut f.contacts {
                if c.wxid == room.roomid {
                    c.wxid = own.clone();
                }
            }
            room.roomid = own;
            for m in &mut room.members {
                if m.wxid == "wxid_bot" {
                    m.wxid = f.self_info.wxid.clone();
                }
            }
            if room.owner == "wxid_bot" {
                room.owner = f.self_info.wxid.clone();
            }
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_is_valid() {
        Fixture::builtin().validate().unwrap();
        let d = Fixture::demo(2);
        d.validate().unwrap();
        assert_eq!(d.self_info.wxid, "wxid_bot2");
        assert!(d.chatrooms.iter().all(|r| r.roomid.ends_with("2@chatroom")));
        assert!(d.chatrooms[0].members.iter().any(|m| m.wxid == "wxid_bot2"));
        assert!(d.contacts.iter().any(|c| c.wxid == "wxid_friend2_1"));
    }

    #[test]
    fn yaml_and_json_load_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = dir.path().join("f.yaml");
        std::fs::write(
            &yaml,
            "self: { wxid: wxid_me, name: Me }\ncontacts:\n  - { wxid: wxid_a, name: A, gender: 1 }\nchatrooms:\n  - roomid: \"9@chatroom\"\n    name: R\n    members: [ { wxid: wxid_a } ]\n",
        )
        .unwrap();
        let json = dir.path().join("f.json");
        std::fs::write(
            &json,
            r#"{"self":{"wxid":"wxid_me","name":"Me"},"contacts":[{"wxid":"wxid_a","name":"A","gender":1}],"chatrooms":[{"roomid":"9@chatroom","name":"R","members":[{"wxid":"wxid_a"}]}]}"#,
        )
        .unwrap();
        let a = Fixture::load(&yaml).unwrap();
        assert_eq!(a, Fixture::load(&json).unwrap());
        assert_eq!(a.chatrooms[0].members[0].wxid, "wxid_a");
    }

    #[test]
    fn bad_fixtures_are_rejected_with_reason() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.yaml");
        std::fs::write(&p, "self: { wxid: me }\nchatrooms:\n  - { roomid: nope }\n").unwrap();
        let e = Fixture::load(&p).unwrap_err().to_string();
        assert!(e.contains("must end with @chatroom"), "{e}");
        std::fs::write(&p, "self: [").unwrap();
        assert!(matches!(Fixture::load(&p), Err(FixtureError::Parse { .. })));
        assert!(matches!(Fixture::load(&dir.path().join("missing.yaml")), Err(FixtureError::Read { .. })));
    }
}

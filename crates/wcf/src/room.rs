//! Chat-group members from the `RoomData` BLOB of `MicroMsg.db` `ChatRoom`.

use std::collections::HashMap;

use prost::Message;

use crate::proto::RoomData;

/// One member of a chat group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomMember {
    /// Member wxid.
    pub wxid: String,
    /// Group nickname if set, else the contact's NickName, else "".
    pub display_name: String,
}

/// Decodes a `RoomData` BLOB.
pub fn decode_room_data(blob: &[u8]) -> Result<RoomData, prost::DecodeError> {
    RoomData::decode(blob)
}

/// Lists members in `RoomData` order, named by group nickname first and by `nicknames`
/// (wxid → contact NickName) second, as the official `get_chatroom_members` does.
pub fn room_members(data: &RoomData, nicknames: &HashMap<String, String>) -> Vec<RoomMember> {
    data.members
        .iter()
        .map(|m| RoomMember {
            wxid: m.wxid.clone(),
            display_name: m
                .name
                .clone()
                .filter(|n| !n.is_empty())
                .or_else(|| nicknames.get(&m.wxid).cloned())
                .unwrap_or_default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::room_data::RoomMember as Raw;

    #[test]
    fn names_prefer_group_nickname() {
        let data = RoomData {
            members: vec![
                Raw { wxid: "a".into(), name: Some("Group A".into()), state: 0 },
                Raw { wxid: "b".into(), name: None, state: 0 },
                Raw { wxid: "c".into(), name: Some(String::new()), state: 0 },
            ],
            ..Default::default()
        };
        let blob = data.encode_to_vec();
        let nick = HashMap::from([("b".to_owned(), "Bee".to_owned()), ("a".to_owned(), "Ay".to_owned())]);
        let got = room_members(&decode_room_data(&blob).unwrap(), &nick);
        let names: Vec<_> = got.iter().map(|m| (m.wxid.as_str(), m.display_name.as_str())).collect();
        assert_eq!(names, [("a", "Group A"), ("b", "Bee"), ("c", "")]);
    }

    #[test]
    fn garbage_blob_is_an_error() {
        assert!(decode_room_data(&[0xFF, 0xFF, 0xFF]).is_err());
    }
}

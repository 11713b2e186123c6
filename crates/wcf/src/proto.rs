//! The WeChatFerry protobuf schema (`wcf.proto`, package `wcf`), written by hand with prost
//! derives: no protoc, no build script. Field numbers are those of `wcf-protocol.md` §2.
//!
//! `msg` is an `Option<oneof>` so that a oneof member holding its default value (`status = 0`,
//! `flag = false`) is still put on the wire, as the Python client and the nanopb server do.

#![allow(missing_docs)]

/// Remote function ids (`enum Functions`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Functions {
    FuncReserved = 0x00,
    FuncIsLogin = 0x01,
    FuncGetSelfWxid = 0x10,
    FuncGetMsgTypes = 0x11,
    FuncGetContacts = 0x12,
    FuncGetDbNames = 0x13,
    FuncGetDbTables = 0x14,
    FuncGetUserInfo = 0x15,
    FuncGetAudioMsg = 0x16,
    FuncGetDbKey = 0x17,
    FuncSendTxt = 0x20,
    FuncSendImg = 0x21,
    FuncSendFile = 0x22,
    FuncSendXml = 0x23,
    FuncSendEmotion = 0x24,
    FuncSendRichTxt = 0x25,
    FuncSendPatMsg = 0x26,
    FuncForwardMsg = 0x27,
    FuncEnableRecvTxt = 0x30,
    FuncDisableRecvTxt = 0x40,
    FuncExecDbQuery = 0x50,
    FuncAcceptFriend = 0x51,
    FuncRecvTransfer = 0x52,
    FuncRefreshPyq = 0x53,
    FuncDownloadAttach = 0x54,
    FuncGetContactInfo = 0x55,
    FuncRevokeMsg = 0x56,
    FuncRefreshQrcode = 0x57,
    FuncDecryptImage = 0x60,
    FuncExecOcr = 0x61,
    FuncAddRoomMembers = 0x70,
    FuncDelRoomMembers = 0x71,
    FuncInvRoomMembers = 0x72,
    FuncShutdown = 0xFF,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    #[prost(enumeration = "Functions", tag = "1")]
    pub func: i32,
    #[prost(oneof = "request::Msg", tags = "2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18")]
    pub msg: Option<request::Msg>,
}

pub mod request {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Msg {
        #[prost(message, tag = "2")]
        Empty(super::Empty),
        #[prost(string, tag = "3")]
        Str(String),
        #[prost(message, tag = "4")]
        Txt(super::TextMsg),
        #[prost(message, tag = "5")]
        File(super::PathMsg),
        #[prost(message, tag = "6")]
        Query(super::DbQuery),
        #[prost(message, tag = "7")]
        V(super::Verification),
        #[prost(message, tag = "8")]
        M(super::MemberMgmt),
        #[prost(message, tag = "9")]
        Xml(super::XmlMsg),
        #[prost(message, tag = "10")]
        Dec(super::DecPath),
        #[prost(message, tag = "11")]
        Tf(super::Transfer),
        #[prost(uint64, tag = "12")]
        Ui64(u64),
        #[prost(bool, tag = "13")]
        Flag(bool),
        #[prost(message, tag = "14")]
        Att(super::AttachMsg),
        #[prost(message, tag = "15")]
        Am(super::AudioMsg),
        #[prost(message, tag = "16")]
        Rt(super::RichText),
        #[prost(message, tag = "17")]
        Pm(super::PatMsg),
        #[prost(message, tag = "18")]
        Fm(super::ForwardMsg),
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Response {
    #[prost(enumeration = "Functions", tag = "1")]
    pub func: i32,
    #[prost(oneof = "response::Msg", tags = "2, 3, 4, 5, 6, 7, 8, 9, 10, 11")]
    pub msg: Option<response::Msg>,
}

pub mod response {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Msg {
        #[prost(int32, tag = "2")]
        Status(i32),
        #[prost(string, tag = "3")]
        Str(String),
        #[prost(message, tag = "4")]
        Wxmsg(super::WxMsg),
        #[prost(message, tag = "5")]
        Types(super::MsgTypes),
        #[prost(message, tag = "6")]
        Contacts(super::RpcContacts),
        #[prost(message, tag = "7")]
        Dbs(super::DbNames),
        #[prost(message, tag = "8")]
        Tables(super::DbTables),
        #[prost(message, tag = "9")]
        Rows(super::DbRows),
        #[prost(message, tag = "10")]
        Ui(super::UserInfo),
        #[prost(message, tag = "11")]
        Ocr(super::OcrMsg),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Empty {}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct WxMsg {
    #[prost(bool, tag = "1")]
    pub is_self: bool,
    #[prost(bool, tag = "2")]
    pub is_group: bool,
    #[prost(uint64, tag = "3")]
    pub id: u64,
    #[prost(uint32, tag = "4")]
    pub r#type: u32,
    #[prost(uint32, tag = "5")]
    pub ts: u32,
    #[prost(string, tag = "6")]
    pub roomid: String,
    #[prost(string, tag = "7")]
    pub content: String,
    #[prost(string, tag = "8")]
    pub sender: String,
    #[prost(string, tag = "9")]
    pub sign: String,
    #[prost(string, tag = "10")]
    pub thumb: String,
    #[prost(string, tag = "11")]
    pub extra: String,
    #[prost(string, tag = "12")]
    pub xml: String,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct TextMsg {
    #[prost(string, tag = "1")]
    pub msg: String,
    #[prost(string, tag = "2")]
    pub receiver: String,
    #[prost(string, tag = "3")]
    pub aters: String,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct PathMsg {
    #[prost(string, tag = "1")]
    pub path: String,
    #[prost(string, tag = "2")]
    pub receiver: String,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct XmlMsg {
    #[prost(string, tag = "1")]
    pub receiver: String,
    #[prost(string, tag = "2")]
    pub content: String,
    #[prost(string, tag = "3")]
    pub path: String,
    /// int32 in 39.0/39.6, uint64 in 39.5: the same varint for non-negative values.
    #[prost(int32, tag = "4")]
    pub r#type: i32,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct MsgTypes {
    #[prost(map = "int32, string", tag = "1")]
    pub types: std::collections::HashMap<i32, String>,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RpcContact {
    #[prost(string, tag = "1")]
    pub wxid: String,
    #[prost(string, tag = "2")]
    pub code: String,
    #[prost(string, tag = "3")]
    pub remark: String,
    #[prost(string, tag = "4")]
    pub name: String,
    #[prost(string, tag = "5")]
    pub country: String,
    #[prost(string, tag = "6")]
    pub province: String,
    #[prost(string, tag = "7")]
    pub city: String,
    #[prost(int32, tag = "8")]
    pub gender: i32,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RpcContacts {
    #[prost(message, repeated, tag = "1")]
    pub contacts: Vec<RpcContact>,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct DbNames {
    #[prost(string, repeated, tag = "1")]
    pub names: Vec<String>,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct DbTable {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub sql: String,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct DbTables {
    #[prost(message, repeated, tag = "1")]
    pub tables: Vec<DbTable>,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct DbQuery {
    #[prost(string, tag = "1")]
    pub db: String,
    #[prost(string, tag = "2")]
    pub sql: String,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct DbField {
    /// 1 INTEGER, 2 FLOAT, 3 TEXT, 4 BLOB, 5 NULL (SQLite's column type codes).
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub column: String,
    #[prost(bytes = "vec", tag = "3")]
    pub content: Vec<u8>,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct DbRow {
    #[prost(message, repeated, tag = "1")]
    pub fields: Vec<DbField>,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct DbRows {
    #[prost(message, repeated, tag = "1")]
    pub rows: Vec<DbRow>,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Verification {
    #[prost(string, tag = "1")]
    pub v3: String,
    #[prost(string, tag = "2")]
    pub v4: String,
    #[prost(int32, tag = "3")]
    pub scene: i32,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct MemberMgmt {
    #[prost(string, tag = "1")]
    pub roomid: String,
    /// Comma-separated wxids.
    #[prost(string, tag = "2")]
    pub wxids: String,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct UserInfo {
    #[prost(string, tag = "1")]
    pub wxid: String,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(string, tag = "3")]
    pub mobile: String,
    #[prost(string, tag = "4")]
    pub home: String,
    /// Only in the v39.5.x source.
    #[prost(string, tag = "5")]
    pub alias: String,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct DecPath {
    #[prost(string, tag = "1")]
    pub src: String,
    #[prost(string, tag = "2")]
    pub dst: String,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Transfer {
    #[prost(string, tag = "1")]
    pub wxid: String,
    #[prost(string, tag = "2")]
    pub tfid: String,
    #[prost(string, tag = "3")]
    pub taid: String,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AttachMsg {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(string, tag = "2")]
    pub thumb: String,
    #[prost(string, tag = "3")]
    pub extra: String,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AudioMsg {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(string, tag = "2")]
    pub dir: String,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RichText {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub account: String,
    #[prost(string, tag = "3")]
    pub title: String,
    #[prost(string, tag = "4")]
    pub digest: String,
    #[prost(string, tag = "5")]
    pub url: String,
    #[prost(string, tag = "6")]
    pub thumburl: String,
    #[prost(string, tag = "7")]
    pub receiver: String,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct PatMsg {
    #[prost(string, tag = "1")]
    pub roomid: String,
    #[prost(string, tag = "2")]
    pub wxid: String,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct OcrMsg {
    #[prost(int32, tag = "1")]
    pub status: i32,
    #[prost(string, tag = "2")]
    pub result: String,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ForwardMsg {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(string, tag = "2")]
    pub receiver: String,
}

/// Decodes the `RoomData` BLOB of `MicroMsg.db`'s `ChatRoom` table (not an RPC message).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RoomData {
    #[prost(message, repeated, tag = "1")]
    pub members: Vec<room_data::RoomMember>,
    #[prost(int32, optional, tag = "2")]
    pub field_2: Option<i32>,
    #[prost(int32, tag = "3")]
    pub field_3: i32,
    #[prost(int32, optional, tag = "4")]
    pub field_4: Option<i32>,
    #[prost(int32, tag = "5")]
    pub capacity: i32,
    #[prost(string, optional, tag = "6")]
    pub field_6: Option<String>,
    #[prost(int32, tag = "7")]
    pub field_7: i32,
    #[prost(int32, tag = "8")]
    pub field_8: i32,
    #[prost(string, repeated, tag = "9")]
    pub admins: Vec<String>,
}

pub mod room_data {
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct RoomMember {
        #[prost(string, tag = "1")]
        pub wxid: String,
        /// Group nickname, when the member set one.
        #[prost(string, optional, tag = "2")]
        pub name: Option<String>,
        #[prost(int32, tag = "3")]
        pub state: i32,
    }
}

/// The `BytesExtra` BLOB of an `MSG` row in `MSG<n>.db`. Not an RPC message: this is the layout
/// public descriptions of WeChat 3.9's database give (field 3 = repeated typed strings), kept
/// here because both the emulator (writer) and the gateway (reader) need it.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct BytesExtra {
    #[prost(message, repeated, tag = "3")]
    pub entries: Vec<bytes_extra::Entry>,
}

pub mod bytes_extra {
    /// `kind` of the group sender's wxid.
    pub const SENDER: i32 = 1;
    /// `kind` of the thumbnail path (relative to the account folder in real WeChat).
    pub const THUMB: i32 = 3;
    /// `kind` of the attachment path (image `.dat`, file).
    pub const EXTRA: i32 = 4;
    /// `kind` of the `msgsource` XML (`<atuserlist>`, `<signature>`…).
    pub const MSG_SOURCE: i32 = 7;

    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct Entry {
        #[prost(int32, tag = "1")]
        pub kind: i32,
        #[prost(string, tag = "2")]
        pub value: String,
    }
}

impl BytesExtra {
    /// The first value of `kind`.
    pub fn get(&self, kind: i32) -> Option<&str> {
        self.entries.iter().find(|e| e.kind == kind).map(|e| e.value.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use prost::Message;

    fn req(func: Functions, msg: Option<request::Msg>) -> Request {
        Request { func: func as i32, msg }
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    // Byte-exact encodings checked against the Python client (wcf-protocol.md §7.2).
    #[test]
    fn encodings_match_python_client() {
        assert_eq!(hex(&req(Functions::FuncIsLogin, None).encode_to_vec()), "0801");
        assert_eq!(
            hex(&req(Functions::FuncEnableRecvTxt, Some(request::Msg::Flag(false))).encode_to_vec()),
            "08306800"
        );
        assert_eq!(hex(&req(Functions::FuncRefreshPyq, Some(request::Msg::Ui64(0))).encode_to_vec()), "08536000");
        let status0 = Response { func: Functions::FuncSendTxt as i32, msg: Some(response::Msg::Status(0)) };
        assert_eq!(hex(&status0.encode_to_vec()), "08201000");
    }

    /// Golden bytes produced by the official `wcf_pb2` (wcferry 39.5.2.0) for the same values.
    #[test]
    fn golden_bytes_from_official_schema() {
        let txt = req(
            Functions::FuncSendTxt,
            Some(request::Msg::Txt(TextMsg {
                msg: "hello @bob".into(),
                receiver: "123@chatroom".into(),
                aters: "wxid_bob".into(),
            })),
        );
        assert_eq!(
            hex(&txt.encode_to_vec()),
            "082022240a0a68656c6c6f2040626f62120c3132334063686174726f6f6d1a08777869645f626f62"
        );
        let v = req(
            Functions::FuncAcceptFriend,
            Some(request::Msg::V(Verification { v3: "v3_a".into(), v4: "v4_b".into(), scene: 30 })),
        );
        assert_eq!(hex(&v.encode_to_vec()), "08513a0e0a0476335f61120476345f62181e");
        let q = req(
            Functions::FuncExecDbQuery,
            Some(request::Msg::Query(DbQuery { db: "MicroMsg.db".into(), sql: "SELECT 1".into() })),
        );
        assert_eq!(hex(&q.encode_to_vec()), "085032170a0b4d6963726f4d73672e6462120853454c4543542031");
        let att = req(
            Functions::FuncDownloadAttach,
            Some(request::Msg::Att(AttachMsg { id: (1 << 63) + 5, thumb: String::new(), extra: "C:/x.dat".into() })),
        );
        assert_eq!(hex(&att.encode_to_vec()), "0854721508858080808080808080011a08433a2f782e646174");
        let push = Response {
            func: Functions::FuncEnableRecvTxt as i32,
            msg: Some(response::Msg::Wxmsg(WxMsg {
                is_group: true,
                id: 1 << 60,
                r#type: 1,
                ts: 1_700_000_000,
                roomid: "1@chatroom".into(),
                content: "hi".into(),
                sender: "wxid_a".into(),
                xml: "<msgsource/>".into(),
                ..Default::default()
            })),
        };
        assert_eq!(
            hex(&push.encode_to_vec()),
            "0830223a10011880808080808080801020012880e2cfaa06320a314063686174726f6f6d3a0268694206777869645f61620c3c6d7367736f757263652f3e"
        );
        let room = RoomData {
            members: vec![
                room_data::RoomMember { wxid: "wxid_a".into(), name: Some("A".into()), state: 0 },
                room_data::RoomMember { wxid: "wxid_b".into(), name: None, state: 0 },
            ],
            capacity: 500,
            ..Default::default()
        };
        assert_eq!(hex(&room.encode_to_vec()), "0a0b0a06777869645f611201410a080a06777869645f6228f403");
        let contacts = Response {
            func: Functions::FuncGetContacts as i32,
            msg: Some(response::Msg::Contacts(RpcContacts {
                contacts: vec![RpcContact {
                    wxid: "wxid_a".into(),
                    name: "Alice".into(),
                    gender: 2,
                    ..Default::default()
                }],
            })),
        };
        assert_eq!(hex(&contacts.encode_to_vec()), "081232130a110a06777869645f612205416c6963654002");
    }

    #[test]
    fn empty_reply_decodes_to_no_msg() {
        let r = Response::decode(&[][..]).unwrap();
        assert_eq!(r.func, 0);
        assert!(r.msg.is_none());
    }

    fn arb_wxmsg() -> impl Strategy<Value = WxMsg> {
        (
            any::<bool>(),
            any::<bool>(),
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
            ".{0,20}",
            ".{0,40}",
            ".{0,20}",
            ".{0,30}",
        )
            .prop_map(|(is_self, is_group, id, t, ts, roomid, content, sender, xml)| WxMsg {
                is_self,
                is_group,
                id,
                r#type: t,
                ts,
                roomid,
                content,
                sender,
                sign: String::new(),
                thumb: String::new(),
                extra: String::new(),
                xml,
            })
    }

    proptest! {
        #[test]
        fn response_with_wxmsg_round_trips(m in arb_wxmsg()) {
            let r = Response { func: Functions::FuncEnableRecvTxt as i32, msg: Some(response::Msg::Wxmsg(m)) };
            prop_assert_eq!(Response::decode(r.encode_to_vec().as_slice()).unwrap(), r);
        }

        #[test]
        fn text_request_round_trips(msg in ".{0,50}", receiver in ".{0,30}", aters in ".{0,30}") {
            let r = req(Functions::FuncSendTxt, Some(request::Msg::Txt(TextMsg { msg, receiver, aters })));
            prop_assert_eq!(Request::decode(r.encode_to_vec().as_slice()).unwrap(), r);
        }

        #[test]
        fn room_data_round_trips(members in proptest::collection::vec(("[a-z_0-9]{1,12}", proptest::option::of(".{0,8}")), 0..20)) {
            let rd = RoomData {
                members: members.into_iter().map(|(wxid, name)| room_data::RoomMember { wxid, name, state: 0 }).collect(),
                ..Default::default()
            };
            prop_assert_eq!(RoomData::decode(rd.encode_to_vec().as_slice()).unwrap(), rd);
        }
    }
}

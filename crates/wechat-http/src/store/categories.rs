//! Contact categories ("分组"): named sets of friends and chat groups of one account, stored
//! by this service (WeChat has no such thing). The API keeps the original names
//! (`create_group`, …); in code they are categories, so they are not confused with chat groups.

use serde::Serialize;

use super::sql::{DbError, Row, Tx, args};
use super::{Store, now};
use crate::error::{ApiError, ApiResult};

/// A category.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Category {
    /// UUID.
    pub id: String,
    /// Unique name.
    pub name: String,
}

/// What a category member is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberType {
    /// A friend (`wxid_…` or a custom id).
    User,
    /// A chat group (`…@chatroom`).
    GroupChat,
}

impl MemberType {
    /// `user` or `group_chat`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::GroupChat => "group_chat",
        }
    }

    fn parse(s: &str) -> Self {
        if s == "group_chat" { Self::GroupChat } else { Self::User }
    }
}

/// A member of a category.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Member {
    /// wxid or room id.
    pub id: String,
    /// `user` or `group_chat`.
    #[serde(rename = "type")]
    pub kind: MemberType,
}

/// The categories of one account.
#[derive(Clone, Copy, Debug)]
pub struct Categories<'a> {
    pub(super) store: &'a Store,
    pub(super) account: &'a str,
}

/// Invisible characters that make two names look the same (zero-width, bidi controls, …).
fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c as u32,
            0x00AD | 0x061C | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
            | 0xFEFF | 0xFFF9..=0xFFFB)
}

/// A category name as stored: trimmed, 1-64 characters, nothing invisible.
pub fn clean_name(name: &str, param: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::BadParam(format!("`{param}` must not be empty")));
    }
    if name.chars().count() > 64 {
        return Err(ApiError::BadParam(format!("`{param}` is longer than 64 characters")));
    }
    if let Some(c) = name.chars().find(|c| is_invisible(*c)) {
        return Err(ApiError::BadParam(format!(
            "`{param}` contains the invisible character U+{:04X}; use visible characters only",
            c as u32
        )));
    }
    Ok(name.to_owned())
}

fn not_found(id: &str) -> ApiError {
    ApiError::BadParam(format!("category (group_id) {id:?} not found; list them with get_groups"))
}

fn category(r: &Row) -> Result<Category, DbError> {
    Ok(Category { id: r.get(0)?, name: r.get(1)? })
}

fn exists(t: &mut Tx<'_>, account: &str, id: &str) -> Result<bool, DbError> {
    Ok(t.opt("SELECT 1 FROM categories WHERE id = ?1 AND account = ?2", args![id, account])?.is_some())
}

impl Categories<'_> {
    /// Creates a category; names are unique per account.
    pub async fn create(&self, name: &str) -> ApiResult<Category> {
        let name = clean_name(name, "group_name")?;
        let account = self.account.to_owned();
        self.store
            .write(move |t| {
                let id = uuid::Uuid::new_v4().to_string();
                match t.exec(
                    "INSERT INTO categories(id, account, name, created_at) VALUES (?1, ?2, ?3, ?4)",
                    args![id.as_str(), account, name.as_str(), now()],
                ) {
                    Ok(_) => Ok(Category { id, name }),
                    Err(e) if e.unique_violation => {
                        Err(ApiError::BadParam(format!("a category named {name:?} already exists")))
                    }
                    Err(e) => Err(e.into()),
                }
            })
            .await
    }

    /// The category called `name`, if any.
    pub async fn by_name(&self, name: &str) -> ApiResult<Option<Category>> {
        let name = clean_name(name, "group_name")?;
        let account = self.account.to_owned();
        self.store
            .read(move |t| {
                Ok(t.opt("SELECT id, name FROM categories WHERE account = ?1 AND name = ?2", args![account, name])?
                    .map(|r| category(&r))
                    .transpose()?)
            })
            .await
    }

    /// The category with id `id`, if any.
    pub async fn by_id(&self, id: &str) -> ApiResult<Option<Category>> {
        let (id, account) = (id.to_owned(), self.account.to_owned());
        self.store
            .read(move |t| {
                Ok(t.opt("SELECT id, name FROM categories WHERE id = ?1 AND account = ?2", args![id, account])?
                    .map(|r| category(&r))
                    .transpose()?)
            })
            .await
    }

    /// Every category, oldest first.
    pub async fn list(&self) -> ApiResult<Vec<Category>> {
        let account = self.account.to_owned();
        self.store
            .read(move |t| {
                let rows = t.query(
                    "SELECT id, name FROM categories WHERE account = ?1 ORDER BY created_at, rowid",
                    args![account],
                )?;
                Ok(rows.iter().map(category).collect::<Result<_, _>>()?)
            })
            .await
    }

    /// Deletes a category and its memberships.
    pub async fn delete(&self, id: &str) -> ApiResult<()> {
        let (id, account) = (id.to_owned(), self.account.to_owned());
        self.store
            .write(move |t| {
                let n = t.exec("DELETE FROM categories WHERE id = ?1 AND account = ?2", args![id.as_str(), account])?;
                if n == 0 { Err(not_found(&id)) } else { Ok(()) }
            })
            .await
    }

    /// Renames a category.
    pub async fn rename(&self, id: &str, new_name: &str) -> ApiResult<()> {
        let new_name = clean_name(new_name, "new_name")?;
        let (id, account) = (id.to_owned(), self.account.to_owned());
        self.store
            .write(move |t| {
                let current: Option<String> = match t
                    .opt("SELECT name FROM categories WHERE id = ?1 AND account = ?2", args![id.as_str(), account])?
                {
                    Some(r) => Some(r.get(0)?),
                    None => None,
                };
                match current {
                    None => Err(not_found(&id)),
                    Some(name) if name == new_name => Ok(()),
                    Some(_) => {
                        match t.exec("UPDATE categories SET name = ?2 WHERE id = ?1", args![id, new_name.as_str()]) {
                            Ok(_) => Ok(()),
                            Err(e) if e.unique_violation => {
                                Err(ApiError::BadParam(format!("a category named {new_name:?} already exists")))
                            }
                            Err(e) => Err(e.into()),
                        }
                    }
                }
            })
            .await
    }

    /// Adds a member.
    pub async fn add_member(&self, id: &str, member: &str, kind: MemberType) -> ApiResult<()> {
        let (id, member, account) = (id.to_owned(), member.to_owned(), self.account.to_owned());
        self.store
            .write(move |t| {
                if !exists(t, &account, &id)? {
                    return Err(not_found(&id));
                }
                let n = t.exec(
                    "INSERT INTO category_members(category_id, member_id, member_type, added_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT DO NOTHING",
                    args![id, member.as_str(), kind.as_str(), now()],
                )?;
                if n == 0 {
                    return Err(ApiError::BadParam(format!("{member} is already in this category")));
                }
                Ok(())
            })
            .await
    }

    /// Removes a member.
    pub async fn remove_member(&self, id: &str, member: &str) -> ApiResult<()> {
        let (id, member, account) = (id.to_owned(), member.to_owned(), self.account.to_owned());
        self.store
            .write(move |t| {
                if !exists(t, &account, &id)? {
                    return Err(not_found(&id));
                }
                let n = t.exec(
                    "DELETE FROM category_members WHERE category_id = ?1 AND member_id = ?2",
                    args![id, member.as_str()],
                )?;
                if n == 0 { Err(ApiError::BadParam(format!("{member} is not in this category"))) } else { Ok(()) }
            })
            .await
    }

    /// Members in the order they were added.
    pub async fn members(&self, id: &str) -> ApiResult<Vec<Member>> {
        let (id, account) = (id.to_owned(), self.account.to_owned());
        self.store
            .read(move |t| {
                if !exists(t, &account, &id)? {
                    return Err(not_found(&id));
                }
                let rows = t.query(
                    "SELECT member_id, member_type FROM category_members WHERE category_id = ?1 ORDER BY added_at, rowid",
                    args![id],
                )?;
                Ok(rows
                    .iter()
                    .map(|r| Ok(Member { id: r.get(0)?, kind: MemberType::parse(&r.get::<String>(1)?) }))
                    .collect::<Result<_, DbError>>()?)
            })
            .await
    }

    /// The categories `member` is in.
    pub async fn of_member(&self, member: &str) -> ApiResult<Vec<Category>> {
        let (member, account) = (member.to_owned(), self.account.to_owned());
        self.store
            .read(move |t| {
                let rows = t.query(
                    "SELECT c.id, c.name FROM categories c JOIN category_members m ON m.category_id = c.id
                     WHERE m.member_id = ?1 AND c.account = ?2 ORDER BY c.created_at, c.rowid",
                    args![member, account],
                )?;
                Ok(rows.iter().map(category).collect::<Result<_, _>>()?)
            })
            .await
    }

    /// Distinct members of several categories, in first-seen order (for broadcasts). Every id
    /// must exist.
    pub async fn distinct_members(&self, ids: &[String]) -> ApiResult<Vec<Member>> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for id in ids {
            for m in self.members(id).await? {
                if seen.insert(m.id.clone()) {
                    out.push(m);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_invisible_characters() {
        assert_eq!(clean_name("  VIP ", "n").unwrap(), "VIP");
        assert_eq!(clean_name("老客户", "n").unwrap(), "老客户");
        for bad in ["V\u{200B}IP", "a\u{0007}", "x\u{202E}y", "\u{FEFF}z", ""] {
            assert!(clean_name(bad, "n").is_err(), "{bad:?}");
        }
        assert!(clean_name("V\u{200B}IP", "group_name").unwrap_err().to_string().contains("U+200B"));
    }
}

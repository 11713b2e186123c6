//! Contact categories ("分组"): named sets of friends and chat groups of one account, stored
//! by this service (WeChat has no such thing). The API keeps the original names
//! (`create_group`, …); in code they are categories, so they are not confused with chat groups.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

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

fn name_taken(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

/// `Some(())` when category `id` exists in `account`.
fn exists(c: &rusqlite::Connection, account: &str, id: &str) -> rusqlite::Result<bool> {
    Ok(c.query_row("SELECT 1 FROM categories WHERE id = ?1 AND account = ?2", [id, account], |_| Ok(()))
        .optional()?
        .is_some())
}

impl Categories<'_> {
    /// Creates a category; the name must be free in this account.
    pub async fn create(&self, name: &str) -> ApiResult<Category> {
        let name = clean_name(name, "group_name")?;
        let account = self.account.to_owned();
        self.store
            .write(move |c| {
                let id = uuid::Uuid::new_v4().to_string();
                match c.execute(
                    "INSERT INTO categories(id, account, name, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![id, account, name, now()],
                ) {
                    Ok(_) => Ok(Category { id, name }),
                    Err(e) if name_taken(&e) => {
                        Err(ApiError::BadParam(format!("a category named {name:?} already exists")))
                    }
                    Err(e) => Err(e.into()),
                }
            })
            .await
    }

    /// The category with this exact name.
    pub async fn by_name(&self, name: &str) -> ApiResult<Option<Category>> {
        let name = clean_name(name, "group_name")?;
        let account = self.account.to_owned();
        self.store
            .read(move |c| {
                Ok(c.query_row(
                    "SELECT id, name FROM categories WHERE account = ?1 AND name = ?2",
                    [account, name],
                    |r| Ok(Category { id: r.get(0)?, name: r.get(1)? }),
                )
                .optional()?)
            })
            .await
    }

    /// The category with this id.
    pub async fn by_id(&self, id: &str) -> ApiResult<Option<Category>> {
        let (id, account) = (id.to_owned(), self.account.to_owned());
        self.store
            .read(move |c| {
                Ok(c.query_row("SELECT id, name FROM categories WHERE id = ?1 AND account = ?2", [id, account], |r| {
                    Ok(Category { id: r.get(0)?, name: r.get(1)? })
                })
                .optional()?)
            })
            .await
    }

    /// Every category, oldest first.
    pub async fn list(&self) -> ApiResult<Vec<Category>> {
        let account = self.account.to_owned();
        self.store
            .read(move |c| {
                let mut stmt =
                    c.prepare_cached("SELECT id, name FROM categories WHERE account = ?1 ORDER BY created_at, rowid")?;
                let rows = stmt.query_map([account], |r| Ok(Category { id: r.get(0)?, name: r.get(1)? }))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
    }

    /// Deletes a category and its memberships.
    pub async fn delete(&self, id: &str) -> ApiResult<()> {
        let (id, account) = (id.to_owned(), self.account.to_owned());
        self.store
            .write(move |c| {
                let n = c.execute("DELETE FROM categories WHERE id = ?1 AND account = ?2", [&id, &account])?;
                if n == 0 { Err(not_found(&id)) } else { Ok(()) }
            })
            .await
    }

    /// Renames; renaming to the current name is a no-op.
    pub async fn rename(&self, id: &str, new_name: &str) -> ApiResult<()> {
        let new_name = clean_name(new_name, "new_name")?;
        let (id, account) = (id.to_owned(), self.account.to_owned());
        self.store
            .write(move |c| {
                let current: Option<String> = c
                    .query_row("SELECT name FROM categories WHERE id = ?1 AND account = ?2", [&id, &account], |r| {
                        r.get(0)
                    })
                    .optional()?;
                match current {
                    None => Err(not_found(&id)),
                    Some(name) if name == new_name => Ok(()),
                    Some(_) => {
                        match c.execute("UPDATE categories SET name = ?2 WHERE id = ?1", params![id, new_name]) {
                            Ok(_) => Ok(()),
                            Err(e) if name_taken(&e) => {
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
            .write(move |c| {
                let tx = c.transaction()?;
                if !exists(&tx, &account, &id)? {
                    return Err(not_found(&id));
                }
                let n = tx.execute(
                    "INSERT OR IGNORE INTO category_members(category_id, member_id, member_type, added_at) VALUES (?1, ?2, ?3, ?4)",
                    params![id, member, kind.as_str(), now()],
                )?;
                if n == 0 {
                    return Err(ApiError::BadParam(format!("{member} is already in this category")));
                }
                tx.commit()?;
                Ok(())
            })
            .await
    }

    /// Removes a member.
    pub async fn remove_member(&self, id: &str, member: &str) -> ApiResult<()> {
        let (id, member, account) = (id.to_owned(), member.to_owned(), self.account.to_owned());
        self.store
            .write(move |c| {
                if !exists(c, &account, &id)? {
                    return Err(not_found(&id));
                }
                let n = c.execute(
                    "DELETE FROM category_members WHERE category_id = ?1 AND member_id = ?2",
                    params![id, member],
                )?;
                if n == 0 { Err(ApiError::BadParam(format!("{member} is not in this category"))) } else { Ok(()) }
            })
            .await
    }

    /// Members of one category, in the order they were added.
    pub async fn members(&self, id: &str) -> ApiResult<Vec<Member>> {
        let (id, account) = (id.to_owned(), self.account.to_owned());
        self.store
            .read(move |c| {
                if !exists(c, &account, &id)? {
                    return Err(not_found(&id));
                }
                let mut stmt = c.prepare_cached(
                    "SELECT member_id, member_type FROM category_members WHERE category_id = ?1 ORDER BY added_at, rowid",
                )?;
                let rows = stmt.query_map([&id], |r| {
                    Ok(Member { id: r.get(0)?, kind: MemberType::parse(&r.get::<_, String>(1)?) })
                })?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
    }

    /// Categories a member belongs to.
    pub async fn of_member(&self, member: &str) -> ApiResult<Vec<Category>> {
        let (member, account) = (member.to_owned(), self.account.to_owned());
        self.store
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT c.id, c.name FROM categories c JOIN category_members m ON m.category_id = c.id
                     WHERE m.member_id = ?1 AND c.account = ?2 ORDER BY c.created_at, c.rowid",
                )?;
                let rows = stmt.query_map([&member, &account], |r| Ok(Category { id: r.get(0)?, name: r.get(1)? }))?;
                Ok(rows.collect::<Result<_, _>>()?)
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

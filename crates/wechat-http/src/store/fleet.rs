//! The fleet's rows: nodes (each gateway's id and internal address, with a heartbeat) and
//! leases (`account` or `channel`, who holds it until when). Times come from the database's
//! clock, so the nodes' clocks need not agree.
//!
//! A lease is taken or renewed with one conditional upsert: it succeeds when nobody holds the
//! lease, when it expired, or when the caller already holds it. Of two nodes racing for an
//! expired lease exactly one wins (the row lock serialises them; the loser's condition no
//! longer holds).

use super::Store;
use super::sql::{Tx, args};
use crate::error::ApiResult;

/// A node of the fleet.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NodeRow {
    /// Its id (`fleet.node_id`).
    pub id: String,
    /// Where other nodes forward actions to (`fleet.node_address`).
    pub address: String,
    /// When it started, unix seconds.
    pub started_at: f64,
    /// Its last heartbeat, unix seconds (database clock).
    pub seen_at: f64,
}

/// A lease.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LeaseRow {
    /// `account` or `channel`.
    pub kind: String,
    /// The account's name, or the channel's name.
    pub name: String,
    /// The node holding it.
    pub holder: String,
    /// Until when, unix seconds (database clock).
    pub expires_at: f64,
    /// Since when the holder holds it.
    pub acquired_at: f64,
    /// What the holder reported with its last renewal (an account's link: `connected`, …).
    pub state: String,
}

/// Nodes and leases.
#[derive(Clone, Copy, Debug)]
pub struct FleetRows<'a> {
    pub(super) store: &'a Store,
}

/// The database's clock, unix seconds, as SQL.
fn clock(t: &Tx<'_>) -> &'static str {
    if t.pg() {
        "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"
    } else {
        "((julianday('now') - 2440587.5) * 86400.0)"
    }
}

impl FleetRows<'_> {
    /// The database's clock now.
    pub async fn clock(&self) -> ApiResult<f64> {
        self.store.read(|t| Ok(t.one(&format!("SELECT {}", clock(t)), &[])?.get(0)?)).await
    }

    /// Records that node `id` (reachable at `address`) is alive.
    pub async fn heartbeat(&self, id: &str, address: &str, started_at: f64) -> ApiResult<()> {
        let (id, address) = (id.to_owned(), address.to_owned());
        self.store
            .write(move |t| {
                let sql = format!(
                    "INSERT INTO nodes(id, address, started_at, seen_at) VALUES (?1, ?2, ?3, {now})
                     ON CONFLICT(id) DO UPDATE SET address = excluded.address, started_at = excluded.started_at,
                        seen_at = excluded.seen_at",
                    now = clock(t)
                );
                t.exec(&sql, args![id, address, started_at])?;
                Ok(())
            })
            .await
    }

    /// Takes or renews lease `kind`/`name` for `holder` for `seconds`, recording `state`;
    /// true when `holder` holds it afterwards.
    pub async fn claim(&self, kind: &str, name: &str, holder: &str, seconds: f64, state: &str) -> ApiResult<bool> {
        let (kind, name, holder, state) = (kind.to_owned(), name.to_owned(), holder.to_owned(), state.to_owned());
        self.store
            .write(move |t| {
                let sql = format!(
                    "INSERT INTO leases(kind, name, holder, expires_at, acquired_at, state) VALUES (?1, ?2, ?3, {now} + ?4, {now}, ?5)
                     ON CONFLICT(kind, name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,
                        state = excluded.state,
                        acquired_at = CASE WHEN leases.holder = excluded.holder AND leases.expires_at >= excluded.acquired_at
                                      THEN leases.acquired_at ELSE excluded.acquired_at END
                     WHERE leases.holder = excluded.holder OR leases.expires_at < excluded.acquired_at
                     RETURNING holder",
                    now = clock(t)
                );
                Ok(t.opt(&sql, args![kind, name, holder, seconds, state])?.is_some())
            })
            .await
    }

    /// Gives up a lease `holder` holds (at shutdown, or when it stops driving an account),
    /// so another node may take it at once.
    pub async fn release(&self, kind: &str, name: &str, holder: &str) -> ApiResult<()> {
        let (kind, name, holder) = (kind.to_owned(), name.to_owned(), holder.to_owned());
        self.store
            .write(move |t| {
                t.exec("DELETE FROM leases WHERE kind = ?1 AND name = ?2 AND holder = ?3", args![kind, name, holder])?;
                Ok(())
            })
            .await
    }

    /// The holder of an unexpired lease and its node's address.
    pub async fn holder(&self, kind: &str, name: &str) -> ApiResult<Option<(String, String)>> {
        let (kind, name) = (kind.to_owned(), name.to_owned());
        self.store
            .read(move |t| {
                let sql = format!(
                    "SELECT l.holder, COALESCE(n.address, '') FROM leases l LEFT JOIN nodes n ON n.id = l.holder
                     WHERE l.kind = ?1 AND l.name = ?2 AND l.expires_at >= {now}",
                    now = clock(t)
                );
                match t.opt(&sql, args![kind, name])? {
                    Some(r) => Ok(Some((r.get(0)?, r.get(1)?))),
                    None => Ok(None),
                }
            })
            .await
    }

    /// Every lease (expired ones too), by kind and name.
    pub async fn leases(&self) -> ApiResult<Vec<LeaseRow>> {
        self.store
            .read(|t| {
                let rows = t.query(
                    "SELECT kind, name, holder, expires_at, acquired_at, state FROM leases ORDER BY kind, name",
                    &[],
                )?;
                rows.iter()
                    .map(|r| {
                        Ok(LeaseRow {
                            kind: r.get(0)?,
                            name: r.get(1)?,
                            holder: r.get(2)?,
                            expires_at: r.get(3)?,
                            acquired_at: r.get(4)?,
                            state: r.get(5)?,
                        })
                    })
                    .collect()
            })
            .await
    }

    /// Every node that ever joined, by id.
    pub async fn nodes(&self) -> ApiResult<Vec<NodeRow>> {
        self.store
            .read(|t| {
                let rows = t.query("SELECT id, address, started_at, seen_at FROM nodes ORDER BY id", &[])?;
                rows.iter()
                    .map(|r| {
                        Ok(NodeRow { id: r.get(0)?, address: r.get(1)?, started_at: r.get(2)?, seen_at: r.get(3)? })
                    })
                    .collect()
            })
            .await
    }
}

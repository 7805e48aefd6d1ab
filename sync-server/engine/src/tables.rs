//! The server's own tables behind one interface, [`ServerTables`]: halls,
//! kiosks and their tokens, admins with their API tokens, passwords,
//! granted halls and console sessions, the audit log, which hall and
//! kiosk own each document, and the server's settings.
//!
//! Two stores implement it: the SQLite file of a street office's single
//! server ([`crate::db::Db`], below) and PostgreSQL for several instances
//! on one database (`linli-store-postgres`). Both answer every call the
//! same way; one contract, run against both by their tests
//! (`linli_test_kit::tables`), says how. Every method is async: the
//! SQLite store runs its statement on a blocking thread, the PostgreSQL
//! store awaits the network; neither blocks an async worker.

use async_trait::async_trait;
use linli_core::points_rules::PointsRule;

use crate::{
    Result,
    db::{AuditEntry, AuditFilter, Claim, Db, DocOwner, Hall, Kiosk, NewDoc, SessionRow},
};

/// The server's own tables. See the module docs.
#[async_trait]
pub trait ServerTables: Send + Sync {
    /// Let go of the store's connections once the server has stopped (a
    /// pool's, on PostgreSQL), so a process that opened a server and stopped
    /// it holds none; nothing to do for the SQLite file.
    fn close_connections(&self) {}

    /// A server setting.
    async fn meta(&self, key: &str) -> Result<Option<String>>;
    /// Set a server setting (replacing it).
    async fn set_meta(&self, key: &str, value: &str) -> Result<()>;
    /// Set a server setting if it is not set yet; the value in force.
    async fn meta_or_insert(&self, key: &str, value: &str) -> Result<String>;

    /// Add a hall and record its calendar and directory documents;
    /// [`crate::Error::Conflict`] if the id is taken.
    async fn insert_hall(&self, hall: &Hall, now_ms: i64) -> Result<()>;
    /// Every hall, by id.
    async fn halls(&self) -> Result<Vec<Hall>>;
    /// One hall.
    async fn hall(&self, id: &str) -> Result<Option<Hall>>;

    /// Add a kiosk with its token's hash, as `{hall}-k{n}` (the first free
    /// `n` from the hall's kiosk count + 1).
    async fn insert_kiosk(
        &self,
        hall_id: &str,
        name: &str,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<Kiosk>;
    /// The kiosk holding a token (by its hash), revoked or not.
    async fn kiosk_by_token_hash(&self, token_hash: &str) -> Result<Option<Kiosk>>;
    /// One kiosk.
    async fn kiosk(&self, id: &str) -> Result<Option<Kiosk>>;
    /// Every kiosk, by hall and id.
    async fn kiosks(&self) -> Result<Vec<Kiosk>>;
    /// Revoke a kiosk; false if it was revoked already,
    /// [`crate::Error::NotFound`] if there is none.
    async fn revoke_kiosk(&self, id: &str, now_ms: i64) -> Result<bool>;
    /// Ids of revoked kiosks.
    async fn revoked_kiosks(&self) -> Result<Vec<String>>;
    /// Note that a kiosk was seen now, with its app version if it said.
    async fn touch_kiosk(&self, id: &str, now_ms: i64, app_version: Option<&str>) -> Result<()>;

    /// Add an admin; [`crate::Error::Conflict`] if the name is taken.
    async fn insert_admin(&self, user: &str, role: &str, now_ms: i64) -> Result<()>;
    /// Store an admin API token's hash; [`crate::Error::NotFound`] for no
    /// such admin.
    async fn insert_admin_token(&self, user: &str, token_hash: &str, now_ms: i64) -> Result<()>;
    /// The admin (user, role) holding a live API token.
    async fn admin_by_token_hash(&self, token_hash: &str) -> Result<Option<(String, String)>>;
    /// Set an admin's password hash; [`crate::Error::NotFound`] for no
    /// such admin.
    async fn set_admin_password(&self, user: &str, password_hash: &str) -> Result<()>;
    /// An admin's role and password hash.
    async fn admin_login(&self, user: &str) -> Result<Option<(String, Option<String>)>>;
    /// Give an admin access to a hall (again is no change).
    async fn grant_hall(&self, user: &str, hall_id: &str) -> Result<()>;
    /// Take a hall from an admin; false if they did not have it.
    async fn ungrant_hall(&self, user: &str, hall_id: &str) -> Result<bool>;
    /// Remove an admin, together with their API tokens, console sessions
    /// and hall grants (the audit log keeps their name).
    /// [`crate::Error::NotFound`] for no such admin;
    /// [`crate::Error::Conflict`] for the last central admin (no one could
    /// manage the server any more), changing nothing.
    async fn remove_admin(&self, user: &str) -> Result<RemovedAdmin>;
    /// Revoke live admin API tokens (`which`); how many.
    async fn revoke_admin_tokens(&self, which: AdminTokens<'_>, now_ms: i64) -> Result<usize>;
    /// The halls an admin may see (every hall, for central admins).
    async fn admin_halls(&self, user: &str, role: &str) -> Result<Vec<String>>;

    /// Start a console session (by its cookie's hash), dropping sessions
    /// that have expired.
    async fn insert_session(
        &self,
        id_hash: &str,
        user: &str,
        csrf: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<()>;
    /// End a session.
    async fn delete_session(&self, id_hash: &str) -> Result<()>;
    /// The live session with this hash.
    async fn session(&self, id_hash: &str, now_ms: i64) -> Result<Option<SessionRow>>;
    /// Set `user`'s password hash and end their sessions but the one
    /// hashed `keep`, together; how many ended.
    /// [`crate::Error::NotFound`] for no such admin.
    async fn change_password(
        &self,
        user: &str,
        password_hash: &str,
        keep: Option<&str>,
    ) -> Result<usize>;

    /// Record an admin action.
    async fn audit(
        &self,
        user: &str,
        action: &str,
        target: &str,
        before: Option<&str>,
        after: Option<&str>,
        now_ms: i64,
    ) -> Result<()>;

    /// A page of at most `limit` audit entries matching `filter`, newest
    /// first, older than entry `before_id` if given.
    async fn audit_page(
        &self,
        filter: &AuditFilter,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>>;

    /// A hall's points catalogue (爱心超市): (item, points), cheapest first.
    async fn points_catalogue(&self, hall_id: &str) -> Result<Vec<(String, i64)>>;
    /// Add an item to a hall's catalogue, or change its points.
    async fn set_catalogue_item(&self, hall_id: &str, item: &str, points: i64) -> Result<()>;
    /// A hall's catalogue stock: (item, how many the hall has to hand
    /// over), by item.
    async fn catalogue_stock(&self, hall_id: &str) -> Result<Vec<(String, i64)>>;
    /// Set an item's stock; false when the hall's catalogue lacks it.
    async fn set_catalogue_stock(&self, hall_id: &str, item: &str, stock: i64) -> Result<bool>;

    /// A hall's points rules (`linli_core::points_rules`): every version,
    /// oldest first; none while the default is in force.
    async fn points_rules(&self, hall_id: &str) -> Result<Vec<PointsRule>>;
    /// Add a version of a hall's points rules; false when a version
    /// already starts at that moment (nothing changed).
    async fn add_points_rule(&self, hall_id: &str, rule: &PointsRule) -> Result<bool>;

    /// Who owns a document, if anyone yet.
    async fn doc_owner(&self, doc_id: &str) -> Result<Option<DocOwner>>;
    /// Give an unknown document to the kiosk that first delivered it; the
    /// owner in force (an earlier claim wins).
    async fn claim_doc(
        &self,
        doc_id: &str,
        hall_id: &str,
        kiosk_id: &str,
        now_ms: i64,
    ) -> Result<DocOwner>;
    /// Claim each document for its kiosk's hall unless owned already or
    /// its kiosk has claimed `max_per_day` in the day before `now_ms`;
    /// one answer per document, in order (see [`Db::claim_docs`]).
    async fn claim_docs(
        &self,
        docs: &[NewDoc],
        max_per_day: i64,
        now_ms: i64,
    ) -> Vec<Result<Claim>>;
    /// Documents a kiosk claimed since `since_ms`.
    async fn docs_claimed_since(&self, kiosk_id: &str, since_ms: i64) -> Result<i64>;
    /// Retire documents: never loaded, stored or shared again.
    async fn retire_documents(&self, doc_ids: &[String], now_ms: i64) -> Result<()>;
    /// Give `new_doc`, rebuilt from retired `old_doc`, to the old one's
    /// kiosk of `hall_id`, and point whatever named the old one at it.
    async fn replace_document(
        &self,
        old_doc: &str,
        new_doc: &str,
        hall_id: &str,
        kiosk_id: &str,
        now_ms: i64,
    ) -> Result<()>;
    /// Every kiosk-delivered document still in use (not retired), by id.
    async fn kiosk_documents(&self) -> Result<Vec<String>>;
    /// Record a document the server made for a hall (its `kind`, no
    /// kiosk); an id recorded already is left as it is.
    async fn insert_hall_doc(
        &self,
        doc_id: &str,
        hall_id: &str,
        kind: &str,
        now_ms: i64,
    ) -> Result<()>;
    /// The hall's document of `kind` the server made first (and has not
    /// retired), if any.
    async fn hall_doc(&self, hall_id: &str, kind: &str) -> Result<Option<String>>;
}

/// What removing an admin took with them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RemovedAdmin {
    /// API tokens (live or revoked) deleted.
    pub tokens: usize,
    /// Console sessions ended.
    pub sessions: usize,
    /// Hall grants dropped.
    pub halls: usize,
}

/// Which admin API tokens to revoke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminTokens<'a> {
    /// The one with this hash.
    Hashed(&'a str),
    /// Every live one of this admin.
    Of(&'a str),
}

/// Run `f` on the SQLite store off the async workers, with owned copies
/// of what it needs.
macro_rules! blocking {
    ($db:expr, |$d:ident| $body:expr, $($own:ident),*) => {{
        $(let $own = $own.to_owned();)*
        $db.call(move |$d| $body).await
    }};
}

#[async_trait]
impl ServerTables for Db {
    async fn meta(&self, key: &str) -> Result<Option<String>> {
        blocking!(self, |db| db.meta(&key), key)
    }
    async fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        blocking!(self, |db| db.set_meta(&key, &value), key, value)
    }
    async fn meta_or_insert(&self, key: &str, value: &str) -> Result<String> {
        blocking!(self, |db| db.meta_or_insert(&key, &value), key, value)
    }
    async fn insert_hall(&self, hall: &Hall, now_ms: i64) -> Result<()> {
        let hall = hall.clone();
        self.call(move |db| db.insert_hall(&hall, now_ms)).await
    }
    async fn halls(&self) -> Result<Vec<Hall>> {
        self.call(|db| db.halls()).await
    }
    async fn hall(&self, id: &str) -> Result<Option<Hall>> {
        blocking!(self, |db| db.hall(&id), id)
    }
    async fn insert_kiosk(
        &self,
        hall_id: &str,
        name: &str,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<Kiosk> {
        blocking!(
            self,
            |db| db.insert_kiosk(&hall_id, &name, &token_hash, now_ms),
            hall_id,
            name,
            token_hash
        )
    }
    async fn kiosk_by_token_hash(&self, token_hash: &str) -> Result<Option<Kiosk>> {
        blocking!(self, |db| db.kiosk_by_token_hash(&token_hash), token_hash)
    }
    async fn kiosk(&self, id: &str) -> Result<Option<Kiosk>> {
        blocking!(self, |db| db.kiosk(&id), id)
    }
    async fn kiosks(&self) -> Result<Vec<Kiosk>> {
        self.call(|db| db.kiosks()).await
    }
    async fn revoke_kiosk(&self, id: &str, now_ms: i64) -> Result<bool> {
        blocking!(self, |db| db.revoke_kiosk(&id, now_ms), id)
    }
    async fn revoked_kiosks(&self) -> Result<Vec<String>> {
        self.call(|db| db.revoked_kiosks()).await
    }
    async fn touch_kiosk(&self, id: &str, now_ms: i64, app_version: Option<&str>) -> Result<()> {
        let (id, version) = (id.to_owned(), app_version.map(str::to_owned));
        self.call(move |db| db.touch_kiosk(&id, now_ms, version.as_deref()))
            .await
    }
    async fn insert_admin(&self, user: &str, role: &str, now_ms: i64) -> Result<()> {
        blocking!(self, |db| db.insert_admin(&user, &role, now_ms), user, role)
    }
    async fn insert_admin_token(&self, user: &str, token_hash: &str, now_ms: i64) -> Result<()> {
        blocking!(
            self,
            |db| db.insert_admin_token(&user, &token_hash, now_ms),
            user,
            token_hash
        )
    }
    async fn admin_by_token_hash(&self, token_hash: &str) -> Result<Option<(String, String)>> {
        blocking!(self, |db| db.admin_by_token_hash(&token_hash), token_hash)
    }
    async fn set_admin_password(&self, user: &str, password_hash: &str) -> Result<()> {
        blocking!(
            self,
            |db| db.set_admin_password(&user, &password_hash),
            user,
            password_hash
        )
    }
    async fn admin_login(&self, user: &str) -> Result<Option<(String, Option<String>)>> {
        blocking!(self, |db| db.admin_login(&user), user)
    }
    async fn grant_hall(&self, user: &str, hall_id: &str) -> Result<()> {
        blocking!(self, |db| db.grant_hall(&user, &hall_id), user, hall_id)
    }
    async fn admin_halls(&self, user: &str, role: &str) -> Result<Vec<String>> {
        blocking!(self, |db| db.admin_halls(&user, &role), user, role)
    }
    async fn ungrant_hall(&self, user: &str, hall_id: &str) -> Result<bool> {
        blocking!(self, |db| db.ungrant_hall(&user, &hall_id), user, hall_id)
    }
    async fn remove_admin(&self, user: &str) -> Result<RemovedAdmin> {
        blocking!(self, |db| db.remove_admin(&user), user)
    }
    async fn revoke_admin_tokens(&self, which: AdminTokens<'_>, now_ms: i64) -> Result<usize> {
        let (hashed, of) = match which {
            AdminTokens::Hashed(h) => (Some(h.to_string()), None),
            AdminTokens::Of(u) => (None, Some(u.to_string())),
        };
        self.call(move |db| db.revoke_admin_tokens(hashed.as_deref(), of.as_deref(), now_ms))
            .await
    }
    async fn insert_session(
        &self,
        id_hash: &str,
        user: &str,
        csrf: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<()> {
        blocking!(
            self,
            |db| db.insert_session(&id_hash, &user, &csrf, now_ms, expires_ms),
            id_hash,
            user,
            csrf
        )
    }
    async fn delete_session(&self, id_hash: &str) -> Result<()> {
        blocking!(self, |db| db.delete_session(&id_hash), id_hash)
    }
    async fn session(&self, id_hash: &str, now_ms: i64) -> Result<Option<SessionRow>> {
        blocking!(self, |db| db.session(&id_hash, now_ms), id_hash)
    }
    async fn change_password(
        &self,
        user: &str,
        password_hash: &str,
        keep: Option<&str>,
    ) -> Result<usize> {
        let (user, hash, keep) = (
            user.to_owned(),
            password_hash.to_owned(),
            keep.map(str::to_owned),
        );
        self.call(move |db| db.change_password(&user, &hash, keep.as_deref()))
            .await
    }
    async fn audit(
        &self,
        user: &str,
        action: &str,
        target: &str,
        before: Option<&str>,
        after: Option<&str>,
        now_ms: i64,
    ) -> Result<()> {
        let (before, after) = (before.map(str::to_owned), after.map(str::to_owned));
        blocking!(
            self,
            |db| db.audit(
                &user,
                &action,
                &target,
                before.as_deref(),
                after.as_deref(),
                now_ms
            ),
            user,
            action,
            target
        )
    }
    async fn audit_page(
        &self,
        filter: &AuditFilter,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        let filter = filter.clone();
        self.call(move |db| db.audit_page(&filter, before_id, limit))
            .await
    }
    async fn points_catalogue(&self, hall_id: &str) -> Result<Vec<(String, i64)>> {
        blocking!(self, |db| db.points_catalogue(&hall_id), hall_id)
    }
    async fn set_catalogue_item(&self, hall_id: &str, item: &str, points: i64) -> Result<()> {
        blocking!(
            self,
            |db| db.set_catalogue_item(&hall_id, &item, points),
            hall_id,
            item
        )
    }
    async fn catalogue_stock(&self, hall_id: &str) -> Result<Vec<(String, i64)>> {
        blocking!(self, |db| db.catalogue_stock(&hall_id), hall_id)
    }
    async fn set_catalogue_stock(&self, hall_id: &str, item: &str, stock: i64) -> Result<bool> {
        blocking!(
            self,
            |db| db.set_catalogue_stock(&hall_id, &item, stock),
            hall_id,
            item
        )
    }
    async fn points_rules(&self, hall_id: &str) -> Result<Vec<PointsRule>> {
        blocking!(self, |db| db.points_rules(&hall_id), hall_id)
    }
    async fn add_points_rule(&self, hall_id: &str, rule: &PointsRule) -> Result<bool> {
        let rule = rule.clone();
        blocking!(self, |db| db.add_points_rule(&hall_id, &rule), hall_id)
    }
    async fn doc_owner(&self, doc_id: &str) -> Result<Option<DocOwner>> {
        blocking!(self, |db| db.doc_owner(&doc_id), doc_id)
    }
    async fn claim_doc(
        &self,
        doc_id: &str,
        hall_id: &str,
        kiosk_id: &str,
        now_ms: i64,
    ) -> Result<DocOwner> {
        blocking!(
            self,
            |db| db.claim_doc(&doc_id, &hall_id, &kiosk_id, now_ms),
            doc_id,
            hall_id,
            kiosk_id
        )
    }
    async fn claim_docs(
        &self,
        docs: &[NewDoc],
        max_per_day: i64,
        now_ms: i64,
    ) -> Vec<Result<Claim>> {
        let (n, docs) = (docs.len(), docs.to_vec());
        match self
            .call(move |db| Ok(db.claim_docs(&docs, max_per_day, now_ms)))
            .await
        {
            Ok(claims) => claims,
            Err(e) => {
                let e = e.to_string();
                (0..n)
                    .map(|_| {
                        Err(crate::Error::Io {
                            context: "claiming documents".into(),
                            source: std::io::Error::other(e.clone()),
                        })
                    })
                    .collect()
            }
        }
    }
    async fn docs_claimed_since(&self, kiosk_id: &str, since_ms: i64) -> Result<i64> {
        blocking!(
            self,
            |db| db.docs_claimed_since(&kiosk_id, since_ms),
            kiosk_id
        )
    }
    async fn retire_documents(&self, doc_ids: &[String], now_ms: i64) -> Result<()> {
        let docs = doc_ids.to_vec();
        self.call(move |db| db.retire_documents(&docs, now_ms))
            .await
    }
    async fn replace_document(
        &self,
        old_doc: &str,
        new_doc: &str,
        hall_id: &str,
        kiosk_id: &str,
        now_ms: i64,
    ) -> Result<()> {
        blocking!(
            self,
            |db| db.replace_document(&old_doc, &new_doc, &hall_id, &kiosk_id, now_ms),
            old_doc,
            new_doc,
            hall_id,
            kiosk_id
        )
    }
    async fn kiosk_documents(&self) -> Result<Vec<String>> {
        self.call(|db| db.kiosk_documents()).await
    }
    async fn insert_hall_doc(
        &self,
        doc_id: &str,
        hall_id: &str,
        kind: &str,
        now_ms: i64,
    ) -> Result<()> {
        blocking!(
            self,
            |db| db.insert_hall_doc(&doc_id, &hall_id, &kind, now_ms),
            doc_id,
            hall_id,
            kind
        )
    }
    async fn hall_doc(&self, hall_id: &str, kind: &str) -> Result<Option<String>> {
        blocking!(self, |db| db.hall_doc(&hall_id, &kind), hall_id, kind)
    }
}

//! Where login sessions live: the database (embedded mode), or Redis when it is configured, so
//! every replica sees a session at once and expired ones vanish by themselves.
//!
//! Keys in Redis: `suyuan:session:{sha256 of the token}` → the session as JSON, expiring when
//! the session would go idle (refreshed on use, never past its absolute end);
//! `suyuan:user_sessions:{user id}` → the set of that user's session ids, to end them all.

use chrono::{DateTime, Utc};
use redis::AsyncCommands as _;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::entity::session;
use crate::error::{ApiError, ApiResult};
use crate::kv::Redis;

/// The session store chosen at start.
#[derive(Clone)]
pub enum SessionStore {
    /// The `sessions` table.
    Database,
    /// Redis.
    Redis(Redis),
}

fn session_key(id: &str) -> String {
    format!("suyuan:session:{id}")
}

fn user_key(user: Uuid) -> String {
    format!("suyuan:user_sessions:{user}")
}

fn redis_error(e: &redis::RedisError) -> ApiError {
    ApiError::unavailable(format!("会话存储不可用: {e}"))
}

/// How long an ended session stays readable, so the user is told "登录已超时" rather than
/// "请先登录" when they come back shortly after.
const EXPIRED_GRACE_SECS: u64 = 300;

/// Seconds until the session vanishes from Redis: when it goes idle or reaches its end, plus
/// the grace period. `authenticate` decides about idleness and the end itself.
fn ttl_secs(s: &session::Model, idle_secs: u64, now: DateTime<Utc>) -> u64 {
    let to_end = u64::try_from((s.expires_at - now).num_seconds()).unwrap_or(0);
    idle_secs.min(to_end) + EXPIRED_GRACE_SECS
}

impl SessionStore {
    /// Redis when configured, else the database.
    #[must_use]
    pub fn new(redis: Option<Redis>) -> Self {
        redis.map_or(Self::Database, Self::Redis)
    }

    /// Stores a new session (`db` is the login's transaction in database mode).
    ///
    /// # Errors
    /// Database failures; 503 when Redis does not answer.
    pub async fn save<C: ConnectionTrait>(&self, db: &C, s: &session::Model, idle_secs: u64) -> ApiResult<()> {
        match self {
            Self::Database => {
                session::ActiveModel::from(s.clone()).insert(db).await?;
            }
            Self::Redis(redis) => {
                let mut conn = redis.connection();
                let json = serde_json::to_string(s).map_err(ApiError::internal)?;
                let lifetime = u64::try_from((s.expires_at - s.created_at).num_seconds()).unwrap_or(1).max(1);
                redis::pipe()
                    .set_ex(session_key(&s.id), json, ttl_secs(s, idle_secs, Utc::now()))
                    .sadd(user_key(s.user_id), &s.id)
                    .expire(user_key(s.user_id), i64::try_from(lifetime).unwrap_or(i64::MAX))
                    .query_async::<()>(&mut conn)
                    .await
                    .map_err(|e| redis_error(&e))?;
            }
        }
        Ok(())
    }

    /// A session that is not revoked (it may still be past its idle or absolute end; the
    /// caller checks).
    ///
    /// # Errors
    /// Database failures; 503 when Redis does not answer.
    pub async fn find<C: ConnectionTrait>(&self, db: &C, id: &str) -> ApiResult<Option<session::Model>> {
        match self {
            Self::Database => {
                Ok(session::Entity::find_by_id(id.to_owned()).one(db).await?.filter(|s| s.revoked_at.is_none()))
            }
            Self::Redis(redis) => {
                let mut conn = redis.connection();
                let json: Option<String> = conn.get(session_key(id)).await.map_err(|e| redis_error(&e))?;
                Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
            }
        }
    }

    /// Records activity now (and the tenant the session acts in, which a switch changes).
    ///
    /// # Errors
    /// Database failures; 503 when Redis does not answer.
    pub async fn touch<C: ConnectionTrait>(&self, db: &C, s: &session::Model, idle_secs: u64) -> ApiResult<()> {
        match self {
            Self::Database => {
                session::Entity::update_many()
                    .col_expr(session::Column::LastSeenAt, Expr::value(s.last_seen_at))
                    .col_expr(session::Column::TenantId, Expr::value(s.tenant_id))
                    .filter(session::Column::Id.eq(s.id.clone()))
                    .exec(db)
                    .await?;
            }
            Self::Redis(redis) => {
                let mut conn = redis.connection();
                let json = serde_json::to_string(s).map_err(ApiError::internal)?;
                // XX: only while it still exists, so a session ended meanwhile stays ended.
                redis::cmd("SET")
                    .arg(session_key(&s.id))
                    .arg(json)
                    .arg("EX")
                    .arg(ttl_secs(s, idle_secs, Utc::now()))
                    .arg("XX")
                    .query_async::<Option<String>>(&mut conn)
                    .await
                    .map_err(|e| redis_error(&e))?;
            }
        }
        Ok(())
    }

    /// Ends one session.
    ///
    /// # Errors
    /// Database failures; 503 when Redis does not answer.
    pub async fn revoke<C: ConnectionTrait>(&self, db: &C, s: &session::Model) -> ApiResult<()> {
        match self {
            Self::Database => {
                session::Entity::update_many()
                    .col_expr(session::Column::RevokedAt, Expr::value(Utc::now()))
                    .filter(session::Column::Id.eq(s.id.clone()))
                    .exec(db)
                    .await?;
            }
            Self::Redis(redis) => {
                let mut conn = redis.connection();
                redis::pipe()
                    .del(session_key(&s.id))
                    .srem(user_key(s.user_id), &s.id)
                    .query_async::<()>(&mut conn)
                    .await
                    .map_err(|e| redis_error(&e))?;
            }
        }
        Ok(())
    }

    /// Ends every session of a user, except `keep`.
    ///
    /// # Errors
    /// Database failures; 503 when Redis does not answer.
    pub async fn revoke_user<C: ConnectionTrait>(&self, db: &C, user_id: Uuid, keep: Option<&str>) -> ApiResult<()> {
        match self {
            Self::Database => {
                let mut q = session::Entity::update_many()
                    .col_expr(session::Column::RevokedAt, Expr::value(Utc::now()))
                    .filter(session::Column::UserId.eq(user_id))
                    .filter(session::Column::RevokedAt.is_null());
                if let Some(keep) = keep {
                    q = q.filter(session::Column::Id.ne(keep.to_owned()));
                }
                q.exec(db).await?;
            }
            Self::Redis(redis) => {
                let mut conn = redis.connection();
                let ids: Vec<String> = conn.smembers(user_key(user_id)).await.map_err(|e| redis_error(&e))?;
                let ended: Vec<&String> = ids.iter().filter(|id| Some(id.as_str()) != keep).collect();
                if !ended.is_empty() {
                    let mut pipe = redis::pipe();
                    for id in ended {
                        pipe.del(session_key(id)).srem(user_key(user_id), id);
                    }
                    pipe.query_async::<()>(&mut conn).await.map_err(|e| redis_error(&e))?;
                }
            }
        }
        Ok(())
    }
}
